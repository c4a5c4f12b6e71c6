"""Model folders from training runs: a DiT run's raw or EMA weights, optionally with a new decoder
and new sampling defaults (`SampleConfig` fields, saved in model_index.json).

    export_dit_run("runs/dit16", "runs/model", weights="raw", sample={"guidance_scale": 2})  # scripts/export_model.py
    export_model("kinema/assets/default", "runs/model", vae="runs/dec/export")  # a model, new decoder
    export_model("kinema/assets/default", "runs/model", sample={"sampler": "stochastic", "eta": 0.75})
    export_model("kinema/assets/default", "runs/model", high_noise="runs/model-hight",
                 sample={"expert_boundary": 0.8})  # a second DiT for the steps at t >= 0.8
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from kinema import checkpoint as ckpt

__all__ = ["export_dit_run", "export_model", "same_latents", "swap_decoder"]


def export_dit_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *, weights: str = "raw",
                   sample: dict | None = None, vae: str | os.PathLike | None = None) -> Path:
    """A model folder from a DiT run's last checkpoint, with its raw or EMA weights (bf16).

    The run's own export (run_dir/export) holds the EMA weights. In a short run whose
    learning rate decays to zero the EMA still averages the high-learning-rate phase, and the
    raw weights can sample better; pick by evaluating both. sample: SampleConfig fields that
    replace the sampling defaults saved with the model (a value of None keeps the run's).
    vae: ship this VAE instead of the run's, e.g. a decoder fine-tuned with freeze_encoder
    (see `swap_decoder`).
    """
    from kinema.pipeline import KinemaPipeline
    from kinema.steps import DiTStep

    run = Path(run_dir)
    if weights not in ("raw", "ema"):
        raise ValueError(f"weights must be 'raw' or 'ema', got {weights!r}")
    if not (run / "export" / "model_index.json").is_file():
        raise FileNotFoundError(f"{run}/export has no model_index.json; finish (or resume) the DiT run first")
    pipe = KinemaPipeline.from_pretrained(run / "export")  # VAE, text encoder config, sampling defaults
    name = ckpt.WEIGHTS_NAME if weights == "raw" else ckpt.EMA_NAME
    config = json.loads((run / "checkpoint" / ckpt.STATE_NAME).read_text())["config"]
    object_block = config.get("object_block", 0) if config.get("object_weight") else 0  # a training probe: dropped
    ckpt.load_weights(DiTStep(pipe.dit, pipe.null_text, object_block=object_block), run / "checkpoint" / name)
    return _save(pipe, out_dir, vae=vae, sample=sample)


def export_model(model_dir: str | os.PathLike, out_dir: str | os.PathLike, *, vae: str | os.PathLike | None = None,
                 sample: dict | None = None, high_noise: str | os.PathLike | None = None) -> Path:
    """A copy of the model folder `model_dir` (bf16) with the same DiT: its VAE replaced by `vae`,
    a decoder fine-tuned with freeze_encoder from the model's own VAE (`swap_decoder` checks the
    encoder), its sampling defaults by the SampleConfig fields in `sample`, and/or a high-noise
    expert: the DiT and null text of the model folder `high_noise`, trained on the same latents,
    for the steps at t >= expert_boundary (set it in `sample`)."""
    from kinema.pipeline import KinemaPipeline

    if Path(out_dir).resolve() == Path(model_dir).resolve():
        raise ValueError(f"out_dir {out_dir} is the model folder itself; write to a new folder and move it after")
    if vae is None and high_noise is None and all(v is None for v in (sample or {}).values()):
        raise ValueError("nothing to change: give vae= (a new decoder), sample= (sampling defaults) "
                         "and/or high_noise= (a second DiT)")
    pipe = KinemaPipeline.from_pretrained(model_dir)
    if high_noise is not None:
        expert = KinemaPipeline.from_pretrained(high_noise)
        if not same_latents(pipe.vae, expert.vae):
            raise ValueError(f"{high_noise}: its VAE encodes differently from {model_dir}'s, so its DiT was trained "
                             "on other latents; a high-noise expert must come from a run on the same latent cache")
        pipe.high_noise_dit, pipe.high_noise_null_text = expert.dit, expert.null_text
    return _save(pipe, out_dir, vae=vae, sample=sample)


def _save(pipe: Any, out_dir: str | os.PathLike, *, vae: str | os.PathLike | None, sample: dict | None) -> Path:
    """pipe with the sampling defaults of `sample` and the decoder of `vae` (each if given), saved in bf16."""
    pipe.config = pipe.config.override(**(sample or {}))
    if vae is not None:
        swap_decoder(pipe, vae)
    return pipe.save_pretrained(out_dir, dtype=torch.bfloat16)


def swap_decoder(pipe: Any, vae: str | os.PathLike) -> None:
    """Give pipe the VAE at `vae` (a part or export folder) if its encoder is pipe's own.

    A DiT only works with the latents it was trained on, so the new VAE must encode exactly
    as the old one (compared in bf16, the shipped precision) with the same latent statistics:
    what `kinema train vae` with freeze_encoder and init_from=<the old VAE> produces.
    """
    from kinema.models.vae import VAEConfig, VideoVAE

    new = ckpt.load_part(ckpt.find_vae_part(str(vae)), VideoVAE, VAEConfig)
    if not same_latents(pipe.vae, new):
        raise ValueError(f"{vae}: its encoder or latent statistics differ from the model's VAE, so the DiT's latents "
                         f"would not decode; fine-tune a decoder with freeze_encoder=true and init_from=<the model's VAE>")
    pipe.vae = new.eval()


def same_latents(a: Any, b: Any) -> bool:
    """Whether VAEs a and b encode alike: equal encoder weights (compared in bf16, the shipped
    precision) and equal latent statistics."""
    state_a, state_b = a.encoder.state_dict(), b.encoder.state_dict()
    return (state_a.keys() == state_b.keys()
            and all(state_a[k].shape == state_b[k].shape
                    and torch.equal(state_a[k].bfloat16(), state_b[k].bfloat16()) for k in state_a)
            and (a.cfg.latent_mean, a.cfg.latent_std) == (b.cfg.latent_mean, b.cfg.latent_std))
