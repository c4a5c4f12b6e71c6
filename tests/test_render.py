"""Camera, rasteriser and ground truth: exact colours, no overlaps, consistent pans, any aspect."""

import json
import math

import numpy as np
import pytest

from kinema.world.render import (
    camera_at,
    ground_truth,
    object_outline,
    pixel_to_world,
    render,
    render_scene,
    world_to_pixel,
)
from kinema.world.sim import simulate
from kinema.world.spec import (
    BACKGROUNDS,
    CAMERAS,
    COLOURS,
    FLOOR_Y,
    GROUND_COLOUR,
    PALETTE,
    SHAPES,
    SIZES,
    WORLD_WIDTH,
    CameraSpec,
    ObjectSpec,
    SceneSpec,
)

ASPECTS = [(128, 128), (160, 96), (96, 160), (256, 144)]


def random_scene(seed: int) -> SceneSpec:
    """2-5 non-overlapping objects thrown about, or a stack of boxes; random size and camera."""
    rng = np.random.default_rng(seed)
    width, height = ASPECTS[seed % len(ASPECTS)]
    world_h = WORLD_WIDTH * height / width
    objects = []
    if seed % 3 == 0:  # a stack of boxes, with a ball dropped on it
        h = 0.7 / math.sqrt(2)
        for k in range(3):
            objects.append(ObjectSpec("box", COLOURS[k], position=(5.0 + 0.05 * k, FLOOR_Y + h + 2 * h * k + 0.001)))
        objects.append(ObjectSpec("ball", "pink", size="small", position=(5.2, min(world_h, 6.0) - 0.5)))
    else:
        n = int(rng.integers(2, 6))
        while len(objects) < n:
            size = str(rng.choice(list(SIZES)))
            r = SIZES[size]
            pos = (float(rng.uniform(1.0, 9.0)), float(rng.uniform(FLOOR_Y + r, max(world_h - 0.5, FLOOR_Y + r + 0.1))))
            if any(math.dist(pos, o.position) < r + o.r + 0.05 for o in objects):
                continue
            objects.append(ObjectSpec(
                str(rng.choice(SHAPES)), COLOURS[len(objects)], size=size, position=pos,
                velocity=(float(rng.uniform(-5, 5)), float(rng.uniform(-3, 3))),
                angle=float(rng.uniform(0, 2 * np.pi)), spin=float(rng.uniform(-2, 2)),
                elasticity=float(rng.uniform(0, 1)), friction=float(rng.uniform(0.2, 1.0)),
            ))
    camera = CameraSpec(CAMERAS[seed % len(CAMERAS)], 0.3 if "zoom" in CAMERAS[seed % len(CAMERAS)] else 1.0)
    return SceneSpec(objects=tuple(objects), background=list(BACKGROUNDS)[seed % 4], camera=camera,
                     width=width, height=height, seconds=2.0, fps=16, seed=seed)


def penetration(a: np.ndarray, b: np.ndarray) -> float:
    """Separating-axis penetration depth of two convex polygons (K, 2); <= 0 when apart."""
    depth = math.inf
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        pa, pb = a @ normals.T, b @ normals.T  # (K, E) projections
        overlap = np.minimum(pa.max(0), pb.max(0)) - np.maximum(pa.min(0), pb.min(0))
        depth = min(depth, float(overlap.min()))
    return depth


def test_standard_view_and_inverse():
    for width, height in ASPECTS:
        for kind in CAMERAS:
            spec = SceneSpec(objects=(ObjectSpec("ball", "red"),), width=width, height=height,
                             camera=CameraSpec(kind, 0.5))
            corners = world_to_pixel(spec, 0, [[0.0, 0.0], [WORLD_WIDTH, spec.world_height]])
            np.testing.assert_allclose(corners, [[0.0, height], [width, 0.0]], atol=1e-9)
            pts = np.random.default_rng(0).uniform(-5, 15, size=(7, 3, 2))
            for frame in (0, 5, 32):
                back = pixel_to_world(spec, frame, world_to_pixel(spec, frame, pts))
                np.testing.assert_allclose(back, pts, atol=1e-9)
    spec = SceneSpec(objects=(ObjectSpec("ball", "red"),), camera=CameraSpec("zoom_in", 0.5), fps=10)
    assert camera_at(spec, 10)[2] == pytest.approx(math.exp(0.5))


@pytest.mark.parametrize("seed", range(12))
def test_exact_colours_no_overlap_and_consistent_ground_truth(seed):
    spec = random_scene(seed)
    traj = simulate(spec)
    video = render(spec, traj)
    gt = json.loads(json.dumps(ground_truth(spec, traj)))  # JSON-able
    assert video.shape == (spec.num_frames, spec.height, spec.width, 3) and video.dtype == np.uint8
    assert len(gt["frames"]) == spec.num_frames
    for i, fr in enumerate(gt["frames"]):
        scale = fr["camera"]["pixels_per_unit"]
        outlines = []
        for obj, st in zip(spec.objects, fr["objects"]):
            outline = object_outline(obj, st["position_world"], st["angle"]) * scale  # world -> px scale
            outlines.append(outline)
            # the centre pixel of every visible object is exactly its palette colour
            px, py = st["position_px"]
            if 0 <= px < spec.width and 0 <= py < spec.height and st["visible_fraction"] > 0:
                assert tuple(video[i, int(py), int(px)]) == PALETTE[obj.colour], (i, obj)
            if st["bbox_px"] is not None:
                x0, y0, x1, y1 = st["bbox_px"]
                assert 0 <= x0 <= x1 <= spec.width and 0 <= y0 <= y1 <= spec.height
        for j in range(len(outlines)):
            for k in range(j + 1, len(outlines)):
                assert penetration(outlines[j], outlines[k]) <= 1.0, (seed, i, j, k)
    # pixel velocities agree with finite differences of pixel positions (camera motion included)
    p = np.array([[o["position_px"] for o in fr["objects"]] for fr in gt["frames"]])
    v = np.array([[o["velocity_px"] for o in fr["objects"]] for fr in gt["frames"]])
    free = np.array([[not o["floor_contact"] for o in fr["objects"]] for fr in gt["frames"]])
    fd = (p[2:] - p[:-2]) * spec.fps / 2
    smooth = free[2:] & free[1:-1] & free[:-2] & (np.linalg.norm(v[2:] - v[:-2], axis=-1) < 40)[..., None].all(-1)
    if smooth.any():
        err = np.linalg.norm(fd - v[1:-1], axis=-1)[smooth]
        assert np.median(err) < 0.05 * max(1.0, np.median(np.linalg.norm(v[1:-1], axis=-1)[smooth]))


