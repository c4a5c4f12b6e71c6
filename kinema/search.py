"""Search over starting noise: draw several candidates of a window, keep the one a verifier
scores highest against the prompt (best-of-N random search, Ma et al. 2025, "Inference-time
scaling for diffusion models beyond scaling denoising steps").

A candidate is a window solved from its own noise, either to the end or, with `select_step`,
for its first steps only; it is then judged on its clean prediction there, decoded (a flow
model's x0 = x_t - t v is a blurred draft of where the solve is heading), and only the winner
is solved on. The first candidate is the noise a plain call draws, so one candidate is the
plain sampler and the search can only add to what that call would have kept by the verifier's
measure.

The verifier is any callable (clips, prompt) -> one score per clip; VERIFIERS names the three
built in. DenoisingVerifier, the default, needs no model of its own: the generator judges its
candidates by how much the prompt helps it denoise them. ClipVerifier is the evaluation's
video-text model (kinema.eval.clip), whose similarity `kinema eval` also reports: a search with
it raises that score by construction, so judge it on the others. AttributeVerifier
(kinema.eval.attributes) reads how many objects of each kind a clip shows and what they do, and
scores the chance that the clip passes each check of the prompt.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

from kinema import flow, precision
from kinema.models.text import stack_texts

# clips (each (T, H, W, 3) uint8), prompt -> (N,) scores, higher is better
Verifier = Callable[[Sequence[np.ndarray], str], np.ndarray]


class ClipVerifier:
    """A video-text model's cosine similarity of each clip to the prompt. Clips shorter than the
    model reads (a still, a short window) are held on their last frame up to its length.

    path: a folder written by `kinema train clip`; None: the shipped one (loaded on first use).
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = path
        self._model = None

    def __call__(self, clips: Sequence[np.ndarray], prompt: str) -> np.ndarray:
        from kinema.eval.clip import DEFAULT_CLIP_DIR, load_clip_model, similarity

        if self._model is None:
            self._model = load_clip_model(DEFAULT_CLIP_DIR if self.path is None else self.path)
        n = self._model.cfg.num_frames
        held = [np.concatenate([c, np.repeat(c[-1:], n - len(c), axis=0)]) if len(c) < n else c for c in clips]
        return similarity(self._model, held, [prompt])[:, 0]


class DenoisingVerifier:
    """The generator as its own judge (a diffusion classifier, Li et al. 2023, "Your diffusion
    model is secretly a zero-shot classifier"): each clip is encoded by the pipeline's VAE,
    noised at `draws` levels spread over [t_min, t_max], and denoised by its DiT with the prompt
    and with the null text. The score is the mean of

        |v(x_t, null) - (eps - x0)|^2 - |v(x_t, prompt) - (eps - x0)|^2

    over the levels, a Monte Carlo estimate of how much more likely the clip is under the prompt
    than unconditionally (the pointwise mutual information of clip and prompt, up to scale).
    Every clip of one call sees the same levels and noises (seeded by `seed`), so their scores
    differ by the clips alone. Clips are read at the pipeline's default fps.

    Costs 2 x draws DiT passes per clip (one batch) and one encode: at the default 8 draws, a
    quarter of a 20-step candidate's sampling.
    """

    def __init__(self, pipe, *, draws: int = 8, t_min: float = 0.1, t_max: float = 0.95, seed: int = 0):
        if draws < 1 or not 0.0 < t_min <= t_max < 1.0:
            raise ValueError(f"need draws >= 1 and 0 < t_min <= t_max < 1, got {draws}, {t_min}, {t_max}")
        self.pipe, self.draws, self.t_min, self.t_max, self.seed = pipe, draws, t_min, t_max, seed

    @torch.no_grad()
    def __call__(self, clips: Sequence[np.ndarray], prompt: str) -> np.ndarray:
        from kinema.models.vae import from_uint8_frames, latents_to_dit

        pipe, K = self.pipe, self.draws
        # 1. the prompt and the null text, each repeated once per draw: (2K, L, D), (2K, L)
        text, mask = pipe.text_encoder.encode([prompt])
        null, null_mask = pipe.null_text(K)
        states, masks = stack_texts((text.float().expand(K, -1, -1), mask.expand(K, -1)), (null.float(), null_mask))
        fps = torch.full((2 * K,), float(pipe.config.fps))
        generator = torch.Generator().manual_seed(self.seed)
        levels = torch.linspace(self.t_min, self.t_max, K)
        eps, scores = None, []
        for clip in clips:
            # 2. the clip's latents (1, C, t, h, w), noised at every level with the call's noises
            with precision.autocast("cpu"):
                mean, _ = pipe.vae.encode(from_uint8_frames(clip))
            x0 = latents_to_dit(mean.float(), pipe.vae.cfg)
            if eps is None:
                eps = torch.randn((K, *x0.shape[1:]), generator=generator)
            elif eps.shape[1:] != x0.shape[1:]:
                raise ValueError("the clips of one call must share their frame count and size")
            t = levels[:, None].expand(K, x0.shape[2])  # (K, t): every latent frame at the level
            xt = flow.interpolate(x0.expand(K, -1, -1, -1, -1), eps, t)
            # 3. both branches in one batch; the error of each against the flow's target
            with precision.autocast("cpu"):
                v = pipe.dit(torch.cat([xt, xt]), torch.cat([t, t]), states, masks, fps).float()
            err = ((v - flow.velocity_target(x0, eps).repeat(2, 1, 1, 1, 1)) ** 2).mean(dim=(1, 2, 3, 4))
            scores.append(float((err[K:] - err[:K]).mean()))
        return np.array(scores)


