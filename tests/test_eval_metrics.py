"""Adherence, physics, consistency and statistics on rendered clips."""

import numpy as np
import pytest

from kinema.eval.evaluate import evaluate_file, evaluate_video
from kinema.eval.parser import parse_video
from kinema.eval.physics import event_f1, gravity_ratio, teleport_rate
from kinema.eval.stats import bootstrap_ci
from kinema.video import VideoError, read_video, write_video
from kinema.world.render import render_scene
from kinema.world.sim import Event
from kinema.world.spec import ObjectSpec, SceneSpec


def _red_ball_clip():
    spec = SceneSpec(objects=(ObjectSpec("ball", "red", position=(3.0, 6.0), velocity=(1.5, 0.0)),))
    return render_scene(spec)[0], spec.fps


def test_red_ball_scores_high_for_its_prompt_and_low_for_another():
    frames, fps = _red_ball_clip()
    good = evaluate_video(frames, fps, "a red ball falls")
    bad = evaluate_video(frames, fps, "a blue box")
    assert good["adherence"]["overall"] == 1.0
    assert good["adherence"]["colour"] == good["adherence"]["shape"] == 1.0
    assert bad["adherence"]["overall"] == 0.0
    assert good["camera"]["kind"] == "static" and good["background"] == "black"


def test_strict_motion_does_not_let_a_flickering_blob_pass_for_the_object():
    # a red ball rests on the floor all clip long; a second red ball falls and is gone after frame 13
    rest = ObjectSpec("ball", "red", position=(2.5, 1.0))
    still, _ = render_scene(SceneSpec(objects=(rest,)))
    both, _ = render_scene(SceneSpec(objects=(rest, ObjectSpec("ball", "red", position=(7.5, 7.0)))))
    frames = np.concatenate([both[:14], still[14:]])
    adherence = evaluate_video(frames, 16.0, "a red ball falls")["adherence"]
    assert adherence["motion"] == 1.0  # the brief falling blob is picked for its verb
    assert adherence["motion_strict"] == 0.0  # the persistent red ball is the object, and it rests
    assert adherence["overall"] == np.mean([adherence[a] for a in ("count", "colour", "shape", "motion")])
    frames, fps = _red_ball_clip()
    assert evaluate_video(frames, fps, "a red ball falls")["adherence"]["motion_strict"] == 1.0
    assert "motion_strict" not in evaluate_video(frames, fps, "a red ball")["adherence"]


def test_main_adherence_scores_the_longest_seen_objects_not_a_passing_blob():
    # a blue box rests all clip long; a red ball falls and is gone after frame 13
    rest = ObjectSpec("box", "blue", position=(2.5, 1.0))
    still, _ = render_scene(SceneSpec(objects=(rest,)))
    both, _ = render_scene(SceneSpec(objects=(rest, ObjectSpec("ball", "red", position=(7.5, 7.0)))))
    adherence = evaluate_video(np.concatenate([both[:14], still[14:]]), 16.0, "a red ball falls")["adherence"]
    assert adherence["colour"] == adherence["shape"] == adherence["motion"] == 1.0  # the blob stands in
    assert adherence["main"] == 0.0  # the one object the video keeps is a blue box that rests
    # the whole clip of both: the two longest-seen tracks hold the ball, which falls
    two = evaluate_video(both, 16.0, "a red ball falls and a blue box")["adherence"]
    assert two["main"] == 1.0
    frames, fps = _red_ball_clip()
    one = evaluate_video(frames, fps, "a red ball falls")["adherence"]
    assert one["main"] == np.mean([one[a] for a in ("colour", "shape", "motion")]) == 1.0
    assert "main" not in evaluate_video(frames, fps, "the camera pans left")["adherence"]


def test_a_rolling_ball_still_rolls_after_an_mp4_round_trip(tmp_path):
    # H.264's 4:2:0 chroma moves the ball's bottom edge about 1 px into the floor: still contact
    spec = SceneSpec(objects=(ObjectSpec("ball", "red", "large", position=(2.0, 0.9), velocity=(4.0, 0.0)),))
    frames, _ = render_scene(spec)
    write_video(tmp_path / "roll.mp4", frames, spec.fps)
    for clip in (frames, read_video(tmp_path / "roll.mp4")[0]):
        adherence = evaluate_video(clip, spec.fps, "a red ball rolls to the right")["adherence"]
        assert adherence["motion"] == adherence["motion_strict"] == 1.0


def test_falling_ball_gravity_within_5_percent():
    spec = SceneSpec(objects=(ObjectSpec("ball", "green", "small", position=(5.0, 8.5)),), background="grid")
    frames, _ = render_scene(spec)
    g = gravity_ratio(parse_video(frames), spec.fps, gravity=spec.gravity)
    assert abs(g - 1) < 0.05, g


