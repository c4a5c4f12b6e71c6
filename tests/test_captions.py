"""Captions: truthful to the simulation, varied in wording."""

import warnings

import numpy as np

from kinema.world.captions import caption_scene, object_sentences
from kinema.world.motion import describe_motion
from kinema.world.prompts import parse_prompt
from kinema.world.sim import simulate
from kinema.world.splits import sample_scene


def _scenes(n=40):
    for seed in range(n):
        spec = sample_scene(("id", "ood", "combo")[seed % 3], seed)
        yield seed, spec, simulate(spec)


def test_bounce_mentioned_exactly_when_bounce_event():
    for seed, spec, traj in _scenes():
        sentences = object_sentences(spec, traj, seed)
        assert len(sentences) == len(spec.objects)
        for i, (obj, text) in enumerate(zip(spec.objects, sentences)):
            bounced = any(e.kind == "bounce" and i in e.objects for e in traj.events)
            assert ("bounc" in text.lower()) == bounced, (text, traj.events)
            assert obj.colour in text and obj.shape in text
        caps = caption_scene(spec, traj, seed)
        any_bounce = any(e.kind == "bounce" for e in traj.events)
        for level in ("short", "medium", "detailed"):
            assert ("bounc" in caps[level]) <= any_bounce
            for obj in spec.objects:
                assert obj.colour in caps[level] and obj.shape in caps[level], caps[level]


def test_captions_use_parser_vocabulary():
    for seed, spec, traj in _scenes(15):
        caps = caption_scene(spec, traj, seed)
        for level in ("short", "medium"):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                parse_prompt(caps[level])


def test_several_phrasings_and_determinism():
    spec = sample_scene("id", 5)
    traj = simulate(spec)
    caps = [caption_scene(spec, traj, s) for s in range(12)]
    assert caps[0] == caption_scene(spec, traj, 0)
    for level in ("short", "medium", "detailed"):
        assert len({c[level] for c in caps}) >= 2


def test_describe_motion_from_track_only():
    # a track with no events, as the evaluation parses from pixels: |cos| hops to the right

    t = np.arange(33) / 16
    x = 2 + 1.5 * t
    m = describe_motion(np.stack([x, 1 + np.abs(np.cos(2.5 * t)) * 4], 1), 16, "ball")
    assert "bounces" in m.verbs and m.horizontal == "right"
    still = describe_motion(np.tile([[5.0, 1.0]], (33, 1)), 16, "box")
    assert still.verbs == () and not still.moved and still.horizontal == "none"
