"""The frame parser against the renderer's ground truth."""

import math

import numpy as np

from kinema.eval.parser import detect_clip, parse_video, size_word
from kinema.world.render import render_scene
from kinema.world.spec import ObjectSpec, SceneSpec
from kinema.world.splits import sample_scene

FRAME_STEP = 4  # every 4th frame of each clip keeps the test fast
NEAR_PX = 2.0  # an object within this of another's box is "touching" and excluded


def _evaluable(o, others, width, height) -> bool:
    """Documented exclusion rule: wholly inside the frame by >= 1 px, no other object's box within NEAR_PX."""
    b = o["bbox_px"]
    if b is None or o["visible_fraction"] < 1 or b[0] < 1 or b[1] < 1 or b[2] > width - 1 or b[3] > height - 1:
        return False
    for p in others:
        c = p["bbox_px"]
        if p is not o and c is not None and c[0] - NEAR_PX < b[2] and b[0] < c[2] + NEAR_PX \
                and c[1] - NEAR_PX < b[3] and b[1] < c[3] + NEAR_PX:
            return False
    return True


def test_parser_finds_objects_on_100_renders():
    found = total = 0
    errors = []
    for seed in range(100):
        spec = sample_scene(("id", "ood", "combo")[seed % 3], seed)
        frames, truth = render_scene(spec)
        dets = detect_clip(frames[::FRAME_STEP])
        for fr, frame_dets in zip(truth["frames"][::FRAME_STEP], dets):
            for o in fr["objects"]:
                if not _evaluable(o, fr["objects"], spec.width, spec.height):
                    continue
                total += 1
                want = truth["objects"][o["index"]]
                p = np.asarray(o["position_px"])
                near = [d for d in frame_dets if math.dist(d.centroid, p) < 3]
                if len(near) == 1 and near[0].colour == want["colour"] and near[0].shape == want["shape"]:
                    err = math.dist(near[0].centroid, p)
                    errors.append(err)
                    found += err < 0.5
    assert total > 1000
    assert found / total >= 0.995, f"{found}/{total}"
    assert np.percentile(errors, 99) < 0.2


def test_small_shapes_at_radius_6_px():
    # radius 0.45 units at 128 px is 5.8 px: every shape must still be told apart
    for shape in ("ball", "box", "triangle", "pentagon"):
        spec = SceneSpec(objects=(ObjectSpec(shape, "pink", "small", position=(3.3, 6.1), angle=0.37, spin=2.0),),
                         gravity=0.0, seconds=0.5)
        frames, _ = render_scene(spec)
        tracks = parse_video(frames)
        assert tracks.shapes == (shape,) and tracks.colours == ("pink",) and tracks.sizes == ("small",)


def test_tracks_follow_two_objects():
    spec = SceneSpec(objects=(ObjectSpec("ball", "red", position=(2, 5), velocity=(2, 0)),
                              ObjectSpec("box", "blue", "large", position=(8, 5), velocity=(-2, 0))),
                     gravity=0.0, walls=False, seconds=1.0)
    frames, truth = render_scene(spec)
    tracks = parse_video(frames)
    assert len(tracks) == 2 and tracks.present().all()
    k = tracks.colours.index("blue")
    assert tracks.shapes[k] == "box" and tracks.sizes[k] == "large"
    want = np.array([f["objects"][1]["position_px"] for f in truth["frames"]])
    assert np.abs(tracks.centroids[:, k] - want).max() < 0.1


def test_size_word_from_radius():
    assert size_word(0.45 * 12.8, 128) == "small"
    assert size_word(1.0 * 25.6, 256) == "large"
