"""Search over starting noise: draw several candidates of a window, keep the one a verifier
scores highest against the prompt (best-of-N random search, Ma et al. 2025, "Inference-time
scaling for diffusion models beyond scaling denoising steps").

A candidate is a window solved from its own noise, either to the end or, with `select_step`,
for its first steps only; it is then judged on its clean prediction there, decoded (a flow
model's x0 = x_t - t v is a blurred draft of where the solve is heading), and only the winner
is solved on. The first candidate is the noise a plain call draws, so one candidate is the
plain sampler and the search can only add to what that call would have kept by the verifier's
measure.

The verifier is any callable (clips, prompt) -> one score per clip; VERIFIERS names the two
built in. ClipVerifier, the default, is the evaluation's video-text model (kinema.eval.clip),
whose similarity `kinema eval` also reports: a search with it raises that score by
construction, so judge it on the others. AttributeVerifier (kinema.eval.attributes) reads how
many objects of each kind a clip shows and what they do, and scores the chance that the clip
passes each check of the prompt.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

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


def _attribute_verifier(path=None):
    from kinema.eval.attributes import AttributeVerifier

    return AttributeVerifier(path)


# SampleConfig.verifier -> a factory of the verifier (path=None: the shipped model)
VERIFIERS: dict[str, Callable[..., Verifier]] = {"clip": ClipVerifier, "attributes": _attribute_verifier}


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
