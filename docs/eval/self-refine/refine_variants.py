"""One-off diagnostics (2026-12-07, MODEL_CARD "Self-refinement"): text to video, then sampled
again from the model's own latents, against plain text to video on `id` prompts (seed 0, the
shipped model, its sampler and guidance). Per prompt and variant: overall adherence, count,
shape, colour, motion, appearances + vanishings per clip (kinema.eval.evaluate.score_video).

    python docs/eval/self-refine/refine_variants.py 24 base,sde@0.9,sde@0.8,smooth@0.9,free@0.93        # variants_0-23.log
    python docs/eval/self-refine/refine_variants.py 32 base,smooth@0.9,smooth4@0.9,smooth@0.95,smooth@0.85,smoothx2@0.9 24  # variants_24-55.log

base     : the pipeline's text to video (seed 0), exactly as kinema eval draws it
sde@T    : base latents re-noised to t = T with fresh noise, re-sampled from T (SDEdit on itself)
smoothP@T: base latents low-passed along the latent frames (P passes of [1, 2, 1] / 4, default 2),
           then sde@T (what SampleConfig.refine_strength = T, refine_smooth = P does); "xN": N times
free@T   : FreeInit (Wu et al. 2023): base latents noised to t = T, their 3D low frequencies
           (Gaussian, d0 = 0.25) mixed with fresh noise's high frequencies, sampled from t = 1
"""
import re, sys, time
import numpy as np
import torch
from kinema import flow
from kinema.eval.evaluate import score_video
from kinema.models.vae import latents_from_dit, to_uint8_frames
from kinema.pipeline import KinemaPipeline
from kinema.world.splits import sample_prompt


def gaussian_lpf(shape, d0=0.25):
    T, H, W = shape[-3:]
    ft, fh, fw = [torch.fft.fftfreq(n) * 2 for n in (T, H, W)]  # in [-1, 1)
    d2 = ft[:, None, None] ** 2 + fh[None, :, None] ** 2 + fw[None, None, :] ** 2
    return torch.exp(-d2 / (2 * d0 * d0))


def freq_mix(low_src, high_src, lpf):
    fl = torch.fft.fftn(low_src, dim=(-3, -2, -1))
    fh = torch.fft.fftn(high_src, dim=(-3, -2, -1))
    return torch.fft.ifftn(fl * lpf + fh * (1 - lpf), dim=(-3, -2, -1)).real


def main():
    n, variants = int(sys.argv[1]), sys.argv[2].split(",")
    start = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    pipe = KinemaPipeline.from_pretrained(None)
    cfg, vcfg = pipe.config, pipe.vae.cfg
    res = {}
    t0 = time.time()
    for i in range(start, start + n):
        prompt = sample_prompt("id", i)
        req = pipe._request(prompt, seed=0)
        T = 33
        shape = (1, vcfg.latent_channels, 1 + (T - 1) // 4, req.height // vcfg.spatial_factor, req.width // vcfg.spatial_factor)
        ts = flow.timesteps(req.steps, shift=cfg.shift)
        noise = flow.frame_noise(shape, req.generator, shared=cfg.noise_shared)
        vel = pipe._velocity(req)
        sample = lambda x, ts: flow.sample_euler(vel, x, ts)
        with torch.no_grad():
            lat = sample(noise, ts)
            g = torch.Generator().manual_seed(1000 + i)
            for v in variants:
                if v == "base":
                    z = lat
                else:
                    kind, tau = v.split("@"); tau = float(tau)
                    eps = torch.randn(shape, generator=g)
                    m = re.fullmatch(r"(sde|smooth)(\d*)(x\d)?", kind)
                    if m:
                        passes = 0 if m[1] == "sde" else int(m[2] or 2)
                        z = lat
                        for rep in range(int(m[3][1:]) if m[3] else 1):
                            src = flow.smooth_frames(z, passes)
                            tss = flow.timesteps(max(1, round(req.steps * tau)), shift=cfg.shift, start=tau)
                            z = sample(flow.interpolate(src, eps if rep == 0 else torch.randn(shape, generator=g),
                                                        torch.full(shape[:1] + shape[2:3], float(tss[0]))), tss)
                    elif kind == "free":
                        noised = flow.interpolate(lat, eps, torch.full(shape[:1] + shape[2:3], tau))
                        x = freq_mix(noised, torch.randn(shape, generator=g), gaussian_lpf(shape))
                        z = sample(x, ts)
                with pipe._autocast():
                    frames = to_uint8_frames(pipe.vae.decode(latents_from_dit(z, vcfg), chunk_frames=4))[0][:T]
                sc = score_video(frames, req.fps, prompt)
                a, c = sc["adherence"], sc["consistency"]
                res.setdefault(v, []).append((a["overall"], a.get("count", np.nan), a.get("shape", np.nan),
                                              a.get("colour", np.nan), a.get("motion", np.nan), c["appears"] + c["vanishes"]))
        print(i, f"{time.time() - t0:.0f}s", {k: [round(x, 2) for x in r[-1]] for k, r in res.items()}, flush=True)
    print("MEAN (overall, count, shape, colour, motion, events)")
    for k, r in res.items():
        print(k, np.round(np.nanmean(np.array(r, float), 0), 3).tolist())
    paired({k: np.array(r, float) for k, r in res.items()})


def paired(res: dict) -> None:
    """Each variant minus base, per prompt: mean [95% bootstrap interval] of every figure."""
    print("PAIRED vs base: mean [95% CI] (overall, count, shape, colour, motion, events)")
    base, rng = res["base"], np.random.default_rng(0)
    for k, r in res.items():
        if k == "base":
            continue
        d = r - base
        boot = np.array([np.nanmean(d[i], 0) for i in rng.integers(0, len(d), (4000, len(d)))])
        lo, hi = np.nanpercentile(boot, [2.5, 97.5], axis=0)
        print(k, " ".join(f"{m:+.3f} [{a:+.3f}, {b:+.3f}]" for m, a, b in zip(np.nanmean(d, 0), lo, hi)))


if __name__ == "__main__":
    main()
