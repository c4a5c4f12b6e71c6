"""One-off diagnostics (2026-12-06, MODEL_CARD "Where the flicker begins"): ways to give text to
video a coherent start, each against plain text to video on the first N `id` prompts (seed 0,
the shipped model, its sampler and guidance). Per prompt and setting: overall adherence, count,
shape, motion, appearances + vanishings per clip (kinema.eval.evaluate.score_video).

    python docs/eval/flicker-by-t/sampling_variants.py noise 10 0,0.4,0.7       # correlated_noise.log
    python docs/eval/flicker-by-t/sampling_variants.py interval 10              # guidance_interval.log
    python docs/eval/flicker-by-t/sampling_variants.py start 12 1.0,0.97,0.93   # schedule_start.log
    python docs/eval/flicker-by-t/sampling_variants.py still 12                 # still_then_animate.log
    python docs/eval/flicker-by-t/sampling_variants.py smooth 12 0,1@0.9,3@0.9,3@0.8  # x0_smoothing.log

noise: starting noise shared across latent frames, eps_k = a shared + sqrt(1 - a^2) own_k (each
    frame still N(0, 1)), for each a.
interval: guidance 2 below a noise level, another scale above it (Kynkaanniemi et al. 2024).
start: the schedule begins at t = s < 1 from pure noise (training almost never reaches t > 0.97).
still: a still from the prompt (1 frame), then `animate` of that still.
smooth: above a noise level, the step's clean-video estimate x0 = x - t v is low-passed along the
    latent frames (P passes of a [1, 2, 1] / 4 kernel, "P@edge") and the step taken towards it, the
    noise estimate eps = x + (1 - t) v unchanged: v' = eps - smooth(x0).
(The logs were written by earlier one-file versions of these four; the settings are the same.)
"""
import sys

import numpy as np
import torch

from kinema import flow
from kinema.eval.evaluate import score_video
from kinema.pipeline import KinemaPipeline
from kinema.world.splits import sample_prompt

INTERVALS = {"g2": (2.0, 1.0, 2.0), "g1_above0.8": (2.0, 0.8, 1.0), "g3_above0.8": (2.0, 0.8, 3.0),
             "g1_above0.6": (2.0, 0.6, 1.0)}  # (guidance at t <= edge, edge, guidance above it)


def correlated_noise(pipe, a):
    """Patch the pipeline's starting noise (the only 5-D draw of text to video)."""
    import kinema.pipeline as P

    randn = torch.randn

    def draw(*shape, generator=None, **kw):
        x = randn(*shape, generator=generator, **kw)
        sh = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        if len(sh) == 5 and a > 0:
            shared = randn(sh[0], sh[1], 1, sh[3], sh[4], generator=generator)
            x = a * shared + (1 - a * a) ** 0.5 * x
        return x

    P.torch = type("torch_with_noise", (), {k: getattr(torch, k) for k in dir(torch) if not k.startswith("__")})
    P.torch.randn = staticmethod(draw)


def smooth_frames(x0, passes):
    """[1, 2, 1] / 4 along the latent frames (dim 2), ends replicated, `passes` times."""
    for _ in range(passes):
        p = torch.cat([x0[:, :, :1], x0, x0[:, :, -1:]], 2)
        x0 = 0.25 * p[:, :, :-2] + 0.5 * p[:, :, 1:-1] + 0.25 * p[:, :, 2:]
    return x0


def generate(pipe, variant, setting, prompt):
    if variant == "noise":
        correlated_noise(pipe, float(setting))
    if variant == "interval":
        low, edge, high = INTERVALS[setting]
        make = type(pipe)._velocity.__get__(pipe)

        def velocity_for(req):
            base = make(req)

            def v(x, t):
                req.guidance = low if float(t.max()) <= edge else high
                return base(x, t)
            return v
        pipe._velocity = velocity_for
    if variant == "smooth" and setting != "0":
        passes, edge = setting.split("@")
        make = type(pipe)._velocity.__get__(pipe)

        def velocity_for(req):
            base = make(req)

            def v(x, t):
                v = base(x, t)
                if float(t.max()) <= float(edge):
                    return v
                t5 = t[:, None, :, None, None]
                return (x + (1 - t5) * v) - smooth_frames(x - t5 * v, int(passes))
            return v
        pipe._velocity = velocity_for
    if variant == "start":
        timesteps = flow.timesteps
        flow.timesteps = lambda n, *, shift=1.0, start=1.0: timesteps(n, shift=shift, start=float(setting) if start == 1.0 else start)
        try:
            return pipe(prompt, seconds=2, seed=0)
        finally:
            flow.timesteps = timesteps
    if variant == "still" and setting == "still+animate":
        return pipe.animate(pipe(prompt, num_frames=1, seed=0).frames[0], prompt, seconds=2, seed=0)
    return pipe(prompt, seconds=2, seed=0)


def main() -> None:
    variant, n = sys.argv[1], int(sys.argv[2])
    settings = {"interval": list(INTERVALS), "still": ["t2v", "still+animate"]}.get(variant) or sys.argv[3].split(",")
    res, pipe = {}, None
    for i in range(n):
        prompt = sample_prompt("id", i)
        for s in settings:
            if pipe is None or variant in ("noise", "interval", "smooth"):  # a fresh pipeline for each patch
                pipe = KinemaPipeline.from_pretrained(None)
            video = generate(pipe, variant, s, prompt)
            sc = score_video(video.frames, video.fps, prompt)
            a, c = sc["adherence"], sc["consistency"]
            res.setdefault(s, []).append((a["overall"], a.get("count", np.nan), a.get("shape", np.nan),
                                          a.get("motion", np.nan), c["appears"] + c["vanishes"]))
        print(i, {k: [round(x, 2) for x in v[-1]] for k, v in res.items()}, flush=True)
    print("MEAN (overall, count, shape, motion, events)")
    for k, v in res.items():
        print(k, np.round(np.nanmean(np.array(v, float), 0), 3).tolist())


if __name__ == "__main__":
    main()
