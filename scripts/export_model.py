"""Export a finished DiT run as a model folder with its raw or EMA weights and sampling defaults.

Run: python scripts/export_model.py RUN_DIR OUT_DIR [--weights raw|ema] [--guidance G] [--steps N] [--sampler S --eta E]
                                     [--vae DIR]
     python scripts/export_model.py MODEL_DIR OUT_DIR [--vae DIR] [--guidance G] [--steps N] [--sampler S --eta E]
         (a model re-shipped with a new decoder and/or new sampling defaults)
     python scripts/export_model.py MODEL_DIR OUT_DIR --high-noise MODEL_DIR2 --expert-boundary T
         (MODEL_DIR2's DiT added as the expert for the steps at noise levels >= T)

How the shipped model was chosen: export both, score each on the same prompts
(`kinema eval --model OUT_DIR --num 10`), copy the better one to kinema/assets/default.
"""

from __future__ import annotations

import argparse

from pathlib import Path

from kinema.cli import add_sampler_arguments, sampler_settings
from kinema.export import export_dit_run, export_model


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="output_dir of a `kinema train dit` run (holds checkpoint/ and export/), or a "
                   "model folder (holds model_index.json) to re-ship with the decoder of --vae")
    p.add_argument("out_dir", help="model folder to write")
    p.add_argument("--weights", choices=("raw", "ema"), default=None, help="a run's raw (default) or EMA weights")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale saved as the model's default")
    p.add_argument("--steps", type=int, default=None, help="denoising steps saved as the model's default")
    p.add_argument("--vae", default=None, help="ship this VAE instead of the run's: a decoder fine-tuned with "
                   "freeze_encoder (its encoder must be the run's)")
    p.add_argument("--high-noise", default=None, metavar="MODEL_DIR",
                   help="add this model folder's DiT (trained on the same latents) as the high-noise expert")
    add_sampler_arguments(p)
    a = p.parse_args(argv)
    if a.steps is not None and a.steps < 1:
        p.error(f"--steps must be >= 1, got {a.steps}")
    sample = dict(guidance_scale=a.guidance, num_inference_steps=a.steps, **sampler_settings(a))
    if (Path(a.run_dir) / "model_index.json").is_file():
        if a.weights is not None:
            p.error(f"{a.run_dir} is a model folder, not a run: it has no raw or EMA weights to pick")
        print(f"wrote {export_model(a.run_dir, a.out_dir, vae=a.vae, sample=sample, high_noise=a.high_noise)}")
        return
    if a.high_noise is not None:
        p.error("--high-noise needs a model folder as run_dir (export the run first)")
    out = export_dit_run(a.run_dir, a.out_dir, weights=a.weights or "raw", sample=sample, vae=a.vae)
    print(f"wrote {out} ({a.weights or 'raw'} weights)")


if __name__ == "__main__":
    main()
