"""Physics of a video, measured against the world's own simulator.

The protocol follows Kang et al. 2024 ("How far is video generation from world model"):
estimate every object's initial state from the first frames, re-simulate the scene with
kinema.world.sim, and compare the video's motion with the simulation's. Alongside:
fitted gravity on free-fall stretches, bounce / collision events against the simulation's
(F1 with a +-1 frame tolerance), interpenetration and teleports.

Units: positions in world units (y up) via the camera of frame 0 (a static camera is
assumed: see kinema.world.render.pixel_to_world), velocities in world units/s, position
errors in % of the frame width. Every threshold is a named constant below.
"""

from __future__ import annotations

import math

import numpy as np

from kinema.eval.parser import Tracks
from kinema.world.render import pixel_to_world, world_to_pixel
from kinema.world.sim import Event, simulate
from kinema.world.spec import DEFAULT_GRAVITY, FLOOR_Y, WORLD_WIDTH, ObjectSpec, SceneSpec

MIN_FREE_FALL_FRAMES = 5  # a parabola fit needs this many consecutive airborne frames
AIRBORNE_MARGIN_PX = 1.5  # bbox bottom this far above the floor line counts as airborne
ACCEL_OUTLIER = 0.5  # |vertical acceleration + g| above this fraction of g ends a free-fall stretch
BOUNCE_MIN_SPEED = 0.5  # units/s each way of a velocity reversal (as kinema.world.sim.BOUNCE_SPEED)
CONTACT_TOL_PX = 1.5  # centroid distance <= sum of radii + this counts as two objects touching
COLLISION_MIN_DV = 0.5  # units/s change of relative velocity that makes a touch a collision
EVENT_TOLERANCE = 1  # frames either way when matching events
PENETRATION_PX = 1.0  # overlap depth (inradius sum minus distance) that counts as penetration
TELEPORT_SPEED = 25.0  # units/s between consecutive frames; faster than anything the world makes
INIT_FRAMES = 3  # frames used to estimate an initial velocity

_SIDES = {"ball": 0, "triangle": 3, "box": 4, "pentagon": 5}


def view_spec(width: int, height: int, fps: float, num_frames: int, objects: tuple[ObjectSpec, ...] = (),
              *, gravity: float = DEFAULT_GRAVITY) -> SceneSpec:
    """A static-camera SceneSpec matching a video's size and timing (for camera maps and re-simulation)."""
    if num_frames < 2:
        raise ValueError(f"a clip needs at least 2 frames to measure motion, got {num_frames}")
    objs = objects or (ObjectSpec("ball", "red"),)
    return SceneSpec(objects=objs, gravity=gravity, fps=fps, seconds=(num_frames - 1) / fps,
                     width=width, height=height)


def world_tracks(tracks: Tracks, fps: float) -> np.ndarray:
    """(T, K, 2) track centres in world units (y up) through the frame-0 static camera; NaN where absent."""
    spec = view_spec(tracks.width, tracks.height, fps, max(tracks.num_frames, 2))
    return pixel_to_world(spec, 0, tracks.centroids)


def floor_line_px(width: int, height: int) -> float:
    """Pixel row (y, continuous) of the floor's top surface through the frame-0 camera."""
    spec = view_spec(width, height, 16, 2)
    return float(world_to_pixel(spec, 0, (0.0, FLOOR_Y))[1])


def finite_velocity(pos: np.ndarray, fps: float) -> np.ndarray:
    """(T, ..., 2) velocities from (T, ..., 2) positions: central differences, one-sided at the ends."""
    if pos.shape[0] < 2:
        return np.zeros_like(pos)
    return np.gradient(pos, 1.0 / fps, axis=0)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal [start, end) runs of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def above_floor(bottom: np.ndarray, width: int, height: int) -> np.ndarray:
    """bool, shaped as bottom: the bbox bottom (px) more than AIRBORNE_MARGIN_PX above the floor
    line. Its negation is floor contact, sinking into the floor included: that is penetration,
    scored by penetration_rate, not flight (an H.264 4:2:0 round trip alone moves a resting
    object's bottom edge from 0.7 to 1.7 px below the line). NaN bottoms are not above it."""
    with np.errstate(invalid="ignore"):
        return bottom < floor_line_px(width, height) - AIRBORNE_MARGIN_PX


def airborne(tracks: Tracks) -> np.ndarray:
    """(T, K) bool: present, whole, and the bbox bottom clearly above the floor line."""
    return tracks.present() & ~tracks.clipped & above_floor(tracks.bboxes[..., 3], tracks.width, tracks.height)


