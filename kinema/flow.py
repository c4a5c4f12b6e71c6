"""Rectified-flow math as pure functions: noising, timestep draws, masks, loss, samplers.

Convention (stated once, used everywhere in Kinema):

    t = 1 is pure noise, t = 0 is data.
    x_t = (1 - t) * x0 + t * eps          (Liu et al. 2022; Lipman et al. 2022)
    v   = dx_t/dt = eps - x0              (the regression target of the DiT)

Every latent frame carries its own t (Diffusion Forcing, Chen et al. 2024), so noise levels
are (B, T) and broadcast over (C, H, W) of latents shaped (B, C, T, H, W). A frame given
clean ("conditioning frame") has t = 0, is held fixed by the samplers and is left out of
the loss; choosing which frames are clean is how every generation mode works.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

__all__ = [
    "CONDITION_MODES",
    "CONDITION_PROBS",
    "frame_noise",
    "interpolate",
    "velocity_target",
    "sample_logit_normal",
    "shift_timesteps",
    "shift_for_tokens",
    "sample_frame_times",
    "sample_condition_mask",
    "condition_mask",
    "flow_loss",
    "timesteps",
    "sample_euler",
    "sample_heun",
    "sample_dpm2m",
    "sample_stochastic",
    "guided_velocity",
    "moment_drift",
    "frame_change_variance",
    "STEADY_SCORES",
    "variance_guide",
]

# Velocity field seen by the samplers: velocity(x (B, C, T, H, W), t (B, T)) -> v like x.
VelocityFn = Callable[[Tensor, Tensor], Tensor]
# callback(step, t, x, x0_pred): after each step; x is at ts[step + 1], x0_pred = x_t - t * v.
Callback = Callable[[int, float, Tensor, Tensor], None]
# guide(step, x, t_frames) -> (x', v) or None: before a step, a sample x' to take the step from
# and the velocity to take it with (in place of velocity(x, t_frames)); None leaves the step alone.
Guide = Callable[[int, Tensor, Tensor], "tuple[Tensor, Tensor] | None"]

# Conditioning modes drawn in training (Open-Sora v1.2 style masks).
CONDITION_MODES = ("none", "first", "last", "first_last", "random")
# A training default: mostly unconditional, the rest spread over the inference modes.
CONDITION_PROBS: Mapping[str, float] = {
    "none": 0.6, "first": 0.15, "last": 0.05, "first_last": 0.1, "random": 0.1,
}


def _per_frame(t: Tensor) -> Tensor:
    """(B, T) -> (B, 1, T, 1, 1), to broadcast over latents (B, C, T, H, W)."""
    return t[:, None, :, None, None]


def frame_noise(
    shape: tuple[int, ...] | torch.Size,
    generator: torch.Generator | None = None,
    *,
    shared: float = 0.0,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Gaussian noise for latents (..., T, H, W) whose frames share part of it.

    eps_k = sqrt(shared) s + sqrt(1 - shared) n_k with s, n_k ~ N(0, I): every frame is N(0, I)
    and any two frames correlate by `shared` at each position (PYoCo's mixed noise, Ge et al.
    2023). Iid noise asks a video model to tie each frame's own noise to one object; noise
    that frames share leaves less of it to tie. The model must be trained and sampled with the
    same value. shared = 0 draws exactly torch.randn(shape) (so seeds keep their videos).
    """
    if not 0.0 <= shared < 1.0:
        raise ValueError(f"shared must be in [0, 1) (the noise variance common to all frames; 0 = iid), got {shared}")
    n = torch.randn(shape, generator=generator, dtype=dtype, device=device)
    if shared == 0.0:
        return n
    s = torch.randn((*shape[:-3], 1, *shape[-2:]), generator=generator, dtype=dtype, device=device)
    return shared ** 0.5 * s + (1.0 - shared) ** 0.5 * n


