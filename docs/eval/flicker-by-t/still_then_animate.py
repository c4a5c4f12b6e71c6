"""One-off diagnostic (2026-12-06, MODEL_CARD "Where the flicker begins"): text to video in two
stages, a still from the prompt then `animate` of that still, against plain text to video (seed 0).

    python docs/eval/flicker-by-t/still_then_animate.py 12   (output: still_then_animate.log)
"""
import sys, numpy as np
from kinema.pipeline import KinemaPipeline
from kinema.eval.evaluate import score_video
from kinema.world.splits import sample_prompt
N = int(sys.argv[1]); start_i = int(sys.argv[2]) if len(sys.argv) > 2 else 0
pipe = KinemaPipeline.from_pretrained(None)
res = {}
for i in range(start_i, start_i + N):
    prompt = sample_prompt("id", i)
    outs = {"t2v": pipe(prompt, seconds=2, seed=0)}
    still = pipe(prompt, num_frames=1, seed=0).frames[0]
    outs["still+animate"] = pipe.animate(still, prompt, seconds=2, seed=0)
    for k, v in outs.items():
        sc = score_video(v.frames, v.fps, prompt); a, c = sc["adherence"], sc["consistency"]
        res.setdefault(k, []).append((a["overall"], a.get("count", np.nan), a.get("shape", np.nan), a.get("motion", np.nan), c["appears"] + c["vanishes"]))
    print(i, {k: [round(x, 2) for x in v[-1]] for k, v in res.items()}, flush=True)
print("MEAN (overall, count, shape, motion, events)")
for k, v in res.items():
    print(k, np.round(np.nanmean(np.array(v, float), 0), 3).tolist())