def fit_gravity(y: np.ndarray, fps: float, free: np.ndarray) -> list[tuple[float, int]]:
    """Parabola fits on free-fall stretches of one track.

    y: (T,) world height, units. free: (T,) bool candidate frames (airborne, no contact).
    Returns [(g_eff units/s^2, frames)] per stretch of >= MIN_FREE_FALL_FRAMES frames whose
    accelerations agree with one parabola.
    """
    out = []
    for s, e in _runs(free):
        if e - s < MIN_FREE_FALL_FRAMES:
            continue
        t = np.arange(s, e) / fps
        a2, _, _ = np.polyfit(t, y[s:e], 2)
        out.append((-2.0 * float(a2), e - s))
    return out


def _free_fall_mask(yw: np.ndarray, fps: float, air: np.ndarray, g_ref: float) -> np.ndarray:
    """(T,) frames of one track that are airborne and whose discrete acceleration looks ballistic."""
    free = air.copy()
    acc = np.full(len(yw), np.nan)
    acc[1:-1] = (yw[2:] - 2 * yw[1:-1] + yw[:-2]) * fps * fps
    with np.errstate(invalid="ignore"):
        bad = np.abs(acc + g_ref) > ACCEL_OUTLIER * g_ref  # a contact between t-1 and t+1
    for t in np.flatnonzero(bad):
        free[t] = False  # the frame where the impulse shows; its neighbours lie on either parabola
    return free


def gravity_ratio(tracks: Tracks, fps: float, *, gravity: float = DEFAULT_GRAVITY) -> float:
    """g_eff / g_sim over all free-fall stretches (frames-weighted mean); NaN when there are none."""
    pos = world_tracks(tracks, fps)
    air = airborne(tracks)
    fits = []
    for k in range(len(tracks)):
        free = _free_fall_mask(pos[:, k, 1], fps, air[:, k], gravity)
        fits += fit_gravity(pos[:, k, 1], fps, free)
    if not fits or gravity <= 0:
        return float("nan")
    g = np.array([f[0] for f in fits])
    n = np.array([f[1] for f in fits], dtype=float)
    return float((g * n).sum() / n.sum() / gravity)


# ---------------------------------------------------------------- events from tracks


def _inradius(radius: np.ndarray, shapes: tuple[str, ...]) -> np.ndarray:
    n = np.array([_SIDES[s] for s in shapes], dtype=float)
    return np.where(n > 0, radius * np.cos(np.pi / np.maximum(n, 3)), radius)


def track_events(tracks: Tracks, fps: float) -> list[Event]:
    """Bounce and collision events seen in the tracks (objects = track indices).

    bounce: a track's vertical or horizontal velocity reverses (each side >= BOUNCE_MIN_SPEED)
    while it touches no other track. collision: two tracks come within CONTACT_TOL_PX of
    touching (circumradii) and their relative velocity changes by >= COLLISION_MIN_DV;
    one event per contact, at the frame of the largest change.
    """
    pos = world_tracks(tracks, fps)  # (T, K, 2)
    vel = np.diff(pos, axis=0) * fps  # (T-1, K, 2): velocity between frame t and t+1
    n_frames, k_tracks = pos.shape[:2]
    c = tracks.centroids
    touch = np.zeros((n_frames, k_tracks, k_tracks), dtype=bool)
    for i in range(k_tracks):
        for j in range(i + 1, k_tracks):
            d = np.linalg.norm(c[:, i] - c[:, j], axis=-1)
            with np.errstate(invalid="ignore"):
                touch[:, i, j] = touch[:, j, i] = d <= tracks.radii[i] + tracks.radii[j] + CONTACT_TOL_PX
    events: list[Event] = []
    for i in range(k_tracks):
        for j in range(i + 1, k_tracks):
            for s, e in _runs(touch[:, i, j]):
                lo, hi = max(s - 1, 1), min(e + 1, n_frames - 1)  # frames with velocity on both sides
                if hi <= lo:
                    continue
                rel = vel[:, i] - vel[:, j]  # (T-1, 2)
                dv = np.linalg.norm(rel[lo:hi] - rel[lo - 1:hi - 1], axis=-1)  # change at frames lo..hi-1
                if np.all(np.isnan(dv)) or np.nanmax(dv) < COLLISION_MIN_DV:
                    continue
                t = lo + int(np.nanargmax(dv))
                mid = (pos[t, i] + pos[t, j]) / 2
                events.append(Event(t, "collision", (i, j), (float(mid[0]), float(mid[1]))))
    near_other = touch.any(axis=2)  # (T, K)
    for k in range(k_tracks):
        for t in range(1, n_frames - 1):
            before, after = vel[t - 1, k], vel[t, k]
            if np.isnan(before).any() or np.isnan(after).any() or near_other[max(t - 1, 0):t + 2, k].any():
                continue
            flips = [(before[a] <= -BOUNCE_MIN_SPEED and after[a] >= BOUNCE_MIN_SPEED)
                     or (before[a] >= BOUNCE_MIN_SPEED and after[a] <= -BOUNCE_MIN_SPEED) for a in (0, 1)]
            # a ballistic arc's apex flips vy too, slowly: a bounce flips it downward-to-upward
            vertical = before[1] <= -BOUNCE_MIN_SPEED and after[1] >= BOUNCE_MIN_SPEED
            if vertical or flips[0]:
                p = pos[t, k]
                events.append(Event(t, "bounce", (k,), (float(p[0]), float(p[1]))))
    events.sort(key=lambda e: (e.frame, e.kind, e.objects))
    return events