def _clip_verifier(path=None, pipe=None):
    return ClipVerifier(path)


def _attribute_verifier(path=None, pipe=None):
    from kinema.eval.attributes import AttributeVerifier

    return AttributeVerifier(path)


def _denoising_verifier(path=None, pipe=None):
    if pipe is None:
        from kinema.pipeline import KinemaPipeline

        pipe = KinemaPipeline.from_pretrained(path)
    return DenoisingVerifier(pipe)


# SampleConfig.verifier -> a factory of the verifier: factory(path=None, pipe=None), path its
# model folder (None: the shipped one), pipe the pipeline that searches (a verifier built on the
# generator, "denoise", judges by that pipeline's model rather than loading a second one).
VERIFIERS: dict[str, Callable[..., Verifier]] = {"clip": _clip_verifier, "attributes": _attribute_verifier,
                                                 "denoise": _denoising_verifier}


def best_of(
    candidates: int,
    draw: Callable[[], torch.Tensor],
    solve: Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]],
    ts: torch.Tensor,
    select_step: int,
    judge: Callable[[list[torch.Tensor]], np.ndarray],
) -> tuple[torch.Tensor, np.ndarray]:
    """The latents of the best of `candidates` windows and every candidate's score.

    draw() -> starting noise, called once per candidate in order (the first is the plain call's);
    solve(x, ts_part, first) -> (x at ts_part[-1], the clean prediction of the last step taken),
    `first` the index in ts of ts_part[0]; ts: (S + 1,) the window's timesteps; select_step in
    1..S: the steps every candidate takes before the choice (S: all of them); judge(previews)
    -> one score per candidate's clean prediction (decoded and verified by the caller).
    """
    steps = len(ts) - 1
    if candidates < 1 or not 1 <= select_step <= steps:
        raise ValueError(f"need candidates >= 1 and 1 <= select_step <= {steps}, got {candidates}, {select_step}")
    states, previews = [], []
    for _ in range(candidates):
        x, x0 = solve(draw(), ts[: select_step + 1], 0)
        states.append(x)
        # a candidate solved to the end is judged on its result, not on its last step's prediction
        previews.append(x if select_step == steps else x0)
    scores = np.asarray(judge(previews), dtype=np.float64)
    if scores.shape != (candidates,):
        raise ValueError(f"the verifier gave scores of shape {scores.shape} for {candidates} candidates; "
                         "it must return one score per clip")
    best = int(np.argmax(scores))  # ties: the earliest, so the plain call's noise wins ties
    x = states[best]
    if select_step < steps:
        x, _ = solve(x, ts[select_step:], select_step)
    return x, scores
