"""Camera, rasteriser and per-frame ground truth for simulated scenes.

Camera. At frame 0 every camera shows the standard view: world x in [0, WORLD_WIDTH] and
y in [0, world_height] (world_height = WORLD_WIDTH * H / W), so the floor surface FLOOR_Y sits
a little above the bottom edge. `camera_at` gives the world point at the frame centre and a
zoom factor; pixels per world unit are W / WORLD_WIDTH * zoom. Pans move the camera at
`speed` units/s (pan_left: the camera moves left, so the world slides right); zooms scale by
exp(+-speed * t) about the frame centre.

Pixels. Continuous pixel coordinates have x right and y down, with (0, 0) the top-left corner
of the image, so pixel (row j, column i) has its centre at (i + 0.5, j + 0.5).

Drawing order (later on top): background (flat colour; grid lines fixed in the world, so
pans and zooms are visible; or a vertical gradient fixed to the screen), the ground strip
below FLOOR_Y (only when spec.floor), the walls as solid GROUND_COLOUR beyond x = 0 and
x = WORLD_WIDTH (only when spec.walls; out of view at frame 0, seen when the camera pans or
zooms out), obstacles as capsules in OBSTACLE_COLOUR, then objects in spec order. Every shape
is an exact signed-distance coverage with a 1-px linear ramp at its edge, so a pixel whose
centre lies more than half a pixel inside an object is exactly its PALETTE colour. Balls are
uniform disks (no rotation marker); polygons rotate with the body's angle.
"""

from __future__ import annotations

import math

import numpy as np

from .sim import EVENT_KINDS, Event, Trajectory, polygon_vertices, simulate
from .spec import (
    BACKGROUNDS,
    FLOOR_Y,
    GROUND_COLOUR,
    OBSTACLE_COLOUR,
    PALETTE,
    WORLD_WIDTH,
    ObjectSpec,
    SceneSpec,
)

_CIRCLE_SEGMENTS = 64  # polygon standing in for a ball when clipping it to the frame
_GRID_LINE_PX = 1.0  # grid line width in pixels at any zoom


# ---------------------------------------------------------------------------- camera


def camera_at(spec: SceneSpec, frame: float) -> tuple[float, float, float]:
    """(cx, cy, zoom): world point (units) at the frame centre and zoom factor at `frame`."""
    t = frame / spec.fps
    cx, cy, zoom = WORLD_WIDTH / 2, spec.world_height / 2, 1.0
    kind, v = spec.camera.kind, spec.camera.speed
    if kind == "pan_left":
        cx -= v * t
    elif kind == "pan_right":
        cx += v * t
    elif kind == "zoom_in":
        zoom = math.exp(v * t)
    elif kind == "zoom_out":
        zoom = math.exp(-v * t)
    return cx, cy, zoom


def _camera_rates(spec: SceneSpec, frame: float) -> tuple[float, float, float]:
    """Time derivatives (dcx/dt units/s, dcy/dt units/s, dscale/dt px/unit/s) at `frame`."""
    _, _, zoom = camera_at(spec, frame)
    scale = spec.pixels_per_unit * zoom
    kind, v = spec.camera.kind, spec.camera.speed
    return ({"pan_left": -v, "pan_right": v}.get(kind, 0.0), 0.0,
            {"zoom_in": v * scale, "zoom_out": -v * scale}.get(kind, 0.0))


def pixels_per_unit_at(spec: SceneSpec, frame: float) -> float:
    """Pixels per world unit at `frame` (spec.pixels_per_unit times the zoom)."""
    return spec.pixels_per_unit * camera_at(spec, frame)[2]


def world_to_pixel(spec: SceneSpec, frame: float, xy) -> np.ndarray:
    """World points (..., 2) (units, y up) -> float pixel coordinates (..., 2) (x right, y down)."""
    xy = np.asarray(xy, dtype=np.float64)
    cx, cy, zoom = camera_at(spec, frame)
    s = spec.pixels_per_unit * zoom
    px = spec.width / 2 + (xy[..., 0] - cx) * s
    py = spec.height / 2 - (xy[..., 1] - cy) * s
    return np.stack([px, py], axis=-1)