def event_f1(found: list[Event], expected: list[Event], kind: str, *, tolerance: int = EVENT_TOLERANCE) -> dict:
    """Precision, recall and F1 of `found` against `expected` events of one kind.

    A found event matches an unmatched expected one with the same kind and objects whose
    frame is within `tolerance`. With no events on either side F1 is 1 (nothing to find,
    nothing claimed).
    """
    f = [e for e in found if e.kind == kind]
    x = [e for e in expected if e.kind == kind]
    used = [False] * len(x)
    tp = 0
    for e in sorted(f, key=lambda e: e.frame):
        for m, g in enumerate(x):
            if not used[m] and tuple(sorted(g.objects)) == tuple(sorted(e.objects)) and abs(g.frame - e.frame) <= tolerance:
                used[m] = True
                tp += 1
                break
    precision = tp / len(f) if f else 1.0
    recall = tp / len(x) if x else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "found": len(f), "expected": len(x)}


# ---------------------------------------------------------------- penetration and teleports


def penetration_rate(tracks: Tracks) -> float:
    """Fraction of frames in which two objects overlap by more than PENETRATION_PX (inradii)
    or an object sinks more than PENETRATION_PX below the floor line."""
    inr = _inradius(tracks.radii, tracks.shapes)
    c = tracks.centroids
    bad = np.zeros(tracks.num_frames, dtype=bool)
    with np.errstate(invalid="ignore"):
        for i in range(len(tracks)):
            for j in range(i + 1, len(tracks)):
                d = np.linalg.norm(c[:, i] - c[:, j], axis=-1)
                bad |= d < inr[i] + inr[j] - PENETRATION_PX
        floor = floor_line_px(tracks.width, tracks.height)
        bad |= ((tracks.bboxes[..., 3] > floor + PENETRATION_PX + 1) & ~tracks.clipped).any(axis=1)
    return float(bad.mean()) if len(bad) else 0.0


def teleport_rate(tracks: Tracks, fps: float, *, max_speed: float = TELEPORT_SPEED) -> float:
    """Fraction of a track's frame-to-frame steps faster than max_speed (units/s), over all tracks."""
    step = np.linalg.norm(np.diff(tracks.centroids, axis=0), axis=-1) * fps * WORLD_WIDTH / tracks.width  # (T-1, K)
    ok = ~np.isnan(step)
    if not ok.any():
        return 0.0
    return float((step[ok] > max_speed).mean())


# ---------------------------------------------------------------- re-simulation