@pytest.mark.parametrize("kind", ["pan_right", "pan_left"])
def test_pan_moves_grid_and_pixel_positions_together(kind):
    h = 0.7 / math.sqrt(2)
    spec = SceneSpec(objects=(ObjectSpec("box", "red", position=(5.0, FLOOR_Y + h)),), background="grid",
                     camera=CameraSpec(kind, 1.0), fps=16, seconds=1.0)
    video, gt = render_scene(spec)
    line = np.array(BACKGROUNDS["grid"]["line"])
    shift_px = (-1 if kind == "pan_right" else 1) * 1.0 * spec.pixels_per_unit  # per second
    for i in (0, 8, 16):
        # grid columns: the world lines x = k sit where world_to_pixel says, on the top row
        row = video[i, 2].astype(int)
        xs = world_to_pixel(spec, i, [[k, 0.0] for k in range(-3, 14)])[:, 0]
        for x in xs[(xs > 1) & (xs < spec.width - 1)]:
            # a 1-px line covers the one or two pixels nearest to x, at least half each
            near = row[int(round(x)) - 1:int(round(x)) + 1]
            assert (np.abs(near - line).max(axis=1) <= 40).any(), (i, x, near)
        is_bg = (np.abs(row - BACKGROUNDS["grid"]["colour"]).max(axis=1) == 0)
        centres = np.arange(spec.width) + 0.5
        far = np.abs(centres - xs[:, None]).min(axis=0) > 1.0
        left, right = world_to_pixel(spec, i, [[0.0, 0.0], [WORLD_WIDTH, 0.0]])[:, 0]
        inside = (centres > left + 1) & (centres < right - 1)
        assert is_bg[far & inside].all()
        # the walls, drawn as ground beyond x = 0 and x = WORLD_WIDTH, come into view
        beyond = (centres < left - 1) | (centres > right + 1)
        assert (row[beyond] == GROUND_COLOUR).all() and (beyond.any() == (i > 0))
        expected = 64.0 + shift_px * i / spec.fps
        assert gt["frames"][i]["objects"][0]["position_px"][0] == pytest.approx(expected, abs=0.05)
        assert gt["frames"][i]["objects"][0]["velocity_px"][0] == pytest.approx(shift_px, abs=0.05)
    # the object stands still in the world, so the grid and the object shift together
    assert not np.array_equal(video[0], video[16])


@pytest.mark.parametrize("size", ASPECTS)
def test_aspect_ratios_floor_and_ground(size):
    width, height = size
    spec = SceneSpec(objects=(ObjectSpec("ball", "yellow", position=(2.0, 1.5)),), width=width, height=height,
                     background="dusk", seconds=0.5)
    video, gt = render_scene(spec)
    assert video.shape == (spec.num_frames, height, width, 3)
    floor_py = world_to_pixel(spec, 0, [0.0, FLOOR_Y])[1]
    assert floor_py == pytest.approx(height - FLOOR_Y * width / WORLD_WIDTH)
    below = int(math.ceil(floor_py)) + 1
    assert (video[0, below:, width - 2] == GROUND_COLOUR).all()
    assert gt["pixels_per_unit"] == width / WORLD_WIDTH and gt["width"] == width


def test_leave_frame_event_and_visibility():
    spec = SceneSpec(objects=(ObjectSpec("ball", "cyan", size="small", position=(8.0, 3.0), velocity=(6.0, 0.0)),),
                     walls=False, gravity=0.0, fps=16, seconds=1.0)
    video, gt = render_scene(spec)
    leave = [e for e in gt["events"] if e["kind"] == "leave_frame"]
    assert len(leave) == 1 and leave[0]["objects"] == [0]
    k = leave[0]["frame"]
    # centre crosses x = 10 at t = 1/3 s; fully gone when the left edge does, 0.45 / 6 s later
    assert k == math.ceil((2.0 + 0.45) / 6.0 * spec.fps)
    states = [fr["objects"][0] for fr in gt["frames"]]
    assert states[k]["bbox_px"] is None and states[k]["visible_fraction"] == 0.0
    assert 0 < states[k - 1]["visible_fraction"] < 1 and states[0]["visible_fraction"] == 1.0
    # half out when the centre sits on the right edge (t = 1/3 s is between frames 5 and 6)
    x_edge = [s["visible_fraction"] for s in states if abs(s["position_world"][0] - 10.0) < 0.2]
    assert all(0.25 < f < 0.75 for f in x_edge)
    assert (video[k:] != PALETTE["cyan"]).any(axis=-1).all()


def test_render_deterministic():
    spec = random_scene(4)
    a, gt_a = render_scene(spec)
    b, gt_b = render_scene(spec)
    np.testing.assert_array_equal(a, b)
    assert gt_a == gt_b