def interpolate(x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
    """Point on the straight path between data and noise.

    x0, eps: (B, C, T, H, W); t: (B, T) noise level per latent frame.
    Returns x_t = (1 - t) x0 + t eps, (B, C, T, H, W).
    """
    tt = _per_frame(t).to(x0.dtype)
    return (1 - tt) * x0 + tt * eps


def velocity_target(x0: Tensor, eps: Tensor) -> Tensor:
    """The rectified-flow regression target v = eps - x0, (B, C, T, H, W)."""
    return eps - x0


def sample_logit_normal(
    shape: tuple[int, ...] | torch.Size,
    generator: torch.Generator,
    *,
    mean: float = 0.0,
    std: float = 1.0,
    device: torch.device | str | None = None,
) -> Tensor:
    """t = sigmoid(N(mean, std^2)) in (0, 1), float32 of the given shape.

    Logit-normal puts more training signal at intermediate t, where the velocity is
    hardest to predict (Esser et al. 2024, SD3, sec. 3.1).
    """
    z = torch.randn(shape, generator=generator, device=device)
    return torch.sigmoid(mean + std * z)


def shift_timesteps(t: Tensor, shift: float) -> Tensor:
    """Warp t towards noise: t' = s t / (1 + (s - 1) t); s = 1 is the identity.

    More tokens carry more redundant signal, so the same t destroys less of the image;
    shifting keeps the effective noise comparable (Esser et al. 2024, SD3, eq. 23).
    Shifts compose multiplicatively: shift(shift(t, a), b) == shift(t, a * b).
    """
    if shift <= 0:
        raise ValueError(f"shift must be > 0 (1.0 disables it), got {shift}")
    return shift * t / (1 + (shift - 1) * t)


def shift_for_tokens(num_tokens: int, *, base_tokens: int = 256, base_shift: float = 1.0) -> float:
    """Resolution-dependent shift: base_shift * sqrt(num_tokens / base_tokens).

    SD3 (Esser et al. 2024, sec. 5.3.2) derives alpha = sqrt(m / n) for m tokens against a
    base of n; for video, num_tokens counts all spacetime tokens of the clip.
    """
    if num_tokens <= 0 or base_tokens <= 0:
        raise ValueError(f"token counts must be positive, got num_tokens={num_tokens}, base_tokens={base_tokens}")
    return base_shift * (num_tokens / base_tokens) ** 0.5


def sample_frame_times(
    batch_size: int,
    num_frames: int,
    generator: torch.Generator,
    *,
    p_independent: float = 0.5,
    mean: float = 0.0,
    std: float = 1.0,
    shift: float = 1.0,
) -> Tensor:
    """Per-frame noise levels for training, (B, T) float32 in (0, 1).

    Each clip draws, with probability p_independent, an independent logit-normal t per
    latent frame (Diffusion Forcing, Chen et al. 2024: teaches the model mixed noise
    levels for extension and streaming), otherwise one t shared by all frames (the plain
    text-to-video case the samplers start from).
    """
    if not 0.0 <= p_independent <= 1.0:
        raise ValueError(f"p_independent must be in [0, 1], got {p_independent}")
    shared = sample_logit_normal((batch_size, 1), generator, mean=mean, std=std)
    indep = sample_logit_normal((batch_size, num_frames), generator, mean=mean, std=std)
    pick = torch.rand((batch_size, 1), generator=generator) < p_independent  # (B, 1)
    t = torch.where(pick, indep, shared.expand(batch_size, num_frames))
    return shift_timesteps(t, shift) if shift != 1.0 else t


def condition_mask(num_frames: int, *, first: int = 0, last: int = 0, frames: tuple[int, ...] = ()) -> Tensor:
    """Deterministic clean-frame mask for inference, (T,) bool.

    first/last: number of leading/trailing latent frames given clean (image-to-video:
    first=1; extend: first=k; extend backward: last=k; connect: both); frames: any other
    indices (negative allowed). Expand to (B, T) or pass as is to the samplers.
    """
    if first < 0 or last < 0 or first + last > num_frames:
        raise ValueError(
            f"first={first} + last={last} clean frames do not fit in {num_frames} latent frames; "
            "use fewer conditioning frames or a longer clip"
        )
    mask = torch.zeros(num_frames, dtype=torch.bool)
    mask[:first] = True
    if last:
        mask[num_frames - last:] = True
    for i in frames:
        if not -num_frames <= i < num_frames:
            raise ValueError(f"frame index {i} out of range for {num_frames} latent frames")
        mask[i] = True
    return mask


def sample_condition_mask(
    batch_size: int,
    num_frames: int,
    generator: torch.Generator,
    *,
    probs: Mapping[str, float] = CONDITION_PROBS,
) -> Tensor:
    """Random clean-frame masks for training, (B, T) bool; True = given clean (t = 0).

    Modes as in Open-Sora v1.2: "none", "first" k, "last" k, "first_last" (k1 and k2),
    "random" frames. k is uniform and at least one frame always stays noisy, so every clip
    contributes to the loss. Clips of one latent frame are never conditioned.
    """
    unknown = set(probs) - set(CONDITION_MODES)
    if unknown:
        raise ValueError(f"unknown conditioning modes {sorted(unknown)}; choose from {CONDITION_MODES}")
    weights = torch.tensor([float(probs.get(m, 0.0)) for m in CONDITION_MODES])
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"probs must be non-negative with a positive sum, got {dict(probs)}")
    mask = torch.zeros(batch_size, num_frames, dtype=torch.bool)
    if num_frames < 2:
        return mask
    modes = torch.multinomial(weights, batch_size, replacement=True, generator=generator).tolist()
    idx = torch.arange(num_frames)

    def randint(lo: int, hi: int) -> int:  # inclusive bounds
        return int(torch.randint(lo, hi + 1, (1,), generator=generator))

    for b, m in enumerate(modes):
        mode = CONDITION_MODES[m]
        if mode == "first":
            mask[b] = idx < randint(1, num_frames - 1)
        elif mode == "last":
            mask[b] = idx >= num_frames - randint(1, num_frames - 1)
        elif mode == "first_last" and num_frames >= 3:
            k1 = randint(1, num_frames - 2)
            k2 = randint(1, num_frames - 1 - k1)
            mask[b] = (idx < k1) | (idx >= num_frames - k2)
        elif mode == "random":
            row = torch.rand(num_frames, generator=generator) < 0.5
            if row.all():  # keep one noisy frame so the clip has a loss
                row[randint(0, num_frames - 1)] = False
            mask[b] = row
    return mask