def test_physics_of_a_true_render_matches_the_simulator():
    spec = SceneSpec(objects=(ObjectSpec("ball", "red", "small", position=(1.7, 1.05), velocity=(3.0, 0.0)),
                              ObjectSpec("ball", "blue", position=(8.1, 1.3), velocity=(-1.4, 0.0))))
    frames, _ = render_scene(spec)
    phys = evaluate_video(frames, spec.fps, "a red ball collides with a blue ball")["physics"]
    assert phys["position_error"] < 1.0  # % of the frame width
    assert phys["velocity_error"] < 0.5  # units/s
    assert phys["collision_f1"] == 1.0 and phys["teleport_rate"] == 0.0


def test_teleports_caught_in_a_shuffled_clip():
    frames, fps = _red_ball_clip()
    tracks = parse_video(frames)
    assert teleport_rate(tracks, fps) == 0.0
    shuffled = frames[np.random.default_rng(0).permutation(len(frames))]
    assert teleport_rate(parse_video(shuffled), fps) > 0.3


def test_consistency_of_a_render_is_clean():
    frames, fps = _red_ball_clip()
    c = evaluate_video(frames, fps, "a red ball")["consistency"]
    assert c["permanence"] == 1.0 and c["count_stability"] == 1.0
    assert c["background_stability"] == 0.0 and c["flicker"] == 0.0
    assert c["size_drift"] < 0.01


def test_event_f1_tolerance():
    want = [Event(10, "bounce", (0,), (0, 0))]
    assert event_f1([Event(11, "bounce", (0,), (0, 0))], want, "bounce")["f1"] == 1.0
    assert event_f1([Event(13, "bounce", (0,), (0, 0))], want, "bounce")["f1"] == 0.0


def test_bootstrap_interval_contains_the_mean():
    values = np.random.default_rng(1).exponential(size=40)
    mean, lo, hi = bootstrap_ci(values, num=500, seed=3)
    assert lo <= mean <= hi and mean == pytest.approx(values.mean())
    assert bootstrap_ci(values, num=500, seed=3) == (mean, lo, hi)
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_ci([np.nan])


def test_bad_inputs_fail_with_a_fix(tmp_path):
    frames, fps = _red_ball_clip()
    with pytest.raises(ValueError, match="at least 5"):
        evaluate_video(frames[:3], fps, "a red ball")
    with pytest.raises(ValueError, match="empty"):
        evaluate_video(frames[:0], fps, "a red ball")
    with pytest.raises(ValueError, match="uint8"):
        evaluate_video(frames.astype(np.float32), fps, "a red ball")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(VideoError, match="broken.mp4"):
        evaluate_file(bad, "a red ball")


def test_noise_video_keeps_at_most_max_tracks():
    from kinema.eval.adherence import MAX_TRACKS, MIN_TRACK_FRACTION, real_tracks
    from kinema.eval.evaluate import evaluate_video
    from kinema.eval.parser import parse_video

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (17, 64, 64, 3), dtype=np.uint8)  # hundreds of palette-coloured specks
    tracks = parse_video(frames)
    persistent = int((tracks.present().sum(0) >= max(2, MIN_TRACK_FRACTION * 17)).sum())
    assert persistent > MAX_TRACKS  # the cap is exercised
    kept = real_tracks(tracks)
    assert len(kept) == MAX_TRACKS
    assert kept.present().sum(0).min() >= np.sort(tracks.present().sum(0))[-MAX_TRACKS]  # the most persistent
    assert evaluate_video(frames, 16, "a red ball bounces")["num_tracks"] == MAX_TRACKS


def test_flicker_events_sorts_flips_splits_and_new_blobs():
    import runpy
    from pathlib import Path

    from kinema.eval.parser import Detection, track_objects

    fe = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "flicker_events.py"))

    def det(colour, x, y):
        return Detection(colour, "ball", (x, y), 50.0, (int(x) - 4, int(y) - 4, int(x) + 4, int(y) + 4), 4.0,
                         (0.0, 0.0, 0.0), False)

    frames = []
    for f in range(9):
        d = [det("red", 40, 40)]  # steady all clip: no event
        d.append(det("blue" if f < 4 else "green", 90 + (f >= 4), 90))  # relabelled at frame 4: a flip
        if f >= 5:
            d.append(det("yellow", 20, 100))  # from nowhere at frame 5
        if f == 6:
            d.append(det("pink", 42, 44))  # one frame beside the red ball: a split, appears and vanishes
        frames.append(d)
    events = fe["classify_events"](track_objects(frames, 128, 128))
    got = sorted((e["event"], e["kind"], e["frame"], e["crosses"]) for e in events)
    assert got == [("appear", "flip", 4, False), ("appear", "new", 5, True), ("appear", "split", 6, False),
                   ("vanish", "flip", 3, False), ("vanish", "split", 6, False)]
    s = fe["summarise"](events, clips=1, frames=9)
    assert s["events_per_clip"] == 5 and s["kinds"] == {"flip": 0.4, "new": 0.2, "split": 0.4}
    assert s["at_latent_boundary"] == 0.2 and s["at_latent_boundary_if_uniform"] == 2 / 8
    assert [f for f in range(1, 33) if fe["crosses_latent"](f)] == [1, 5, 9, 13, 17, 21, 25, 29]
