"""Rectified-flow math: convention, schedules, masks, loss and samplers."""

import pytest
import torch

from kinema import flow


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_interpolate_endpoints_and_per_frame_t():
    g = _gen()
    x0, eps = torch.randn(2, 3, 4, 5, 6, generator=g), torch.randn(2, 3, 4, 5, 6, generator=g)
    t = torch.tensor([[0.0, 1.0, 0.5, 0.25], [1.0, 0.0, 0.0, 1.0]])
    xt = flow.interpolate(x0, eps, t)
    assert torch.equal(xt[0, :, 0], x0[0, :, 0])  # t = 0 is data
    assert torch.equal(xt[0, :, 1], eps[0, :, 1])  # t = 1 is noise
    torch.testing.assert_close(xt[0, :, 2], 0.5 * (x0[0, :, 2] + eps[0, :, 2]))
    # the velocity target is d x_t / dt
    dt = 1e-3
    fd = (flow.interpolate(x0, eps, t + dt) - xt) / dt
    torch.testing.assert_close(fd, flow.velocity_target(x0, eps), atol=1e-2, rtol=1e-2)


def test_logit_normal_is_seeded_and_in_range():
    a = flow.sample_logit_normal((1000,), _gen(1))
    b = flow.sample_logit_normal((1000,), _gen(1))
    assert torch.equal(a, b)
    assert (a > 0).all() and (a < 1).all()
    assert abs(a.median().item() - 0.5) < 0.05


def test_shift_timesteps():
    t = torch.linspace(0, 1, 11)
    assert torch.allclose(flow.shift_timesteps(t, 1.0), t)
    s = flow.shift_timesteps(t, 3.0)
    assert s[0] == 0 and s[-1] == 1 and (s[1:-1] > t[1:-1]).all()  # pushed towards noise
    torch.testing.assert_close(flow.shift_timesteps(flow.shift_timesteps(t, 2.0), 1.5), flow.shift_timesteps(t, 3.0))
    assert flow.shift_for_tokens(1024, base_tokens=256) == pytest.approx(2.0)
    assert flow.shift_for_tokens(256, base_tokens=256, base_shift=3.0) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="shift"):
        flow.shift_timesteps(t, 0.0)


def test_sample_frame_times_mixes_shared_and_independent():
    t = flow.sample_frame_times(400, 5, _gen(2), p_independent=0.5)
    assert t.shape == (400, 5) and (t > 0).all() and (t < 1).all()
    shared = (t == t[:, :1]).all(dim=1)
    assert 0.3 < shared.float().mean() < 0.7
    assert flow.sample_frame_times(10, 5, _gen(3), p_independent=0.0).eq(
        flow.sample_frame_times(10, 5, _gen(3), p_independent=0.0)[:, :1]).all()
    assert torch.equal(flow.sample_frame_times(8, 4, _gen(4)), flow.sample_frame_times(8, 4, _gen(4)))


def test_condition_masks():
    assert flow.condition_mask(5, first=2).tolist() == [True, True, False, False, False]
    assert flow.condition_mask(5, first=1, last=1).tolist() == [True, False, False, False, True]
    assert flow.condition_mask(4, frames=(-1,)).tolist() == [False, False, False, True]
    with pytest.raises(ValueError, match="fewer conditioning frames"):
        flow.condition_mask(3, first=2, last=2)

    m = flow.sample_condition_mask(500, 6, _gen(5))
    assert m.shape == (500, 6) and m.dtype == torch.bool
    assert (~m).any(dim=1).all()  # every clip keeps a noisy frame
    assert (~m.any(dim=1)).float().mean() > 0.4  # "none" is the most common mode
    first = flow.sample_condition_mask(50, 6, _gen(6), probs={"first": 1.0})
    assert first[:, 0].all() and not first[:, -1].any()
    # prefix-shaped: once a frame is noisy, all later ones are
    assert (first[:, 1:] <= first[:, :-1]).all()
    assert not flow.sample_condition_mask(4, 1, _gen(7), probs={"first": 1.0}).any()
    with pytest.raises(ValueError, match="choose from"):
        flow.sample_condition_mask(2, 4, _gen(), probs={"middle": 1.0})


