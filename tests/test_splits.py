"""Splits: deterministic, id free of held-out combos, ood outside the training ranges."""

import pytest

from kinema.world.motion import scene_motions
from kinema.world.sim import simulate
from kinema.world.spec import SIZE_JITTER, SIZES, SPEED_RANGE, speed
from kinema.world.splits import COMBO_HELDOUT, SPLITS, sample_prompt, sample_scene


def test_deterministic_and_split_dependent():
    for split in SPLITS:
        assert sample_scene(split, 7) == sample_scene(split, 7)
    assert sample_scene("id", 7) != sample_scene("id", 8)
    assert sample_scene("id", 7) != sample_scene("ood", 7)


def test_unknown_split_names_valid_ones():
    with pytest.raises(ValueError, match="id, ood, combo"):
        sample_scene("train", 0)


def test_id_never_shows_heldout_combo_and_stays_in_ranges():
    kinds = set()
    for seed in range(60):
        spec = sample_scene("id", seed)
        assert 1 <= len(spec.objects) <= 3
        for obj, m in zip(spec.objects, scene_motions(spec, simulate(spec))):
            for verb in m.verbs:
                assert (obj.colour, obj.shape, verb) not in COMBO_HELDOUT
            kinds.update(m.verbs)
            assert abs(obj.r / SIZES[obj.size] - 1) <= SIZE_JITTER + 1e-9
            assert speed(obj.velocity) <= SPEED_RANGE[1]
            assert obj.r < obj.position[0] < 10 - obj.r
    assert {"falls", "bounces", "rolls", "slides", "collides"} <= kinds


def test_combo_shows_a_heldout_combo():
    for seed in range(15):
        spec = sample_scene("combo", seed)
        motions = scene_motions(spec, simulate(spec))
        assert any((o.colour, o.shape, v) in COMBO_HELDOUT for o, m in zip(spec.objects, motions) for v in m.verbs)


def test_ood_outside_training_ranges():
    id_ranges = [(r * (1 - SIZE_JITTER), r * (1 + SIZE_JITTER)) for r in SIZES.values()]
    for seed in range(20):
        for obj in sample_scene("ood", seed).objects:
            assert not any(lo <= obj.r <= hi for lo, hi in id_ranges)
            assert speed(obj.velocity) > SPEED_RANGE[1]


def test_sample_prompt_is_short_text():
    p = sample_prompt("id", 3)
    assert isinstance(p, str) and 0 < len(p) < 120 and p == sample_prompt("id", 3)
