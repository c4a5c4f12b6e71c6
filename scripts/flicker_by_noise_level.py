"""At which noise level does a model's flicker begin? SDEdit from real clips at rising strength.

For each `id` prompt the simulator's own clip (the evaluation's "ceiling" video) is encoded and
re-generated from noise level t = strength (KinemaPipeline.edit: noised to t, denoised with the
prompt, the same sampler and guidance as text-to-video). At strength 1 this is text-to-video; below
it, the real clip's latents fix everything the denoiser does not redo. Per strength:

- latent roughness: mean |z[k] - z[k-1]| over latent frames 1.. of the sampled latents (DiT units,
  roughly unit variance), against the real clip's own;
- appearances + vanishings per clip (kinema.eval.consistency.permanence), the real clip's being ~0;
- overall adherence to the prompt.

The strength where roughness and events leave the real clip's level is where the model's samples
stop agreeing with themselves over time.

    python scripts/flicker_by_noise_level.py --num 16 --out docs/eval/flicker-by-t [--model DIR] [--strengths 0.5,1]

Writes report.json and flicker_by_t.png (both figures against strength).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from kinema import precision
from kinema.eval.evaluate import evaluate_video
from kinema.eval.run import EVAL_SECONDS, _ceiling_clip
from kinema.models.vae import from_uint8_frames, latents_to_dit
from kinema.pipeline import KinemaPipeline
from kinema.plots import pyplot, save_figure
from kinema.video import Video
from kinema.world.splits import sample_prompt

STRENGTHS = (0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0)


def roughness(z: torch.Tensor) -> float:
    """Mean absolute change between consecutive latent frames 1.. of z (B, C, T, H, W).

    Latent frame 0 holds pixel frame 0 alone (causal VAE), so the step 0 -> 1 is left out."""
    return float((z[:, :, 2:] - z[:, :, 1:-1]).abs().mean())


def scores(frames: np.ndarray, fps: float, prompt: str) -> tuple[int, float]:
    """Appearances + vanishings per clip and overall adherence, from one parse of the video."""
    s = evaluate_video(frames, fps, prompt)
    return s["consistency"]["appears"] + s["consistency"]["vanishes"], s["adherence"]["overall"]


def plot(report: dict, path: Path) -> None:
    """Latent roughness and events per clip against strength, the real clip's level dashed."""
    summary = report["strengths"]
    xs = [k for k in summary if k != "real clip"]
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, label in ((axes[0], "latent_roughness", "latent roughness, mean |z[k] - z[k-1]|"),
                           (axes[1], "events_per_clip", "appearances + vanishings per clip")):
        ax.plot([float(x) for x in xs], [summary[x][key] for x in xs], "o-", label="SDEdit from the real clip")
        ax.axhline(summary["real clip"][key], color="gray", ls="--", label="the real clip")
        ax.set_xlabel("strength: the noise level sampling starts from (1 = text to video)", fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(f"where flicker begins: {report['model']}, {report['num']} id prompts", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num", type=int, default=16, help="id prompts, from index 0")
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--strengths", default=",".join(f"{s:g}" for s in STRENGTHS), help="comma-separated, in (0, 1]")
    ap.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    strengths = [float(s) for s in args.strengths.split(",")]

    pipe = KinemaPipeline.from_pretrained(args.model)
    vae, cfg = pipe.vae, pipe.config
    captured: list[torch.Tensor] = []
    decode = vae.decode

    def capture(z, **kw):  # the sampled latents of each window, on their way to the decoder
        captured.append(latents_to_dit(z.float(), vae.cfg))
        return decode(z, **kw)

    vae.decode = capture
    rows: dict[str, list[tuple[float, float, float]]] = {}
    t0 = time.monotonic()
    for i in range(args.num):
        prompt = sample_prompt("id", i)
        clip = _ceiling_clip(prompt, 0, "id", cfg.fps, cfg.width, cfg.height)
        if clip is None:
            continue
        with precision.autocast("cpu"), torch.no_grad():
            mean, _ = vae.encode(from_uint8_frames(clip))
        real = latents_to_dit(mean.float(), vae.cfg)
        rows.setdefault("real clip", []).append((roughness(real), *scores(clip, cfg.fps, prompt)))
        for s in strengths:
            captured.clear()
            video = pipe.edit(Video(clip, cfg.fps), prompt, strength=s, seed=0, num_inference_steps=args.steps)
            rows.setdefault(f"{s:g}", []).append((np.mean([roughness(z) for z in captured]),
                                                  *scores(video.frames, video.fps, prompt)))
        line = ", ".join(f"{k}: {v[-1][0]:.2f}/{v[-1][1]}" for k, v in rows.items())
        print(f"[{i + 1}/{args.num}] {prompt!r} roughness/events {line}", flush=True)

    summary = {k: dict(zip(("latent_roughness", "events_per_clip", "overall_adherence"),
                           np.mean(np.array(v, dtype=float), axis=0).round(4).tolist())) for k, v in rows.items()}
    report = {"model": args.model or "shipped", "num": len(rows.get("real clip", [])), "seconds": EVAL_SECONDS,
              "strengths": summary, "seconds_taken": round(time.monotonic() - t0, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")

    plot(report, args.out / "flicker_by_t.png")
    for k, v in summary.items():
        print(f"{k:>10}: roughness {v['latent_roughness']:.3f}, events {v['events_per_clip']:.1f}, "
              f"overall {v['overall_adherence']:.3f}")


if __name__ == "__main__":
    main()