def test_flow_loss_masks_frames_in_fp32():
    g = _gen(8)
    x0, eps = torch.randn(2, 3, 4, 2, 2, generator=g), torch.randn(2, 3, 4, 2, 2, generator=g)
    v = (eps - x0).clone()
    v[:, :, 0] += 10.0  # a wrong prediction on frame 0 only
    mask = torch.ones(2, 4, dtype=torch.bool)
    assert flow.flow_loss(v, x0, eps, mask) > 1
    mask[:, 0] = False
    assert flow.flow_loss(v, x0, eps, mask) == 0
    assert flow.flow_loss(v.bfloat16(), x0, eps, mask).dtype == torch.float32
    empty = torch.zeros(2, 4, dtype=torch.bool)
    vp = v.clone().requires_grad_()
    loss = flow.flow_loss(vp, x0, eps, empty)
    loss.backward()
    assert loss == 0 and vp.grad is not None


def test_timesteps_schedule():
    ts = flow.timesteps(10)
    assert ts.shape == (11,) and ts[0] == 1 and ts[-1] == 0 and (ts[1:] < ts[:-1]).all()
    sd = flow.timesteps(5, shift=3.0, start=0.6)
    assert sd[0].item() == pytest.approx(0.6) and sd[-1] == 0
    with pytest.raises(ValueError, match="num_steps"):
        flow.timesteps(0)


def _straight_field(x0: torch.Tensor):
    """Exact velocity of the flow to a single point x0: v = (x_t - x0) / t (linear in x)."""
    def velocity(x, t):
        return (x - x0) / t[:, None, :, None, None]
    return velocity


@pytest.mark.parametrize("sampler", [flow.sample_euler, flow.sample_heun, flow.sample_dpm2m])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_samplers_exact_on_straight_field(sampler, shift):
    g = _gen(9)
    x0 = torch.randn(2, 3, 4, 4, 4, generator=g, dtype=torch.float64)
    x1 = torch.randn(2, 3, 4, 4, 4, generator=g, dtype=torch.float64)
    out = sampler(_straight_field(x0), x1, flow.timesteps(7, shift=shift))
    torch.testing.assert_close(out, x0, atol=1e-10, rtol=1e-10)
    # SDEdit: start at t = strength on the straight path, land on the same point
    xs = flow.interpolate(x0, x1, torch.full((2, 4), 0.4, dtype=torch.float64))
    torch.testing.assert_close(sampler(_straight_field(x0), xs, flow.timesteps(3, start=0.4)), x0)


def test_heun_beats_euler_on_gaussian_field():
    # data N(mu, s^2), noise N(0, 1): the marginal velocity is linear in x and the ODE
    # maps x1 to mu + s (x1) (closed form), so the solvers' errors are measurable.
    mu, s = 2.0, 0.5
    velocity = _gaussian_field(mu, s)
    x1 = torch.randn(1, 1, 1, 8, 8, generator=_gen(10), dtype=torch.float64)
    exact = mu + s * x1
    ts = flow.timesteps(8)
    err_e = (flow.sample_euler(velocity, x1, ts) - exact).abs().max()
    err_h = (flow.sample_heun(velocity, x1, ts) - exact).abs().max()
    assert err_h < err_e / 5


def _counted(velocity):
    calls = []

    def counted(x, t):
        calls.append(float(t.max()))
        return velocity(x, t)
    return counted, calls


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_dpm_solver_is_second_order_at_one_pass_a_step(shift):
    # On the Gaussian field: DPM-Solver++(2M) at N steps calls the model N times and lands as
    # close as Heun's 2N - 1 calls, far closer than Euler's N.
    velocity = _gaussian_field(2.0, 0.5)
    x1 = torch.randn(1, 1, 1, 8, 8, generator=_gen(12), dtype=torch.float64)
    exact = 2.0 + 0.5 * x1
    ts = flow.timesteps(16, shift=shift)
    counted, calls = _counted(velocity)
    err_d = (flow.sample_dpm2m(counted, x1, ts) - exact).abs().max()
    err_e = (flow.sample_euler(velocity, x1, ts) - exact).abs().max()
    err_h = (flow.sample_heun(velocity, x1, ts) - exact).abs().max()
    assert len(calls) == 16 and calls[0] == pytest.approx(1.0)
    assert err_d < err_e / 2.5
    assert err_d < 2 * err_h
    # from 8 steps to 16 its error shrinks by more than Euler's first-order factor of 2 (3.0 and
    # 4.1 here; at many more steps the ends' long log-SNR intervals add a first-order term)
    err_d8 = (flow.sample_dpm2m(velocity, x1, flow.timesteps(8, shift=shift)) - exact).abs().max()
    assert err_d8 / err_d > 2.5


