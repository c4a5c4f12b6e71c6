"""One-off diagnostic (2026-12-06, MODEL_CARD "Where the flicker begins"): text to video with the
sampler's schedule starting below t = 1 from pure noise (where training never reaches), on N `id`
prompts (seed 0).

    python docs/eval/flicker-by-t/schedule_start.py 12 1.0,0.97,0.93   (output: schedule_start.log)
"""
import sys, numpy as np, torch
from kinema import flow
from kinema.pipeline import KinemaPipeline
from kinema.eval.evaluate import score_video
from kinema.world.splits import sample_prompt
N = int(sys.argv[1]); STARTS = [float(a) for a in sys.argv[2].split(",")]; start_i = int(sys.argv[3]) if len(sys.argv) > 3 else 0
orig = flow.timesteps
state = {}
def ts(num_steps, *, shift=1.0, start=1.0):
    if start == 1.0:
        return orig(num_steps, shift=shift, start=state["s"])
    return orig(num_steps, shift=shift, start=start)
flow.timesteps = ts
pipe = KinemaPipeline.from_pretrained(None)
res = {}
for i in range(start_i, start_i + N):
    prompt = sample_prompt("id", i)
    for s in STARTS:
        state["s"] = s
        v = pipe(prompt, seconds=2, seed=0)
        sc = score_video(v.frames, v.fps, prompt); a, c = sc["adherence"], sc["consistency"]
        res.setdefault(s, []).append((a["overall"], a.get("count", np.nan), a.get("shape", np.nan), a.get("motion", np.nan), c["appears"] + c["vanishes"]))
    print(i, {k: [round(x, 2) for x in v[-1]] for k, v in res.items()}, flush=True)
print("MEAN (overall, count, shape, motion, events)")
for k, v in res.items():
    print(k, np.round(np.nanmean(np.array(v, float), 0), 3).tolist())
