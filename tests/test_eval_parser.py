"""The frame parser against the renderer's ground truth."""

import numpy as np

from kinema.eval.parser import match_ground_truth, parse_video, size_word
from kinema.world.render import render_scene
from kinema.world.spec import ObjectSpec, SceneSpec
from kinema.world.splits import sample_scene

FRAME_STEP = 4  # every 4th frame of each clip keeps the test fast


def test_parser_finds_objects_on_100_renders():
    found = total = 0
    errors = []
    for seed in range(100):
        spec = sample_scene(("id", "ood", "combo")[seed % 3], seed)
        frames, truth = render_scene(spec)
        f, t, e = match_ground_truth(frames, truth, frame_step=FRAME_STEP)
        total += t
        found += sum(err < 0.5 for err in e)
        errors += e
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
