"""One-off diagnostic (2026-12-06, MODEL_CARD "Where the flicker begins"): the guided x0 prediction
x_t - t v of the shipped DiT on the simulator's clips of N `id` prompts noised to fixed t: its
latent roughness and its rms error against the clean latents.

    python docs/eval/flicker-by-t/x0_roughness.py 8   (output: x0_roughness.log)
"""
import sys, numpy as np, torch
from kinema import flow, precision
from kinema.pipeline import KinemaPipeline
from kinema.models.vae import latents_to_dit, from_uint8_frames
from kinema.eval.run import _ceiling_clip
from kinema.world.splits import sample_prompt
N = int(sys.argv[1]); model = sys.argv[2] if len(sys.argv) > 2 else None
pipe = KinemaPipeline.from_pretrained(model)
vae, cfg = pipe.vae, pipe.config
def rough(z): return float((z[:, :, 2:] - z[:, :, 1:-1]).abs().mean())
TS = (1.0, 0.99, 0.97, 0.93, 0.9, 0.8, 0.6)
res = {t: [] for t in TS}; real = []
for i in range(N):
    prompt = sample_prompt("id", i)
    clip = _ceiling_clip(prompt, 0, "id", cfg.fps, cfg.width, cfg.height)
    if clip is None: continue
    with precision.autocast("cpu"), torch.no_grad():
        m, _ = vae.encode(from_uint8_frames(clip))
    z = latents_to_dit(m.float(), vae.cfg); real.append(rough(z))
    req = pipe._request(prompt, None, cfg.fps, cfg.height, cfg.width, None, None, 0, None, None)
    vel = pipe._velocity(req)
    g = torch.Generator().manual_seed(i)
    eps = torch.randn(z.shape, generator=g)
    for t in TS:
        tt = torch.full((1, z.shape[2]), t)
        x = flow.interpolate(z, eps, tt)
        with torch.no_grad():
            v = vel(x, tt)
        x0 = x - t * v
        res[t].append((rough(x0), float((x0 - z).pow(2).mean().sqrt())))
    print(i, round(real[-1], 3), {t: [round(a, 3) for a in res[t][-1]] for t in TS}, flush=True)
print("real roughness", round(np.mean(real), 3))
for t in TS: print(t, "x0_hat roughness, rms error", np.round(np.mean(res[t], 0), 3).tolist())