def initial_objects(tracks: Tracks, fps: float, *,
                    gravity: float = DEFAULT_GRAVITY) -> tuple[list[int], tuple[ObjectSpec, ...]]:
    """ObjectSpecs for the tracks present and whole in frame 0: (track indices, specs).

    Position and angle from frame 0; velocity from the first INIT_FRAMES frames (a line
    after removing gravity when airborne, else the slope at frame 0 of a quadratic); spin
    from the first two orientations;
    radius from the track's median area; mass, elasticity and friction are the ObjectSpec
    defaults (they cannot be seen in one frame).
    """
    pos = world_tracks(tracks, fps)
    air = airborne(tracks)
    ppu = tracks.width / WORLD_WIDTH
    keep, objs = [], []
    n = min(INIT_FRAMES, tracks.num_frames)
    for k in range(len(tracks)):
        if np.isnan(pos[0, k, 0]) or tracks.clipped[0, k]:
            continue
        p = pos[:n, k]  # (n, 2)
        ok = ~np.isnan(p[:, 0])
        t = np.arange(n) / fps
        v = np.zeros(2)
        if ok.sum() >= 2:
            # derivative at t = 0 of a quadratic through the first frames: friction decelerates a
            # ball launched without spin within a frame or two, so a mean velocity would be late
            deg = 2 if ok.sum() >= 3 else 1
            vx = np.polyfit(t[ok], p[ok, 0], deg)[deg - 1]
            if air[0, k]:  # known acceleration: remove gravity, fit a line
                vy = np.polyfit(t[ok], p[ok, 1] + 0.5 * gravity * t[ok] ** 2, 1)[0]
            else:
                vy = np.polyfit(t[ok], p[ok, 1], deg)[deg - 1]
            v = np.array([vx, vy])
        angle, spin = 0.0, 0.0
        shape = tracks.shapes[k]
        if shape != "ball":
            angles = [_orientation_at(tracks, f, k) for f in range(n)]
            angles = [a for a in angles if a is not None]
            if angles:
                angle = angles[0]
                if len(angles) >= 2:
                    period = 2 * math.pi / _SIDES[shape]
                    d = (angles[1] - angles[0] + period / 2) % period - period / 2
                    spin = d * fps
        objs.append(ObjectSpec(shape=shape, colour=tracks.colours[k], size=tracks.sizes[k],
                               radius=float(tracks.radii[k] / ppu), position=(float(p[0, 0]), float(p[0, 1])),
                               velocity=(float(v[0]), float(v[1])), angle=angle, spin=spin))
        keep.append(k)
    return keep, tuple(objs)


def _orientation_at(tracks: Tracks, frame: int, k: int) -> float | None:
    c = tracks.centroids[frame, k]
    if np.isnan(c[0]):
        return None
    for d in tracks.detections[frame]:
        if d.colour == tracks.colours[k] and d.centroid == (float(c[0]), float(c[1])):
            return d.orientation
    return None


def score_physics(tracks: Tracks, fps: float, *, gravity: float = DEFAULT_GRAVITY) -> dict:
    """Physics metrics of one parsed video.

    tracks: from kinema.eval.parser.parse_video. fps: the video's frame rate. gravity:
    world units/s^2 the video should show (0 for a prompt without gravity).
    Returns {"velocity_error" (units/s, mean over objects and frames), "position_error"
    (% of frame width), "g_ratio" (g_eff / g_sim, NaN without free fall), "bounce_f1",
    "collision_f1", "penetration_rate", "teleport_rate", "num_objects_simulated"}. Errors are
    NaN when no object is whole in frame 0.
    """
    if tracks.num_frames < 2:
        raise ValueError(f"physics needs at least 2 frames, got {tracks.num_frames}; pass the whole clip")
    out = {
        "g_ratio": gravity_ratio(tracks, fps, gravity=gravity) if gravity > 0 else float("nan"),
        "penetration_rate": penetration_rate(tracks),
        "teleport_rate": teleport_rate(tracks, fps),
    }
    keep, objs = initial_objects(tracks, fps, gravity=gravity)
    out["num_objects_simulated"] = len(objs)
    found = track_events(tracks, fps)
    if not objs:
        out.update(velocity_error=float("nan"), position_error=float("nan"), bounce_f1=float("nan"),
                   collision_f1=float("nan"))
        return out
    spec = view_spec(tracks.width, tracks.height, fps, tracks.num_frames, objs, gravity=gravity)
    traj = simulate(spec)
    pos = world_tracks(tracks, fps)[:, keep]  # (T, n, 2)
    vel = finite_velocity(pos, fps)
    with np.errstate(invalid="ignore"):
        pos_err = np.linalg.norm(pos - traj.positions, axis=-1)  # (T, n), units
        vel_err = np.linalg.norm(vel - traj.velocities, axis=-1)
    out["position_error"] = float(np.nanmean(pos_err) / WORLD_WIDTH * 100)
    out["velocity_error"] = float(np.nanmean(vel_err))
    # the simulation's events in track indices; pair "bounce" events are counted as collisions
    expected = [Event(e.frame, e.kind, tuple(sorted(keep[o] for o in e.objects)), e.position)
                for e in traj.events if e.kind in ("bounce", "collision") and not (e.kind == "bounce" and len(e.objects) > 1)]
    kept = set(keep)
    found = [e for e in found if set(e.objects) <= kept]
    out["bounce_f1"] = event_f1(found, expected, "bounce")["f1"]
    out["collision_f1"] = event_f1(found, expected, "collision")["f1"]
    return out