def flow_loss(v_pred: Tensor, x0: Tensor, eps: Tensor, loss_mask: Tensor | None = None) -> Tensor:
    """MSE between predicted and target velocity over the frames where loss_mask is True.

    v_pred, x0, eps: (B, C, T, H, W); loss_mask: (B, T) bool (usually ~clean_mask) or None
    for all frames. Computed in float32 whatever the autocast dtype; a batch with no
    selected frame gives 0 (still differentiable).
    """
    err = (v_pred.float() - (eps.float() - x0.float())).square().mean(dim=(1, 3, 4))  # (B, T)
    if loss_mask is None:
        return err.mean()
    w = loss_mask.to(err.dtype)
    return (err * w).sum() / w.sum().clamp_min(1.0)


def timesteps(num_steps: int, *, shift: float = 1.0, start: float = 1.0) -> Tensor:
    """The sampling schedule from start to 0, (num_steps + 1,) float32, decreasing.

    Uniform in t, warped by shift_timesteps, then scaled so it begins exactly at start:
    start < 1 is SDEdit (Meng et al. 2022), whose x begins as the source noised to
    t = start (interpolate(x0, eps, start)).
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if not 0.0 < start <= 1.0:
        raise ValueError(f"start (SDEdit strength) must be in (0, 1], got {start}")
    u = torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64)
    return (start * shift_timesteps(u, shift)).float()


def smooth_frames(x: Tensor, passes: int = 1) -> Tensor:
    """Low-pass latents (..., T, H, W) along time: `passes` times a [1, 2, 1] / 4 kernel over the
    frames, the end frames replicated (so a clip constant in time is unchanged). One frame, or
    passes = 0, returns x as it is."""
    for _ in range(passes):
        if x.shape[-3] < 2:
            break
        p = torch.cat([x[..., :1, :, :], x, x[..., -1:, :, :]], dim=-3)
        x = 0.25 * p[..., :-2, :, :] + 0.5 * p[..., 1:-1, :, :] + 0.25 * p[..., 2:, :, :]
    return x


def guided_velocity(v_cond: Tensor, v_uncond: Tensor, scale: float, *, zero_star: bool = False) -> Tensor:
    """Classifier-free guidance (Ho & Salimans 2022): v_u + scale (v_c - v_u); 1 = no guidance.

    zero_star: CFG-Zero* (Fan et al. 2025): the unconditional velocity is first scaled by
    s = <v_c, v_u> / |v_u|^2 per sample (the least-squares fit of v_c by v_u), so guidance
    extrapolates from s v_u, the part of v_u that agrees with v_c: s v_u + scale (v_c - s v_u).
    """
    if zero_star:
        dims = tuple(range(1, v_cond.ndim))
        s = (v_cond * v_uncond).sum(dims, keepdim=True) / (v_uncond.square().sum(dims, keepdim=True) + 1e-8)
        v_uncond = s * v_uncond
    return v_uncond + scale * (v_cond - v_uncond)


def _clamp_clean(x: Tensor, clean: Tensor | None, clean_mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Check the conditioning and overwrite clean frames of x; returns (x, mask (B, 1, T, 1, 1))."""
    if clean_mask is None:
        return x, None
    if clean is None:
        raise ValueError("clean_mask was given without clean latents; pass clean=(B, C, T, H, W)")
    if clean.shape != x.shape:
        raise ValueError(f"clean latents {tuple(clean.shape)} must match x {tuple(x.shape)}")
    m = clean_mask.to(torch.bool).expand(x.shape[0], x.shape[2])  # (B, T)
    m5 = _per_frame(m)
    return torch.where(m5, clean.to(x.dtype), x), m5


