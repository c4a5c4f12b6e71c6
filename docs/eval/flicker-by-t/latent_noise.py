"""One-off diagnostic (2026-12-06, MODEL_CARD "Where the flicker begins"): is the flicker in the
latents or in the decoder? For the first N `id` prompts: the simulator's clip encoded (real latents,
DiT units), their latent roughness (mean |z[k] - z[k-1]| over latent frames 1..), appearances +
vanishings after decoding them with white noise of std s added, and the re-projection error
|E(D(z)) - z| (rms); the same for the shipped model's text-to-video latents of the prompt (seed 0).

    python docs/eval/flicker-by-t/latent_noise.py 16   (output: latent_noise.log)
"""
import sys, json, numpy as np, torch
from kinema.pipeline import KinemaPipeline
from kinema.models.vae import latents_to_dit, latents_from_dit, from_uint8_frames, to_uint8_frames
from kinema.eval.run import _ceiling_clip
from kinema.eval.parser import parse_video
from kinema.eval.consistency import permanence
from kinema.world.splits import sample_prompt
from kinema import precision
N = int(sys.argv[1])
pipe = KinemaPipeline.from_pretrained(None)
vae, vc = pipe.vae, pipe.vae.cfg
cap = {}
orig = vae.decode
def dec(z, **kw):
    cap['z'] = z.detach().clone(); return orig(z, **kw)
vae.decode = dec
def enc(frames):
    with precision.autocast("cpu"):
        m, _ = vae.encode(from_uint8_frames(frames))
    return latents_to_dit(m.float(), vc)
def decode(zd):
    with precision.autocast("cpu"):
        return to_uint8_frames(orig(latents_from_dit(zd, vc)))[0]
def ev(frames):
    p = permanence(parse_video(frames)); return p['appears'] + p['vanishes']
def tdiff(zd):  # mean abs frame-to-frame latent change, latent frames 1..
    return float((zd[:, :, 2:] - zd[:, :, 1:-1]).abs().mean())
rows = []
g = torch.Generator().manual_seed(0)
for i in range(N):
    prompt = sample_prompt("id", i)
    clip = _ceiling_clip(prompt, 0, "id", 16, 128, 128)
    if clip is None: continue
    zr = enc(clip)
    r = {"prompt": prompt, "real_std": float(zr.std()), "real_tdiff": tdiff(zr)}
    for s in (0.0, 0.1, 0.2, 0.4):
        r[f"real_events_s{s}"] = ev(decode(zr + s * torch.randn(zr.shape, generator=g)))
    r["real_reproj"] = float((enc(decode(zr)) - zr).pow(2).mean().sqrt())
    v = pipe(prompt, seconds=2, seed=0)
    zg = latents_to_dit(cap['z'].float(), vc)
    r["gen_std"] = float(zg.std()); r["gen_tdiff"] = tdiff(zg)
    r["gen_events"] = ev(v.frames)
    r["gen_reproj"] = float((enc(v.frames) - zg).pow(2).mean().sqrt())
    rows.append(r); print(json.dumps({k: (round(x, 3) if isinstance(x, float) else x) for k, x in r.items()}), flush=True)
keys = [k for k in rows[0] if k != "prompt"]
print("MEAN", json.dumps({k: round(float(np.mean([r[k] for r in rows])), 3) for k in keys}))
