"""Experiment (not part of the package): Euler with a pyramid of per-frame noise levels.

Frame f of F latent frames follows the model's schedule delayed by alpha * f / (F - 1) of the
run, so earlier frames settle first and later ones denoise against them (the DiT trained with
independent per-frame t on part of its clips). With steps = 20 (1 + alpha) each frame crosses
the schedule in 20 steps, as with Euler. Scores the first NUM `id` prompts of the shipped model:

    python docs/eval/sampler/pyramid/pyramid_eval.py ALPHA OUT_DIR NUM STEPS
    kinema eval --compare EULER_DIR OUT_DIR
"""
import sys
import torch
import kinema.flow as flow
from kinema.eval.run import evaluate_model
from kinema.eval.clip import DEFAULT_CLIP_DIR

alpha, out, num, steps = float(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def t_at(ts, p):  # p in [0, 1] -> t by linear interpolation over the schedule's index
    S = len(ts) - 1
    pos = p * S
    i = pos.floor().clamp(max=S - 1).long()
    w = pos - i
    return ts[i] * (1 - w) + ts[i + 1] * w


def sample_pyramid(velocity, x, ts, *, clean=None, clean_mask=None, callback=None):
    x, m5 = flow._clamp_clean(x, clean, clean_mask)
    S, F = len(ts) - 1, x.shape[2]
    ts = ts.double()
    off = torch.arange(F, dtype=torch.float64) / max(F - 1, 1) * alpha
    def times(k):
        p = (k / S * (1 + alpha) - off).clamp(0, 1)
        return t_at(ts, p).float()
    for k in range(S):
        t, tn = times(k), times(k + 1)
        tf = t.expand(x.shape[0], F)
        if m5 is not None:
            tf = tf.masked_fill(m5[:, 0, :, 0, 0], 0.0)
        v = velocity(x, tf.contiguous())
        dt = (tn - t).view(1, 1, F, 1, 1).to(x.dtype)
        x = x + dt * v
        if m5 is not None:
            x = torch.where(m5, clean.to(x.dtype), x)
        if callback is not None:
            callback(k, float(tn.max()), x, x)
    return x


flow.sample_euler = sample_pyramid
evaluate_model(None, out, split="id", num=num, steps=steps, clip_model=str(DEFAULT_CLIP_DIR), progress=True)