def _frame_times(t: Tensor | float, x: Tensor, mask5: Tensor | None) -> Tensor:
    """Scalar t -> (B, T) with clean frames at 0."""
    tf = torch.full((x.shape[0], x.shape[2]), float(t), dtype=torch.float32, device=x.device)
    return tf if mask5 is None else tf.masked_fill(mask5[:, 0, :, 0, 0], 0.0)


def _step_start(velocity: VelocityFn, guide: Guide | None, i: int, x: Tensor, tf: Tensor,
                clean: Tensor | None, m5: Tensor | None) -> tuple[Tensor, Tensor]:
    """(x, v) that step i starts from: the guide's moved sample and velocity where it gives them
    (given frames set back to clean), else x and velocity(x, tf)."""
    moved = guide(i, x, tf) if guide is not None else None
    if moved is None:
        return x, velocity(x, tf)
    x, v = moved
    return (x if m5 is None else torch.where(m5, clean.to(x.dtype), x)), v


def moment_drift(x0: Tensor) -> Tensor:
    """How much a clip's latent frames' statistics drift over time, blind to motion: the variance
    over frames of each frame's per-channel spatial mean and standard deviation, summed over
    channels, averaged over the batch. x0: (B, C, T, H, W). An object that moves within the frame
    keeps its frame's moments; one that appears, vanishes or splits changes them."""
    mean, std = x0.mean(dim=(-2, -1)), x0.std(dim=(-2, -1))  # (B, C, T) each
    return (mean.var(dim=2, unbiased=False) + std.var(dim=2, unbiased=False)).sum(dim=1).mean()


def frame_change_variance(x0: Tensor) -> Tensor:
    """FlowMo's temporal incoherence of a clip (Shaulov et al. 2025): the variance over time of
    the frame-to-frame change |x0[f+1] - x0[f]|, averaged over channels, at the latent position
    (and batch element) where it is largest. x0: (B, C, T, H, W). It counts an object that moves
    as incoherent too."""
    change = (x0[:, :, 1:] - x0[:, :, :-1]).abs()  # (B, C, T-1, H, W)
    return change.var(dim=2, unbiased=False).mean(dim=1).amax()


# the scores variance guidance lowers, by SampleConfig.steady_score
STEADY_SCORES: Mapping[str, Callable[[Tensor], Tensor]] = {"moments": moment_drift, "flowmo": frame_change_variance}


def variance_guide(
    velocity: VelocityFn,
    *,
    steps: int,
    iters: int = 3,
    lr: float = 0.007,
    score: Callable[[Tensor], Tensor] = moment_drift,
) -> Guide:
    """Variance guidance on the first `steps` steps (FlowMo, Shaulov et al. 2025), a guide for
    the samplers. Before each of those steps, `iters` Adam steps (learning rate lr) move the
    sample x_t down the gradient of score(x0), x0 = x_t - t v(x_t) the clean prediction (the
    gradient flows through the model); the step is then taken from the moved sample with the
    velocity of the unmoved one, as FlowMo does. Frames at t = 0 (given) are not moved; a window
    of one latent frame has no time to steady and is left alone. With the motion-blind
    moment_drift, it lowers the flicker of objects that appear and vanish while leaving moving
    objects free (docs/experiments.md, "Variance guidance on the first steps")."""
    if steps < 0 or iters < 1 or lr < 0:
        raise ValueError(f"variance guidance needs steps >= 0, iters >= 1 and lr >= 0; got {steps}, {iters}, {lr}")

    def guide(i: int, x: Tensor, t_frames: Tensor) -> tuple[Tensor, Tensor] | None:
        if i >= steps or x.shape[2] < 2:
            return None
        with torch.no_grad():
            v0 = velocity(x, t_frames)
        t5 = _per_frame(t_frames).to(x.dtype)
        free = (t5 > 0).to(x.dtype)  # given frames (t = 0) stay where they are
        moved = x.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([moved], lr=lr)
        with torch.enable_grad():
            for _ in range(iters):
                x0 = moved - t5 * velocity(moved, t_frames)
                (grad,) = torch.autograd.grad(score(x0), moved)
                moved.grad = grad * free
                opt.step()
        return moved.detach(), v0

    return guide