def test_dpm_solver_first_two_and_last_steps_are_euler():
    # From t = 1 the first step has nothing before it and the second's predecessor sits at
    # lam = -inf, and the last goes to t = 0: all three are first order, so with three steps the
    # solver is Euler; from the third of four steps on it is not.
    g = _gen(13)
    x1 = torch.randn(1, 2, 3, 4, 4, generator=g, dtype=torch.float64)
    w = torch.randn(2, 2, dtype=torch.float64, generator=g)

    def velocity(x, t):  # a field curved in t, so a second-order step differs from Euler's
        return torch.einsum("ij,bjthw->bithw", w, x) * (1 + t[:, None, :, None, None] ** 2)
    for n in (1, 2, 3):
        ts = flow.timesteps(n, shift=2.0)
        torch.testing.assert_close(flow.sample_dpm2m(velocity, x1, ts), flow.sample_euler(velocity, x1, ts))
    four = flow.timesteps(4, shift=2.0)
    assert not torch.allclose(flow.sample_dpm2m(velocity, x1, four), flow.sample_euler(velocity, x1, four))
    # an SDEdit schedule (start < 1) has a finite lam from the first step: the second is second order
    sde = flow.timesteps(3, start=0.6)
    assert not torch.allclose(flow.sample_dpm2m(velocity, x1, sde), flow.sample_euler(velocity, x1, sde))


@pytest.mark.parametrize("sampler", [flow.sample_euler, flow.sample_heun, flow.sample_dpm2m])
def test_clean_frames_come_back_bit_identical(sampler):
    g = _gen(11)
    x = torch.randn(2, 4, 5, 3, 3, generator=g)
    clean = torch.randn(2, 4, 5, 3, 3, generator=g)
    mask = flow.condition_mask(5, first=1, last=2)
    seen = []

    def velocity(x, t):
        seen.append(t.clone())
        return torch.sin(3 * x) + 0.7  # anything, nonzero on clean frames too

    steps = []
    out = sampler(velocity, x, flow.timesteps(4, shift=2.0), clean=clean, clean_mask=mask,
                  callback=lambda i, t, xi, x0p: steps.append(i))
    assert torch.equal(out[:, :, mask], clean[:, :, mask])
    assert not torch.equal(out[:, :, ~mask], x[:, :, ~mask])
    assert all((tf[:, mask] == 0).all() and (tf[:, ~mask] > 0).all() for tf in seen)
    assert steps == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="clean="):
        sampler(velocity, x, flow.timesteps(2), clean_mask=mask)


def _gaussian_field(mu: float, s: float):
    """Exact velocity E[eps - x0 | x_t] for data N(mu, s^2) and noise N(0, 1)."""
    def velocity(x, t):
        t = t[:, None, :, None, None].double()
        var = (1 - t) ** 2 * s**2 + t**2
        return -mu + ((t - (1 - t) * s**2) / var) * (x - (1 - t) * mu)
    return velocity


def test_stochastic_sampler_eta_zero_is_euler_and_lands_on_a_point():
    g = _gen(12)
    x0 = torch.randn(2, 3, 4, 4, 4, generator=g, dtype=torch.float64)
    x1 = torch.randn(2, 3, 4, 4, 4, generator=g, dtype=torch.float64)
    ts = flow.timesteps(7, shift=3.0)
    field = _gaussian_field(1.0, 0.3)
    assert torch.equal(flow.sample_stochastic(field, x1, ts, eta=0.0), flow.sample_euler(field, x1, ts))
    # to a single point every step predicts x0 exactly, so any amount of fresh noise is forgotten
    for eta in (0.5, 1.0):
        out = flow.sample_stochastic(_straight_field(x0), x1, ts, eta=eta, generator=_gen(1))
        torch.testing.assert_close(out, x0, atol=1e-10, rtol=1e-10)


