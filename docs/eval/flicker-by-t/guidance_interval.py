"""One-off diagnostic (2026-12-06, MODEL_CARD "Where the flicker begins"): guidance 2 below a
noise level and another scale above it (Kynkaanniemi et al. 2024 apply guidance on an interval),
on N `id` prompts from START (seed 0): overall, count, shape, motion, appearances + vanishings.

    python docs/eval/flicker-by-t/guidance_interval.py 10 0   (output: guidance_interval.log)
"""
import sys, numpy as np, torch
from kinema import flow
from kinema.pipeline import KinemaPipeline
from kinema.eval.evaluate import score_video
from kinema.world.splits import sample_prompt
N = int(sys.argv[1]); start = int(sys.argv[2])
SETTINGS = {"g2": (2.0, 0.0, 1.0, 1.0), "g1_above0.8": (2.0, 0.0, 0.8, 1.0), "g3_above0.8": (2.0, 0.0, 0.8, 3.0), "g1_above0.6": (2.0, 0.0, 0.6, 1.0)}
state = {}
pipe = KinemaPipeline.from_pretrained(None)
orig = pipe._velocity
def patched(req):
    g, lo, hi, g_high = state["s"]
    req.guidance = 2.0
    base = orig(req)
    text_fn = base
    def velocity(x, t):
        tv = float(t.max())
        req.guidance = g if tv <= hi else g_high
        return base(x, t)
    return velocity
pipe._velocity = patched
res = {}
for i in range(start, start + N):
    prompt = sample_prompt("id", i)
    for name, s in SETTINGS.items():
        state["s"] = s
        v = pipe(prompt, seconds=2, seed=0)
        sc = score_video(v.frames, v.fps, prompt); a, c = sc["adherence"], sc["consistency"]
        res.setdefault(name, []).append((a["overall"], a.get("count", np.nan), a.get("shape", np.nan), a.get("motion", np.nan), c["appears"] + c["vanishes"]))
    print(i, {k: [round(x, 2) for x in v[-1]] for k, v in res.items()}, flush=True)
print("MEAN (overall, count, shape, motion, events)")
for k, v in res.items():
    print(k, np.round(np.nanmean(np.array(v, float), 0), 3).tolist())
