"""One-off diagnostic (2026-12-06, MODEL_CARD "Where the flicker begins"): text-to-video from
starting noise correlated across latent frames, eps_k = a * shared + sqrt(1 - a^2) * own_k (each
frame still N(0, 1)), for a in A, on N `id` prompts from START (seed 0): overall adherence, count,
motion, appearances + vanishings per clip.

    python docs/eval/flicker-by-t/correlated_noise.py 10 0,0.4,0.7   (output: correlated_noise.log)
"""
import sys, json, types, numpy as np, torch
import kinema.pipeline as P
from kinema.pipeline import KinemaPipeline
from kinema.eval.evaluate import score_video
from kinema.world.splits import sample_prompt
N = int(sys.argv[1]); A = [float(a) for a in sys.argv[2].split(",")]; start = int(sys.argv[3]) if len(sys.argv) > 3 else 0
state = {"a": 0.0}
real_randn = torch.randn
def randn(*shape, generator=None, **kw):
    x = real_randn(*shape, generator=generator, **kw)
    sh = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)) else shape
    if len(sh) == 5 and state["a"] > 0:
        a = state["a"]
        shared = real_randn(sh[0], sh[1], 1, sh[3], sh[4], generator=generator)
        x = a * shared + (1 - a * a) ** 0.5 * x
    return x
P.torch = types.SimpleNamespace(**{k: getattr(torch, k) for k in dir(torch) if not k.startswith("__")})
P.torch.randn = randn
pipe = KinemaPipeline.from_pretrained(None)
res = {}
for i in range(start, start + N):
    prompt = sample_prompt("id", i)
    for a in A:
        state["a"] = a
        v = pipe(prompt, seconds=2, seed=0)
        s = score_video(v.frames, v.fps, prompt)
        c = s["consistency"]
        res.setdefault(a, []).append((s["adherence"]["overall"], s["adherence"].get("count", np.nan), s["adherence"].get("motion", np.nan), c["appears"] + c["vanishes"]))
    print(i, {a: [round(x, 2) for x in v[-1]] for a, v in res.items()}, flush=True)
print("MEAN (overall, count, motion, events)")
for a, v in res.items():
    print(a, np.round(np.nanmean(np.array(v, float), 0), 3).tolist())