def pixel_to_world(spec: SceneSpec, frame: float, pxy) -> np.ndarray:
    """Inverse of world_to_pixel: pixel coordinates (..., 2) -> world points (..., 2)."""
    pxy = np.asarray(pxy, dtype=np.float64)
    cx, cy, zoom = camera_at(spec, frame)
    s = spec.pixels_per_unit * zoom
    x = cx + (pxy[..., 0] - spec.width / 2) / s
    y = cy - (pxy[..., 1] - spec.height / 2) / s
    return np.stack([x, y], axis=-1)


# ---------------------------------------------------------------------------- geometry


def object_outline(obj: ObjectSpec, position, angle: float) -> np.ndarray:
    """World-space outline (K, 2) of an object: polygon vertices, or a 64-gon for a ball."""
    verts = polygon_vertices(obj)
    if verts is None:
        a = np.linspace(0, 2 * np.pi, _CIRCLE_SEGMENTS, endpoint=False)
        local = obj.r * np.stack([np.cos(a), np.sin(a)], axis=-1)
    else:
        local = np.asarray(verts)
        c, s = math.cos(angle), math.sin(angle)
        local = local @ np.array([[c, s], [-s, c]])  # rotate counter-clockwise by angle
    return local + np.asarray(position, dtype=np.float64)


