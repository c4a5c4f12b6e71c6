"""Variance guidance (`flow.variance_guide`, SampleConfig.steady_*): its two scores on known
clips, its Adam step on a known field, the samplers' guide hook, and the pipeline's option."""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import tiny_pipeline

from kinema import flow
from kinema.models.text import TextEncoder
from kinema.pipeline import KinemaPipeline, SampleConfig

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
    assert flow.moment_drift(moving_square()).item() == pytest.approx(0.0, abs=1e-12)
    # frame 2 loses the square: each channel's mean runs 1/16, 1/16, 0, 1/16, 1/16 over the frames
    mean_var = np.var([1 / 16] * 4 + [0.0])
    std_var = np.var([torch.tensor([1.0] * 4 + [0.0] * 60).std().item()] * 4 + [0.0])  # sample std, 64 cells
    assert flow.moment_drift(moving_square(gone=2)).item() == pytest.approx(2 * (mean_var + std_var), rel=1e-5)


def test_flowmo_score_is_zero_for_a_still_clip_and_positive_for_a_flicker():
    still = moving_square(frames=1).expand(1, 2, 5, 8, 8).contiguous()
    assert flow.frame_change_variance(still).item() == 0.0
    flicker = still.clone()
    flicker[:, :, 2] = 0.0  # the square gone in the middle frame
    # at the square's cells |change| runs 0, 1, 1, 0 over the four frame pairs: variance 0.25
    assert flow.frame_change_variance(flicker).item() == pytest.approx(0.25)


def test_the_guide_takes_adam_steps_down_the_score_on_free_frames_only():
    """With v = 0 the clean prediction is the sample itself, so one Adam step moves every free
    element by lr g / (|g| + 1e-8) against its gradient g (Adam's bias-corrected first step); frames at t = 0 stay, the step
    keeps the unmoved sample's velocity, and steps past `steps` or one-frame windows are left alone."""
    x = moving_square(gone=2) + 0.1 * torch.randn(1, 2, 5, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([[0.0, 0.9, 0.9, 0.9, 0.9]])
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    guide = flow.variance_guide(zero, steps=2, iters=1, lr=0.01)
    moved, v = guide(0, x, t)
    grad = torch.func.grad(flow.moment_drift)(x)
    want = x - 0.01 * grad / (grad.abs() + 1e-8)
    want[:, :, 0] = x[:, :, 0]  # the given frame
    assert torch.allclose(moved, want, atol=1e-6) and torch.equal(v, torch.zeros_like(x))
    assert flow.moment_drift(moved) < flow.moment_drift(x)
    assert guide(2, x, t) is None  # past the guided steps
    assert guide(0, x[:, :, :1], t[:, :1]) is None  # a still
    many = flow.variance_guide(zero, steps=1, iters=20, lr=0.01)(0, x, t)[0]
    assert flow.moment_drift(many) < flow.moment_drift(moved)
    with pytest.raises(ValueError, match="iters"):
        flow.variance_guide(zero, steps=1, iters=0)


@pytest.mark.parametrize("sampler", [flow.sample_euler, flow.sample_heun, flow.sample_stochastic])
def test_every_sampler_starts_its_step_from_the_guides_sample_and_velocity(sampler):
    """A guide that moves the sample by +1 on step 0 and hands back v = 0 there: with a zero
    field every sampler ends at x + 1 on the free frames; the given frames come back clean; a
    guide that declines every step changes nothing."""
    x = torch.randn(1, 2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    clean = torch.full_like(x, 7.0)
    mask = torch.tensor([[True, False, False]])
    ts = flow.timesteps(3)
    zero = lambda x, t: torch.zeros_like(x)  # noqa: E731
    shift = lambda i, x, t: (x + 1, torch.zeros_like(x)) if i == 0 else None  # noqa: E731
    kwargs = {"eta": 0.0} if sampler is flow.sample_stochastic else {}
    out = sampler(zero, x, ts, clean=clean, clean_mask=mask, guide=shift, **kwargs)
    assert torch.allclose(out[:, :, 1:], x[:, :, 1:] + 1) and torch.equal(out[:, :, :1], clean[:, :, :1])
    field = lambda x, t: 0.3 * x  # noqa: E731
    assert torch.equal(sampler(field, x, ts, guide=lambda i, x, t: None, **kwargs), sampler(field, x, ts, **kwargs))


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline(SMALL, TextEncoder())


def test_the_pipeline_steadies_windows_drawn_from_noise_when_asked(pipe, tmp_path):
    """steady_steps = 0 (the default) samples as before; > 0 changes the clip, seeded, and is
    saved with the model; the DiT's weights get no gradient; an edit starts
    from its source and is left alone; every sampler takes it; bad settings are refused."""
    plain = pipe("a red ball bounces", seed=1).frames
    steady = dataclasses.replace(SMALL, steady_steps=2, steady_iters=2, steady_lr=0.5)
    model = KinemaPipeline(pipe.vae, pipe.dit, pipe.text_encoder, pipe.null_text, steady)
    a = model("a red ball bounces", seed=1)
    assert not np.array_equal(a.frames, plain)
    assert np.array_equal(model("a red ball bounces", seed=1).frames, a.frames)
    assert all(p.grad is None for p in model.dit.parameters())  # gradients reach the sample only
    model.save_pretrained(tmp_path / "m")
    loaded = KinemaPipeline.from_pretrained(tmp_path / "m").config
    assert (loaded.steady_steps, loaded.steady_iters, loaded.steady_lr) == (2, 2, 0.5)
    assert model.config.sampler_settings["steady_steps"] == 2 and "steady_steps" not in SMALL.sampler_settings
    edit_plain = pipe.edit(a, "a blue ball", strength=0.6, seed=2).frames
    assert np.array_equal(model.edit(a, "a blue ball", strength=0.6, seed=2).frames, edit_plain)
    for name in ("heun", "stochastic"):
        model.config = dataclasses.replace(steady, sampler=name)
        assert model("a red ball bounces", seed=1).frames.shape == plain.shape
    for bad in ({"steady_steps": -1}, {"steady_iters": 0}, {"steady_lr": 0.0}, {"steady_score": "clip"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            dataclasses.replace(SMALL, **bad)