def test_stochastic_sampler_keeps_the_data_distribution():
    # Gaussian data and the exact field: DDPM (eta 1) and a half-way eta both end at N(mu, s^2)
    # (up to the steps' first-order error: 0.49 at 200 steps, 0.47 at 50); fresh noise added
    # without taking as much out of eps^ would widen the spread, too little would narrow it
    mu, s = 2.0, 0.5
    x1 = torch.randn(1, 1, 1, 200, 200, generator=_gen(13), dtype=torch.float64)
    for eta in (0.5, 1.0):
        out = flow.sample_stochastic(_gaussian_field(mu, s), x1, flow.timesteps(200), eta=eta, generator=_gen(2))
        assert abs(out.mean().item() - mu) < 0.01
        assert abs(out.std().item() - s) < 0.015
        # and it is a different draw from the ODE's, more so with more noise
        assert (out - (mu + s * x1)).abs().mean() > 0.05


def test_stochastic_sampler_seed_clean_frames_and_eta_range():
    g = _gen(14)
    x = torch.randn(2, 4, 5, 3, 3, generator=g)
    clean = torch.randn(2, 4, 5, 3, 3, generator=g)
    mask = flow.condition_mask(5, first=2)
    field = lambda x, t: torch.sin(3 * x) + 0.7  # noqa: E731
    ts = flow.timesteps(4)
    a = flow.sample_stochastic(field, x, ts, generator=_gen(5), clean=clean, clean_mask=mask)
    b = flow.sample_stochastic(field, x, ts, generator=_gen(5), clean=clean, clean_mask=mask)
    c = flow.sample_stochastic(field, x, ts, generator=_gen(6), clean=clean, clean_mask=mask)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[:, :, mask], clean[:, :, mask])
    for eta in (-0.1, 1.5):
        with pytest.raises(ValueError, match="eta"):
            flow.sample_stochastic(field, x, ts, eta=eta)
    with pytest.raises(ValueError, match="t_min"):
        flow.sample_stochastic(field, x, ts, t_min=1.5)


def test_stochastic_sampler_t_min_keeps_the_low_t_steps_deterministic(monkeypatch):
    """Steps that start at or below t_min draw no noise; t_min = 1 is the Euler sampler itself."""
    x = torch.randn(1, 2, 3, 4, 4, generator=_gen(15), dtype=torch.float64)
    field = _gaussian_field(0.5, 0.7)
    ts = flow.timesteps(6)  # 1, 5/6, ..., 1/6, 0
    assert torch.equal(flow.sample_stochastic(field, x, ts, t_min=1.0, generator=_gen(3)), flow.sample_euler(field, x, ts))
    draws = []
    randn = torch.randn
    monkeypatch.setattr(torch, "randn", lambda *a, **k: draws.append(a) or randn(*a, **k))
    flow.sample_stochastic(field, x, ts, t_min=0.5, generator=_gen(3))
    assert len(draws) == 3  # the steps from t = 1, 5/6 and 4/6; none from 1/2 down


def test_frame_noise_shares_a_part_across_frames_only():
    """Each frame N(0, 1), any two frames correlated by `shared` at each position, positions and
    channels independent; shared = 0 is torch.randn itself; one frame is plain N(0, 1)."""
    e = flow.frame_noise((512, 4, 3, 8, 8), _gen(20), shared=0.6)  # (B, C, T, H, W)
    assert abs(e.var().item() - 1.0) < 0.02
    frames = e.transpose(0, 2).reshape(3, -1)  # (T, everything else)
    corr = torch.corrcoef(frames)
    assert torch.allclose(corr[~torch.eye(3, dtype=torch.bool)], torch.tensor(0.6), atol=0.02)
    # the frame-to-frame difference keeps 2 (1 - shared) of the variance: the shared part cancels
    assert abs((e[:, :, 1] - e[:, :, 0]).var().item() - 0.8) < 0.02
    space = torch.corrcoef(torch.stack([e[:, :, :, 0, 0].flatten(), e[:, :, :, 0, 1].flatten()]))[0, 1]
    assert abs(space.item()) < 0.03  # nothing shared across positions
    assert torch.equal(flow.frame_noise((2, 3, 4, 5), _gen(21)), torch.randn((2, 3, 4, 5), generator=_gen(21)))
    one = flow.frame_noise((20000, 1, 1, 1), _gen(22), shared=0.9)
    assert abs(one.std().item() - 1.0) < 0.02
    a, b = (flow.frame_noise((2, 4, 3, 8, 8), _gen(23), shared=0.5) for _ in range(2))
    assert torch.equal(a, b)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"shared must be in \[0, 1\)"):
            flow.frame_noise((2, 3, 4, 5), _gen(0), shared=bad)