def _clip_to_rect(poly: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a convex polygon (K, 2) to [0, width] x [0, height]."""
    pts = [tuple(p) for p in poly]
    for axis, bound, keep_below in ((0, 0.0, False), (0, width, True), (1, 0.0, False), (1, height, True)):
        if not pts:
            break
        inside = (lambda p: p[axis] <= bound) if keep_below else (lambda p: p[axis] >= bound)
        out = []
        for k, cur in enumerate(pts):
            prev = pts[k - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(_intersect(prev, cur, axis, bound))
                out.append(cur)
            elif inside(prev):
                out.append(_intersect(prev, cur, axis, bound))
        pts = out
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def _intersect(p, q, axis, bound):
    t = (bound - p[axis]) / (q[axis] - p[axis])
    return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))


def _area(poly: np.ndarray) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


# ---------------------------------------------------------------------------- drawing


def _blend(img: np.ndarray, cov: np.ndarray, colour, y0: int, x0: int) -> None:
    """img[y0:, x0:] = img * (1 - cov) + colour * cov over cov's extent; cov == 1 gives colour exactly."""
    h, w = cov.shape
    region = img[y0:y0 + h, x0:x0 + w]
    a = cov[..., None]
    region *= 1.0 - a
    region += a * np.asarray(colour, dtype=np.float32)


def _blend_lines(img: np.ndarray, cov: np.ndarray, colour, *, axis: int) -> None:
    """Blend whole rows (axis=0, cov (H,)) or columns (axis=1, cov (W,)) where cov > 0."""
    idx = np.flatnonzero(cov)
    if len(idx) == 0:
        return
    a = cov[idx].astype(np.float32)
    col = np.asarray(colour, dtype=np.float32)
    if axis == 0:
        img[idx] = img[idx] * (1.0 - a)[:, None, None] + col * a[:, None, None]
    else:
        img[:, idx] = img[:, idx] * (1.0 - a)[None, :, None] + col * a[None, :, None]


def _box(spec: SceneSpec, lo, hi) -> tuple[int, int, int, int] | None:
    """Integer pixel window [x0, x1) x [y0, y1) covering the float box lo..hi plus a 1-px ramp."""
    x0 = max(int(math.floor(lo[0] - 1)), 0)
    y0 = max(int(math.floor(lo[1] - 1)), 0)
    x1 = min(int(math.ceil(hi[0] + 1)), spec.width)
    y1 = min(int(math.ceil(hi[1] + 1)), spec.height)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def _disk_coverage(spec, centre, radius):
    """(window (x0, y0, x1, y1), coverage (h, w) in [0, 1]) of a disk in pixel units, or None off-frame."""
    win = _box(spec, centre - radius, centre + radius)
    if win is None:
        return None
    x0, y0, x1, y1 = win
    u = np.arange(x0, x1, dtype=np.float32) + 0.5 - centre[0]
    v = np.arange(y0, y1, dtype=np.float32) + 0.5 - centre[1]
    d = np.sqrt(u[None, :] ** 2 + v[:, None] ** 2) - radius  # (h, w) signed distance, px
    return win, np.clip(0.5 - d, 0.0, 1.0)


def _polygon_coverage(spec, verts):
    """As _disk_coverage for a convex polygon (K, 2) in pixel coordinates; distance = max over
    edges of the half-plane one."""
    win = _box(spec, verts.min(axis=0), verts.max(axis=0))
    if win is None:
        return None
    x0, y0, x1, y1 = win
    u = np.arange(x0, x1, dtype=np.float32) + 0.5
    v = np.arange(y0, y1, dtype=np.float32) + 0.5
    centre = verts.mean(axis=0)
    d = None
    for a, b in zip(verts, np.roll(verts, -1, axis=0)):
        n = np.array([b[1] - a[1], a[0] - b[0]])
        n /= np.hypot(n[0], n[1])
        if np.dot(n, centre - a) > 0:  # orient the normal outwards whatever the winding
            n = -n
        dk = (n[0] * (u - a[0]))[None, :] + (n[1] * (v - a[1]))[:, None]
        d = dk if d is None else np.maximum(d, dk)
    return win, np.clip(0.5 - d, 0.0, 1.0)


def _object_coverage(spec, obj: ObjectSpec, position, angle: float, frame: int):
    """Coverage window of one object at one frame (see _disk_coverage), or None off-frame."""
    if obj.shape == "ball":
        centre = world_to_pixel(spec, frame, position)
        return _disk_coverage(spec, centre, obj.r * pixels_per_unit_at(spec, frame))
    return _polygon_coverage(spec, world_to_pixel(spec, frame, object_outline(obj, position, angle)))


def _draw_capsule(img, spec, a, b, radius, colour) -> None:
    """Segment a-b (pixel coordinates) thickened by `radius` px, with round ends (pymunk's Segment)."""
    win = _box(spec, np.minimum(a, b) - radius, np.maximum(a, b) + radius)
    if win is None:
        return
    x0, y0, x1, y1 = win
    u = (np.arange(x0, x1, dtype=np.float64) + 0.5)[None, :] - a[0]
    v = (np.arange(y0, y1, dtype=np.float64) + 0.5)[:, None] - a[1]
    ab = b - a
    t = np.clip((u * ab[0] + v * ab[1]) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    d = np.hypot(u - t * ab[0], v - t * ab[1]) - radius
    _blend(img, np.clip(0.5 - d, 0.0, 1.0).astype(np.float32), colour, y0, x0)


def _scenery(spec: SceneSpec, frame: float) -> np.ndarray:
    """Everything but the objects at `frame`: (H, W, 3) float32."""
    W, H = spec.width, spec.height
    bg = BACKGROUNDS[spec.background]
    img = np.empty((H, W, 3), dtype=np.float32)
    if bg["kind"] == "gradient":
        s = ((np.arange(H, dtype=np.float32) + 0.5) / H)[:, None]  # 0 at the top, 1 at the bottom
        img[:] = ((1 - s) * np.asarray(bg["top"], np.float32) + s * np.asarray(bg["bottom"], np.float32))[:, None, :]
    else:
        img[:] = np.asarray(bg["colour"], dtype=np.float32)

    cx, cy, zoom = camera_at(spec, frame)
    scale = spec.pixels_per_unit * zoom
    u = np.arange(W, dtype=np.float64) + 0.5  # column centres
    v = np.arange(H, dtype=np.float64) + 0.5  # row centres
    if bg["kind"] == "grid":
        sp = bg["spacing"]
        wx = cx + (u - W / 2) / scale
        wy = cy - (v - H / 2) / scale
        dx = np.abs(wx - sp * np.round(wx / sp)) * scale  # px to the nearest vertical line
        dy = np.abs(wy - sp * np.round(wy / sp)) * scale
        cov_x = np.clip(_GRID_LINE_PX / 2 + 0.5 - dx, 0, 1).astype(np.float32)
        cov_y = np.clip(_GRID_LINE_PX / 2 + 0.5 - dy, 0, 1).astype(np.float32)
        # only the columns and rows a line touches (a few %): much faster than a full-frame blend
        _blend_lines(img, cov_x, bg["line"], axis=1)
        _blend_lines(img, cov_y, bg["line"], axis=0)

    cov_ground = np.zeros(H, np.float32)
    if spec.floor:
        floor_py = H / 2 - (FLOOR_Y - cy) * scale
        cov_ground = np.clip(v - floor_py + 0.5, 0, 1).astype(np.float32)
    cov_walls = np.zeros(W, np.float32)
    if spec.walls:
        left_px = W / 2 + (0.0 - cx) * scale
        right_px = W / 2 + (WORLD_WIDTH - cx) * scale
        cov_walls = np.maximum(np.clip(left_px - u + 0.5, 0, 1), np.clip(u - right_px + 0.5, 0, 1)).astype(np.float32)
    _blend_lines(img, cov_ground, GROUND_COLOUR, axis=0)
    _blend_lines(img, cov_walls, GROUND_COLOUR, axis=1)

    for ob in spec.obstacles:
        ends = world_to_pixel(spec, frame, [ob.start, ob.end])
        _draw_capsule(img, spec, ends[0], ends[1], ob.thickness / 2 * scale, OBSTACLE_COLOUR)
    return img


def _check_traj(spec: SceneSpec, traj: Trajectory) -> None:
    want = (spec.num_frames, len(spec.objects))
    if traj.positions.shape[:2] != want:
        raise ValueError(
            f"trajectory has (frames, objects) = {traj.positions.shape[:2]} but the spec needs {want}; "
            "simulate(spec) with the same spec you render"
        )


def render_frame(spec: SceneSpec, traj: Trajectory, frame: int, *, scenery: np.ndarray | None = None) -> np.ndarray:
    """One frame (H, W, 3) uint8; `scenery` may pass a precomputed _scenery(spec, frame)."""
    img = _scenery(spec, frame) if scenery is None else scenery.copy()
    for j, obj in enumerate(spec.objects):
        cov = _object_coverage(spec, obj, traj.positions[frame, j], traj.angles[frame, j], frame)
        if cov is not None:
            (x0, y0, _, _), c = cov
            _blend(img, c, PALETTE[obj.colour], y0, x0)
    return np.rint(img).astype(np.uint8)


def render(spec: SceneSpec, traj: Trajectory) -> np.ndarray:
    """Rasterise every frame: (T, H, W, 3) uint8, T = spec.num_frames."""
    _check_traj(spec, traj)
    out = np.empty((spec.num_frames, spec.height, spec.width, 3), dtype=np.uint8)
    # A static camera sees the same scenery every frame: draw it once.
    still = spec.camera.kind == "static" or spec.camera.speed == 0
    scenery = _scenery(spec, 0) if still else None
    for i in range(spec.num_frames):
        out[i] = render_frame(spec, traj, i, scenery=scenery)
    return out


def object_masks(spec: SceneSpec, positions, angles, frame: int) -> np.ndarray:
    """What each object covers of frame `frame` as drawn, occlusion included: (N, H, W) float32
    in [0, 1], object j's coverage times (1 - coverage) of every object drawn after it.
    positions (N, 2) world units and angles (N,) rad are the objects' state at that frame."""
    masks = np.zeros((len(spec.objects), spec.height, spec.width), dtype=np.float32)
    for j, obj in enumerate(spec.objects):
        cov = _object_coverage(spec, obj, positions[j], angles[j], frame)
        if cov is not None:
            (x0, y0, x1, y1), c = cov
            masks[:j, y0:y1, x0:x1] *= 1.0 - c  # drawn over the earlier objects
            masks[j, y0:y1, x0:x1] = c
    return masks


# ---------------------------------------------------------------------------- ground truth


def ground_truth(spec: SceneSpec, traj: Trajectory) -> dict:
    """JSON-able per-frame state in world and pixel units, plus events and scene metadata.

    Layout: {"fps", "seconds", "num_frames", "width", "height", "world_width", "world_height",
    "floor_y", "pixels_per_unit" (frame 0), "camera": {"kind", "speed"}, "background",
    "floor", "walls", "gravity", "objects": [static description per object],
    "frames": [{"frame", "time", "camera": {"cx", "cy", "zoom", "pixels_per_unit"},
               "objects": [per-object state]}], "events": [Event.to_dict()]}.
    Per-object state: position_world [x, y] units, position_px [x, y], velocity [vx, vy]
    units/s, velocity_px [vx, vy] px/s (includes the camera's motion), angle rad, spin rad/s,
    radius_px, bbox_px [x0, y0, x1, y1] of the part inside the frame (None if none is),
    visible_fraction of the object's area inside the frame, floor_contact.
    Events: the simulator's plus "leave_frame" (the visible box becomes empty) sorted by frame.
    """
    _check_traj(spec, traj)
    W, H = spec.width, spec.height
    frames = []
    visible_prev = [True] * len(spec.objects)
    leave: list[Event] = []
    for i in range(spec.num_frames):
        cx, cy, zoom = camera_at(spec, i)
        scale = spec.pixels_per_unit * zoom
        dcx, dcy, dscale = _camera_rates(spec, i)
        pos = traj.positions[i]
        pos_px = world_to_pixel(spec, i, pos)
        objs = []
        for j, obj in enumerate(spec.objects):
            (x, y), (vx, vy) = pos[j], traj.velocities[i, j]
            # d/dt of world_to_pixel with a moving camera
            vpx = (vx - dcx) * scale + (x - cx) * dscale
            vpy = -(vy - dcy) * scale - (y - cy) * dscale
            outline = world_to_pixel(spec, i, object_outline(obj, pos[j], traj.angles[i, j]))
            lo, hi = outline.min(axis=0), outline.max(axis=0)
            if obj.shape == "ball":  # the exact disk's box, not the 64-gon's
                lo, hi = pos_px[j] - obj.r * scale, pos_px[j] + obj.r * scale
            if lo[0] >= 0 and lo[1] >= 0 and hi[0] <= W and hi[1] <= H:
                bbox, frac = [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])], 1.0
            else:
                clipped = _clip_to_rect(outline, W, H)
                area = _area(clipped)
                if area <= 1e-9:
                    bbox, frac = None, 0.0
                else:
                    # clip() absorbs the intersection's rounding (-1e-17 is still the edge)
                    c_lo = np.clip(clipped.min(axis=0), 0, [W, H])
                    c_hi = np.clip(clipped.max(axis=0), 0, [W, H])
                    bbox = [float(c_lo[0]), float(c_lo[1]), float(c_hi[0]), float(c_hi[1])]
                    frac = min(1.0, area / _area(outline))
            if bbox is None and visible_prev[j] and i > 0:
                leave.append(Event(i, "leave_frame", (j,), (float(x), float(y))))
            visible_prev[j] = bbox is not None
            objs.append({
                "index": j,
                "position_world": [float(x), float(y)],
                "position_px": [float(pos_px[j, 0]), float(pos_px[j, 1])],
                "velocity": [float(vx), float(vy)],
                "velocity_px": [float(vpx), float(vpy)],
                "angle": float(traj.angles[i, j]),
                "spin": float(traj.spins[i, j]),
                "radius_px": float(obj.r * scale),
                "bbox_px": bbox,
                "visible_fraction": float(frac),
                "floor_contact": bool(traj.floor_contact[i, j]),
            })
        frames.append({
            "frame": i,
            "time": i / spec.fps,
            "camera": {"cx": cx, "cy": cy, "zoom": zoom, "pixels_per_unit": scale},
            "objects": objs,
        })

    order = EVENT_KINDS + ("leave_frame",)
    events = sorted(list(traj.events) + leave, key=lambda e: (e.frame, order.index(e.kind), e.objects))
    return {
        "fps": spec.fps,
        "seconds": spec.seconds,
        "num_frames": spec.num_frames,
        "width": W,
        "height": H,
        "world_width": WORLD_WIDTH,
        "world_height": spec.world_height,
        "floor_y": FLOOR_Y,
        "pixels_per_unit": spec.pixels_per_unit,
        "camera": {"kind": spec.camera.kind, "speed": spec.camera.speed},
        "background": spec.background,
        "floor": spec.floor,
        "walls": spec.walls,
        "gravity": spec.gravity,
        "objects": [
            {"index": j, "shape": o.shape, "colour": o.colour, "rgb": list(PALETTE[o.colour]),
             "size": o.size, "radius": o.r, "mass": o.mass, "elasticity": o.elasticity, "friction": o.friction}
            for j, o in enumerate(spec.objects)
        ],
        "frames": frames,
        "events": [e.to_dict() for e in events],
    }


def render_scene(spec: SceneSpec) -> tuple[np.ndarray, dict]:
    """simulate + render + ground_truth: ((T, H, W, 3) uint8 frames, ground-truth dict)."""
    traj = simulate(spec)
    return render(spec, traj), ground_truth(spec, traj)