def sample_euler(
    velocity: VelocityFn,
    x: Tensor,
    ts: Tensor,
    *,
    clean: Tensor | None = None,
    clean_mask: Tensor | None = None,
    callback: Callback | None = None,
    guide: Guide | None = None,
) -> Tensor:
    """Euler ODE solver from ts[0] to ts[-1] (the minRF / SD3 sampler).

    velocity(x, t_frames) -> v with x (B, C, T, H, W) and t_frames (B, T); x: latents at
    t = ts[0] (noise, or noised source for SDEdit); ts: (S + 1,) decreasing from timesteps().
    clean: (B, C, T, H, W) latents for the frames where clean_mask ((B, T) or (T,) bool) is
    True: those frames are set from clean, seen by the model at t = 0 and returned
    bit-identical. guide: moves the sample before a step and gives the step's velocity
    (variance_guide); clean frames stay clean. Returns x at t = ts[-1].
    """
    x, m5 = _clamp_clean(x, clean, clean_mask)
    for i in range(len(ts) - 1):
        t, t_next = float(ts[i]), float(ts[i + 1])
        x, v = _step_start(velocity, guide, i, x, _frame_times(t, x, m5), clean, m5)
        x0_pred = x - t * v
        x = x + (t_next - t) * v
        if m5 is not None:
            x = torch.where(m5, clean.to(x.dtype), x)
        if callback is not None:
            callback(i, t_next, x, x0_pred)
    return x


def sample_heun(
    velocity: VelocityFn,
    x: Tensor,
    ts: Tensor,
    *,
    clean: Tensor | None = None,
    clean_mask: Tensor | None = None,
    callback: Callback | None = None,
    guide: Guide | None = None,
) -> Tensor:
    """Heun's second-order method (Karras et al. 2022, Algorithm 1 with no churn).

    Same arguments as sample_euler. Two model calls per step, except the last step into
    t = 0, which is Euler (the velocity at t = 0 is not needed).
    """
    x, m5 = _clamp_clean(x, clean, clean_mask)
    for i in range(len(ts) - 1):
        t, t_next = float(ts[i]), float(ts[i + 1])
        x, v = _step_start(velocity, guide, i, x, _frame_times(t, x, m5), clean, m5)
        x0_pred = x - t * v
        x_euler = x + (t_next - t) * v
        if t_next > 0:
            if m5 is not None:
                x_euler = torch.where(m5, clean.to(x.dtype), x_euler)
            v2 = velocity(x_euler, _frame_times(t_next, x, m5))
            x = x + (t_next - t) * 0.5 * (v + v2)
        else:
            x = x_euler
        if m5 is not None:
            x = torch.where(m5, clean.to(x.dtype), x)
        if callback is not None:
            callback(i, t_next, x, x0_pred)
    return x


