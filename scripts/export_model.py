"""Export a finished DiT run as a model folder with its raw or EMA weights and a guidance scale.

Run: python scripts/export_model.py RUN_DIR OUT_DIR [--weights raw|ema] [--guidance G] [--vae DIR]
     python scripts/export_model.py MODEL_DIR OUT_DIR --vae DIR [--guidance G]   (a model, new decoder)

How the shipped model was chosen: export both, score each on the same prompts
(`kinema eval --model OUT_DIR --num 10`), copy the better one to kinema/assets/default.
"""

from __future__ import annotations

import argparse

from pathlib import Path

from kinema.export import export_dit_run, export_with_decoder


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", help="output_dir of a `kinema train dit` run (holds checkpoint/ and export/), or a "
                   "model folder (holds model_index.json) to re-ship with the decoder of --vae")
    p.add_argument("out_dir", help="model folder to write")
    p.add_argument("--weights", choices=("raw", "ema"), default=None, help="a run's raw (default) or EMA weights")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale saved as the model's default")
    p.add_argument("--vae", default=None, help="ship this VAE instead of the run's: a decoder fine-tuned with "
                   "freeze_encoder (its encoder must be the run's)")
    a = p.parse_args(argv)
    if (Path(a.run_dir) / "model_index.json").is_file():
        if a.vae is None or a.weights is not None:
            p.error(f"{a.run_dir} is a model folder, not a run: give --vae DIR (and no --weights)")
        print(f"wrote {export_with_decoder(a.run_dir, a.vae, a.out_dir, guidance_scale=a.guidance)} (decoder of {a.vae})")
        return
    out = export_dit_run(a.run_dir, a.out_dir, weights=a.weights or "raw", guidance_scale=a.guidance, vae=a.vae)
    print(f"wrote {out} ({a.weights or 'raw'} weights)")


if __name__ == "__main__":
    main()
