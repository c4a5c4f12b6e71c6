"""scripts/variance_guidance_probe.py: its two scores on known clips, and its guidance on a tiny
pipeline (no step size, no change; restored after its block; Euler only)."""

import dataclasses
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_pipeline

from kinema.models.text import TextEncoder
from kinema.pipeline import KinemaPipeline, SampleConfig

probe = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "variance_guidance_probe.py"))
SMALL = SampleConfig(num_inference_steps=3, window_frames=9, context_frames=5,
                     buckets=((32, 32),), width=32, height=32, seconds=0.5)


def moving_square(frames: int = 5, gone: int | None = None) -> torch.Tensor:
    """(1, 2, T, 8, 8) latents: a 2x2 square of value 1 moving one cell right per frame (wrapping
    around, so no frame loses any of it), absent from frame `gone`."""
    x = torch.zeros(1, 2, frames, 8, 8)
    for f in range(frames):
        if f != gone:
            x[:, :, f, 3:5, (2 + f) % 8] = 1.0
            x[:, :, f, 3:5, (3 + f) % 8] = 1.0
    return x


def test_the_moment_score_ignores_motion_and_sees_an_object_vanish():
    assert probe["moment_drift"](moving_square()).item() == pytest.approx(0.0, abs=1e-12)
    assert probe["moment_drift"](moving_square(gone=2)).item() > 1e-3


def test_flowmo_score_is_zero_for_a_still_clip_and_positive_for_a_flicker():
    still = moving_square(frames=1).expand(1, 2, 5, 8, 8).contiguous()
    assert probe["incoherence"](still).item() == 0.0
    flicker = still.clone()
    flicker[:, :, 2] = 0.0  # the square gone in the middle frame
    # at the square's cells |change| runs 0, 1, 1, 0 over the four frame pairs: variance 0.25
    assert probe["incoherence"](flicker).item() == pytest.approx(0.25)


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline(SMALL, TextEncoder())


def test_guidance_without_a_step_changes_nothing_and_with_one_changes_the_clip(pipe):
    plain = pipe("a red ball bounces", seed=1).frames
    velocity = KinemaPipeline._velocity
    with probe["variance_guidance"](steps=2, iters=2, lr=0.0):
        same = pipe("a red ball bounces", seed=1).frames
    with probe["variance_guidance"](steps=2, iters=2, lr=0.5, score=probe["moment_drift"]):
        moved = pipe("a red ball bounces", seed=1).frames
    assert KinemaPipeline._velocity is velocity  # the plain velocity is back after each block
    np.testing.assert_array_equal(same, plain)
    assert not np.array_equal(moved, plain)
    assert np.array_equal(pipe("a red ball bounces", seed=1).frames, plain)


def test_guidance_takes_euler_steps_only(pipe):
    heun = KinemaPipeline(pipe.vae, pipe.dit, pipe.text_encoder, pipe.null_text,
                          dataclasses.replace(SMALL, sampler="heun"))
    with probe["variance_guidance"](steps=1, iters=1, lr=0.1), pytest.raises(ValueError, match="euler"):
        heun("a red ball bounces", seed=1)