def test_stochastic_sampler_draws_its_fresh_noise_shared_across_frames():
    """With v = 0 from x = 0 the result is the steps' fresh noise alone, scaled alike on every frame:
    its frames correlate by noise_shared."""
    x = torch.zeros(64, 4, 3, 8, 8)
    field = lambda x, t: torch.zeros_like(x)  # noqa: E731
    for shared in (0.0, 0.7):
        out = flow.sample_stochastic(field, x, flow.timesteps(4), generator=_gen(24), noise_shared=shared)
        corr = torch.corrcoef(out.transpose(0, 2).reshape(3, -1))
        assert out.abs().sum() > 0
        assert torch.allclose(corr[~torch.eye(3, dtype=torch.bool)], torch.tensor(shared), atol=0.03)


def test_guided_velocity():
    c, u = torch.ones(3), torch.zeros(3)
    assert torch.equal(flow.guided_velocity(c, u, 1.0), c)
    assert torch.equal(flow.guided_velocity(c, u, 5.0), 5 * c)


def test_cfg_zero_star_rescales_the_unconditional_velocity_per_sample():
    """s = <v_c, v_u> / |v_u|^2 per sample: v_u = 2 v_c gives s = 1/2, so s v_u = v_c and guidance
    at any scale returns v_c; v_u orthogonal to v_c gives s = 0, so scale x v_c; plain CFG differs."""
    c = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    u = torch.tensor([[2.0, 4.0, 0.0], [1.0, 0.0, 0.0]])
    out = flow.guided_velocity(c, u, 4.0, zero_star=True)
    assert torch.allclose(out[0], c[0]) and torch.allclose(out[1], 4.0 * c[1])
    assert not torch.allclose(flow.guided_velocity(c, u, 4.0), out)
    assert torch.allclose(flow.guided_velocity(c, u, 1.0, zero_star=True), c)  # scale 1: v_c


def test_smooth_frames_is_a_121_filter_along_time_only():
    """An impulse in one frame spreads [1, 2, 1] / 4 to its neighbours, each pass; a clip constant
    in time is unchanged (ends replicated); height and width are never mixed; one frame passes."""
    x = torch.zeros(1, 2, 5, 3, 4)
    x[:, :, 2, 1, 1] = 4.0
    once = flow.smooth_frames(x, 1)
    assert torch.equal(once[0, 0, :, 1, 1], torch.tensor([0.0, 1.0, 2.0, 1.0, 0.0]))
    assert once[..., 0, :].abs().sum() == 0 and once[..., :, 0].abs().sum() == 0  # no spatial leak
    twice = flow.smooth_frames(x, 2)
    assert torch.allclose(twice[0, 1, :, 1, 1], torch.tensor([0.25, 1.0, 1.5, 1.0, 0.25]))
    assert torch.allclose(twice.sum(2), x.sum(2))  # the filter keeps the mean over time
    ramp_still = torch.randn(2, 1, 3, 3).expand(2, 6, 3, 3)  # (C, T, H, W): the same frame 6 times
    assert torch.allclose(flow.smooth_frames(ramp_still, 3), ramp_still)
    one = torch.randn(1, 4, 1, 2, 2)
    assert torch.equal(flow.smooth_frames(one, 2), one) and torch.equal(flow.smooth_frames(x, 0), x)