def sample_dpm2m(
    velocity: VelocityFn,
    x: Tensor,
    ts: Tensor,
    *,
    clean: Tensor | None = None,
    clean_mask: Tensor | None = None,
    callback: Callback | None = None,
    guide: Guide | None = None,
) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022), second order at one model call per step.

    Same arguments as sample_euler. In the clean prediction x0 = x - t v and the half log-SNR
    lam = log((1 - t) / t), the exact step from t to t' is
        x' = (t' / t) x + t' * integral over [lam, lam'] of e^lam x0(lam) dlam,
    and taking x0 constant over the step is the Euler step itself (for this flow, DDIM and Euler
    coincide). The multistep method instead draws x0 as a line in lam through this step's and
    the last step's predictions, D = x0 + (x0 - x0_prev) / (2 r) with r the ratio of the last
    step's lam interval to this one's, and steps with D in place of x0:
        x' = (t' / t) x + ((1 - t') - (1 - t) t' / t) D.
    The first step (nothing before it), the second from t = 1 (its predecessor's lam is -inf)
    and the last (into t = 0, where lam is +inf and the answer is D itself) are first order:
    those are the Euler steps exactly. A split schedule (search with select_step) starts its
    second part afresh. On a schedule uniform in t the steps next to t = 1 and t = 0 span
    log-SNR intervals that do not shrink with the step count, which leaves a small first-order
    term: at 8-16 steps on a smooth field the solver is as close as Heun at twice the passes; at
    many more it converges more slowly. On the shipped model's flow it lands no closer than
    Euler (docs/experiments.md, "Fewer steps, and a second-order solver").
    """
    x, m5 = _clamp_clean(x, clean, clean_mask)
    prev: tuple[float, Tensor] | None = None  # (lam, x0) of the step before
    for i in range(len(ts) - 1):
        t, t_next = float(ts[i]), float(ts[i + 1])
        x, v = _step_start(velocity, guide, i, x, _frame_times(t, x, m5), clean, m5)
        x0_pred = x - t * v
        if t_next <= 0.0:
            x = x0_pred
        else:
            lam = math.log((1.0 - t) / t) if t < 1.0 else -math.inf
            lam_next = math.log((1.0 - t_next) / t_next)
            d = x0_pred
            if prev is not None and math.isfinite(prev[0]) and math.isfinite(lam):
                r = (lam - prev[0]) / (lam_next - lam)
                d = x0_pred + (x0_pred - prev[1]) / (2.0 * r)
            x = (t_next / t) * x + ((1.0 - t_next) - (1.0 - t) * t_next / t) * d
            prev = (lam, x0_pred)
        if m5 is not None:
            x = torch.where(m5, clean.to(x.dtype), x)
        if callback is not None:
            callback(i, t_next, x, x0_pred)
    return x


def sample_stochastic(
    velocity: VelocityFn,
    x: Tensor,
    ts: Tensor,
    *,
    eta: float = 1.0,
    t_min: float = 0.0,
    generator: torch.Generator | None = None,
    noise_shared: float = 0.0,
    clean: Tensor | None = None,
    clean_mask: Tensor | None = None,
    callback: Callback | None = None,
    guide: Guide | None = None,
) -> Tensor:
    """Ancestral sampler: each step predicts (x0, eps) and re-noises part of eps with fresh noise.

    On the path x_t = a_t x0 + s_t eps (a = 1 - t, s = t), a step from t to u < t draws
    x_u = a_u x0^ + sqrt(s_u^2 - c^2) eps^ + c z with z ~ N(0, I) and
    c = eta * (s_u / s_t) sqrt(s_t^2 - (a_t s_u / a_u)^2), the DDPM posterior's std at eta = 1
    (Ho et al. 2020; DDIM's eta, Song et al. 2021). eta = 0 is deterministic and equals
    sample_euler exactly (Euler is DDIM on a straight path); eta > 0 lets every step forget part
    of what earlier, less accurate steps committed to (the churn of Karras et al. 2022).
    t_min: steps that start at t <= t_min are deterministic (Euler), so the noise only revisits
    the coarse layout decided at high t and leaves the details of low t to the ODE (Karras et
    al.'s S_tmin). Same other arguments as sample_euler; generator draws z (pass the call's,
    so a seed gives one video); noise_shared: the fresh noise's share common to all frames, the
    model's (`frame_noise`). Clean frames are held as in sample_euler.
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1] (0 = deterministic Euler, 1 = DDPM), got {eta}")
    if not 0.0 <= t_min <= 1.0:
        raise ValueError(f"t_min must be in [0, 1] (noise on steps that start above it), got {t_min}")
    x, m5 = _clamp_clean(x, clean, clean_mask)
    for i in range(len(ts) - 1):
        t, u = float(ts[i]), float(ts[i + 1])
        x, v = _step_start(velocity, guide, i, x, _frame_times(t, x, m5), clean, m5)
        x0_pred = x - t * v
        eps_pred = x + (1 - t) * v
        c = 0.0
        if eta > 0 and u > 0 and t > t_min:
            c = eta * (u / t) * max(t * t - ((1 - t) * u / (1 - u)) ** 2, 0.0) ** 0.5
        if c > 0:
            z = frame_noise(x.shape, generator, shared=noise_shared, dtype=x.dtype, device=x.device)
            x = (1 - u) * x0_pred + (u * u - c * c) ** 0.5 * eps_pred + c * z
        else:
            x = x + (u - t) * v  # the deterministic step, written as sample_euler's
        if m5 is not None:
            x = torch.where(m5, clean.to(x.dtype), x)
        if callback is not None:
            callback(i, u, x, x0_pred)
    return x
