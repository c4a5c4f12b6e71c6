"""Training for the video VAE and the DiT: `train(cfg)` runs top to bottom, nanoGPT style.

    python -m kinema.train vae --config default-vae            # or: kinema train vae ...
    torchrun --nproc_per_node 4 -m kinema.train dit --config default-dit batch_size=64

One config dataclass (`kinema.config.TrainConfig`) read from YAML plus `key=value` overrides;
one function that builds data, model, optimizer and runs the loop. The VAE learns to
reconstruct clips (L1 + SSIM + gradient + KL); the DiT learns the rectified-flow velocity
on cached VAE latents with a noise level per latent frame and random clean conditioning
frames (kinema.flow), text-conditioned with a learned null text for classifier-free
guidance. Weights are fp32 with AdamW state in fp32; matmuls run under bf16 autocast.

Determinism: every per-clip random draw (posterior noise, t, conditioning mask, flow
noise) comes from a generator keyed by (seed, step, clip id), so a run is independent of
how the global batch is split over ranks, and `--resume` replays exactly what an
uninterrupted run would have done.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from kinema import checkpoint as ckpt
from kinema import flow, precision
from kinema.config import KINDS, TrainConfig, load_config
from kinema.steps import DiTStep, VAEStep

__all__ = [
    "TrainingDiverged",
    "TrainingInterrupted",
    "train",
    "train_from_cli",
    "image_step",
    "lr_at",
    "update_ema",
]

# ----------------------------------------------------------------------------- small pure helpers

def lr_at(step: int, cfg: TrainConfig, rewarm_from: int | None = None) -> float:
    """Linear warmup to lr, then cosine decay to min_lr at total_steps (step counts from 0).

    cfg.lr_cycle_start (default 0) is the step the schedule counts from: a warm restart
    (SGDR, Loshchilov & Hutter 2017) of a finished run warms up again from there over
    warmup_steps and decays from lr to min_lr by total_steps.
    rewarm_from: the step a run resumed at with a fresh optimizer state (a checkpoint shipped
    without AdamW's moments); the schedule's value is then ramped in again over warmup_steps,
    as Adam's first steps without second-moment estimates are full-size in every parameter.
    """
    start = getattr(cfg, "lr_cycle_start", 0)  # the video-text model's ClipConfig has no restarts
    s = step - start
    if s < cfg.warmup_steps:
        return cfg.lr * (max(s, 0) + 1) / cfg.warmup_steps
    progress = (s - cfg.warmup_steps) / max(1, cfg.total_steps - start - cfg.warmup_steps)
    lr = cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    if rewarm_from is not None and rewarm_from > start and cfg.warmup_steps > 0:
        lr *= min(1.0, (step - rewarm_from + 1) / cfg.warmup_steps)
    return lr


def ema_decay_at(step: int, decay: float) -> float:
    """EMA warmup: min(decay, (1 + step) / (10 + step)), so early weights fade out in short runs.

    A fixed 0.999 keeps 37% of the step-500 weights at step 1500; the warmup (as in
    timm / diffusers' EMAModel) lets the average follow the model until it has settled.
    """
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameters only; buffers are copied (DiT's update_ema).

    Matched by name, so ema may hold a part of model (the VAE run's EMA leaves out its critic).
    """
    params, buffers = dict(model.named_parameters()), dict(model.named_buffers())
    for name, e in ema.named_parameters():
        e.lerp_(params[name].detach(), 1.0 - decay)
    for name, e in ema.named_buffers():
        e.copy_(buffers[name])


def clip_generator(seed: int, step: int, clip_id: str) -> torch.Generator:
    """The generator for one clip's random draws at one step.

    Keyed by the clip, not its slot in the batch: the draws do not depend on how the global
    batch is split over ranks, and a resumed run replays them exactly.
    """
    key = hashlib.blake2b(f"{seed}/{step}/{clip_id}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(key, "little") & (2**63 - 1))


def image_step(seed: int, step: int, p_image: float) -> bool:
    """Whether DiT step `step` trains on images: the batch's first latent frames alone.

    The VAE is causal, so a clip's first latent frame is exactly the encoding of its first
    frame as a 1-frame video: text-to-image (DESIGN.md) trains on the video data itself.
    Drawn per step from (seed, step), so a resumed run replays the same choice.
    """
    return p_image > 0 and float(torch.rand((), generator=clip_generator(seed, step, "image"))) < p_image


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """PSNR in dB of videos in [-1, 1] (peak-to-peak 2)."""
    mse = (x.float().clamp(-1, 1) - y.float()).square().mean().item()
    return 10 * math.log10(4.0 / max(mse, 1e-12))


def random_crops(x: torch.Tensor, size: int, gens: list[torch.Generator]) -> torch.Tensor:
    """One random size x size window per clip, drawn from that clip's generator.

    x: (B, C, T, H, W) -> (B, C, T, size, size); a frame smaller than size is an error.
    """
    H, W = x.shape[-2:]
    if size > min(H, W):
        raise ValueError(f"crop_size={size} is larger than a {W}x{H} clip; use crop_size <= {min(H, W) // 8 * 8}")
    out = []
    for clip, g in zip(x, gens):
        i = int(torch.randint(0, H - size + 1, (1,), generator=g))
        j = int(torch.randint(0, W - size + 1, (1,), generator=g))
        out.append(clip[..., i:i + size, j:j + size])
    return torch.stack(out)


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run after it checkpointed its last finished step."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN/inf; the last good checkpoint is left untouched."""


def _pick_device(name: str, local_rank: int) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _plot_losses(records: list[dict[str, Any]], path: Path) -> None:
    from kinema.plots import pyplot, save_figure

    plt = pyplot()
    steps = [r["step"] for r in records]
    fig, ax = plt.subplots(figsize=(7, 4))
    keys = [k for k in records[-1] if k.startswith("loss")]
    for k in keys:
        ax.plot(steps, [r.get(k, float("nan")) for r in records], label=k, lw=1)
    ax.set_xlabel("step")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


@contextlib.contextmanager
def _stop_on_signals():
    """Yields a list that SIGINT / SIGTERM (Ctrl-C, a scheduler's preemption) append to, so the
    loop can finish its step and checkpoint before it stops; the old handlers come back after.
    Only the main thread can set handlers; elsewhere the list stays empty."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    old = {sig: signal.signal(sig, lambda signum, frame: received.append(signum))
           for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers leave SIGINT / SIGTERM to the main process: a signal sent to the whole
    process group (Ctrl-C in a terminal, `kill -- -PGID`, a scheduler) would otherwise end the
    worker first, and the main process would die on the lost worker before it checkpoints."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


# ----------------------------------------------------------------------------- train

def train(cfg: TrainConfig, *, resume: bool = False) -> Path:
    """Train the VAE or the DiT as cfg says; returns the export folder (EMA weights, part format)."""
    from kinema.data import BucketBatchSampler, ManifestDataset, collate

    # -- 1. processes and device. torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; a plain run is rank 0 of 1.
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    ddp = world_size > 1
    device = _pick_device(cfg.device, local_rank)
    if ddp:
        # gloo on CPU, nccl on GPUs: the two backends torch.distributed ships for each
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    master = rank == 0
    if cfg.batch_size % world_size:
        raise ValueError(f"batch_size={cfg.batch_size} is not divisible by {world_size} processes; "
                         f"use batch_size={cfg.batch_size // world_size * world_size or world_size}")
    local_batch = cfg.batch_size // world_size
    out = Path(cfg.output_dir)
    if master:
        out.mkdir(parents=True, exist_ok=True)
    ckpt_dir, export_dir, samples_dir = out / "checkpoint", out / "export", out / "samples"
    if not resume and master and ckpt.has_training_state(ckpt_dir):
        raise FileExistsError(f"{ckpt_dir} already holds a checkpoint; pass --resume to continue it, "
                              f"or choose another output_dir")
    autocast = precision.autocast(device, enabled=cfg.bf16)
    if master and cfg.bf16 and not precision.bf16_is_fast(device):
        print(f"note: bf16 is not native on this {device.type} (no avx512_bf16/AMX); training in fp32, "
              "which is faster here (set KINEMA_BF16=1 to force bf16)", flush=True)
    torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    np.random.seed(cfg.seed)

    # -- 2. model and data. The VAE trains on pixels; the DiT on cached latents of a frozen VAE.
    model_cfg = cfg.model_cfg()
    vae = text_encoder = None
    if cfg.kind == "vae":
        from kinema.models.vae import (VAEConfig, VideoVAE, add_encoder_stem, add_refine_head, grow_latent_channels,
                                       latent_shape, to_uint8_frames, vae_loss)

        warm = cfg.init_from and (not resume or cfg.freeze_encoder)  # a resumed run has its weights already
        src = ckpt.load_part(ckpt.find_vae_part(cfg.init_from), VideoVAE, VAEConfig) if warm else None
        if cfg.freeze_encoder and src is not None and model_cfg.stem_channels != src.cfg.stem_channels:
            raise ValueError("freeze_encoder keeps the encoder as it is, so it cannot add an encoder stem "
                             f"({src.cfg.stem_channels or 'none'} -> {model_cfg.stem_channels}); "
                             "drop freeze_encoder or stem_channels")
        if cfg.freeze_encoder:  # the frozen encoder's latents keep their normalisation (a DiT's input)
            model_cfg = dataclasses.replace(model_cfg, latent_mean=src.cfg.latent_mean, latent_std=src.cfg.latent_std)
        if src is not None and not resume:  # warm start: a trained VAE, latent channels grown, a refine head added
            start = grow_latent_channels(src, model_cfg)  # checks the architecture; the same channels: a copy
            if model_cfg.refine_channels != src.cfg.refine_channels:
                start = add_refine_head(start, dataclasses.replace(model_cfg, stem_channels=src.cfg.stem_channels))
            if model_cfg.stem_channels != src.cfg.stem_channels:
                start = add_encoder_stem(start, model_cfg)
            if master:
                print(f"initialised from {cfg.init_from} ({src.cfg.latent_channels} -> {model_cfg.latent_channels} "
                      f"latent channels, refine head {model_cfg.refine_channels or 'none'}, "
                      f"encoder stem {model_cfg.stem_channels or 'none'})", flush=True)
        else:
            start = VideoVAE(model_cfg)
        disc = None
        if cfg.adv_weight:
            from kinema.models.disc import PatchDiscriminator, adaptive_weight, hinge_d_loss, hinge_g_loss

            disc = PatchDiscriminator(cfg.disc_channels)
        core = VAEStep(start, freeze_encoder=cfg.freeze_encoder, disc=disc)
        dataset = ManifestDataset(cfg.data, num_frames=cfg.num_frames, caption_dropout=0.0, seed=cfg.seed)
    else:
        from kinema.data import LatentDataset, build_latent_cache, build_object_cache
        from kinema.models.dit import DiT
        from kinema.models.objects import object_loss
        from kinema.models.text import NullText, TextEncoder, TextEncoderConfig
        from kinema.models.vae import VAEConfig, VideoVAE, latents_from_dit, latents_to_dit, to_uint8_frames

        vae = ckpt.load_part(ckpt.find_vae_part(cfg.vae), VideoVAE, VAEConfig, device=device).eval().requires_grad_(False)
        text_encoder = TextEncoder(TextEncoderConfig(path=cfg.text_encoder, max_length=cfg.text_max_length)).to(device)
        # the DiT's input width and text width follow the VAE and the text encoder
        derived = {"in_channels": vae.cfg.latent_channels, "text_dim": text_encoder.dim}
        for k, v in derived.items():
            if (cfg.model_config or {}).get(k, v) != v:
                raise ValueError(f"model_config.{k}={cfg.model_config[k]} disagrees with the VAE / text encoder ({v}); drop it")
        model_cfg = dataclasses.replace(model_cfg, **derived)
        object_block = cfg.object_block if cfg.object_weight else 0
        # the model before the latent cache, so that a warm start that does not fit fails in seconds, not after it
        if cfg.init_from and not resume:  # warm start: a trained model's DiT, grown or transplanted to this VAE's latents
            from kinema.models.dit import grow_depth, grow_in_channels, transplant_body
            from kinema.pipeline import KinemaPipeline

            src = KinemaPipeline.from_pretrained(cfg.init_from)
            if src.null_text.num_tokens != cfg.null_text_tokens:
                raise ValueError(f"init_from={cfg.init_from} has {src.null_text.num_tokens} null-text tokens, this run asks "
                                 f"for {cfg.null_text_tokens}; set null_text_tokens={src.null_text.num_tokens} to warm-start from it")
            warm, what = ((transplant_body, "body only, fresh patch embedding and output") if cfg.init_body_only
                          else (grow_in_channels, "grown"))
            body = src.dit
            if model_cfg.depth != body.cfg.depth:  # more blocks: new ones start as the identity
                body = grow_depth(body, dataclasses.replace(body.cfg, depth=model_cfg.depth))
                what += f", depth {src.dit.cfg.depth} -> {model_cfg.depth}"
            core = DiTStep(warm(body, model_cfg), src.null_text, object_block=object_block)
            if master:
                print(f"initialised from {cfg.init_from} ({src.dit.cfg.in_channels} -> {model_cfg.in_channels} "
                      f"latent channels, {what})", flush=True)
        else:
            core = DiTStep(DiT(model_cfg), NullText(text_encoder.dim, cfg.null_text_tokens), object_block=object_block)
        cache_dir = Path(cfg.latent_cache or out / "latents")
        if master and not (cache_dir / "index.jsonl").is_file():
            # encode every clip once: the DiT then never runs the VAE encoder (Sora: train in latent space)
            print(f"building latent cache {cache_dir} from {cfg.data} with the VAE at {cfg.vae}", flush=True)
            build_latent_cache(cfg.data, vae, cache_dir)  # whole clips (longest 1 + 4k prefix); resumable
        if master and object_block:  # the simulator's object maps on the same grid (world data only)
            build_object_cache(cfg.data, cache_dir, spatial_factor=vae.cfg.spatial_factor,
                               temporal_factor=vae.cfg.temporal_factor)
        if ddp:
            dist.barrier()  # the other ranks wait for rank 0's cache
        dataset = LatentDataset(cache_dir, caption_dropout=cfg.caption_dropout, seed=cfg.seed, objects=bool(object_block))
    core.to(device)
    ema = copy.deepcopy(core).requires_grad_(False).eval()  # the weights we sample from and export
    if cfg.kind == "vae":
        ema.disc = None  # a critic is only trained against, never sampled or exported: no average of it
    model = nn.parallel.DistributedDataParallel(core, device_ids=[device] if device.type == "cuda" else None) if ddp else core
    sampler = BucketBatchSampler(dataset.bucket_keys, local_batch, seed=cfg.seed, rank=rank,
                                 world_size=world_size, drop_last=True)
    if master:
        n_params = sum(p.numel() for p in core.parameters())
        print(f"{cfg.kind}: {n_params / 1e6:.2f} M parameters, {len(dataset)} clips, batch {cfg.batch_size} "
              f"over {world_size} process(es) on {device}", flush=True)

    # -- 3. optimizer. AdamW in fp32 on fp32 weights; decay only matrices (nanoGPT: not norms/biases).
    params = [p for p in core.parameters() if p.requires_grad]
    # the critic's gradients are clipped on their own, so a sharp critic cannot shrink the VAE's steps
    disc_params = {id(p) for p in core.disc.parameters()} if cfg.kind == "vae" and core.disc is not None else set()
    clip_groups = [[p for p in params if id(p) not in disc_params], [p for p in params if id(p) in disc_params]]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                                  fused=device.type == "cuda")

    # -- 4. resume: weights, EMA, optimizer, step, data position; RNG states last.
    step, epoch, position, records = 0, 0, 0, []
    rewarm_from = None
    log_path = out / "log.jsonl"
    if resume:
        state = ckpt.load_training_state(ckpt_dir, model=core, ema=ema, optimizer=optimizer)
        step, epoch, position = state["step"], state["data_state"]["epoch"], state["data_state"]["batch"]
        if not state["optimizer_restored"]:
            rewarm_from = step
            if master:
                print(f"lr warms up again over {cfg.warmup_steps} steps from step {step} "
                      "(fresh optimizer state)", flush=True)
        changed = {k: (v, getattr(cfg, k)) for k, v in state["config"].items()
                   if k not in ("class", "stop_at_step", "debug_nan_step") and v != ckpt.config_to_dict(cfg).get(k)}
        if master and changed:
            print(f"note: config differs from the checkpoint's (old, new): {changed}", flush=True)
        ckpt.set_rng_states(state["rng_states"])
        if master and log_path.is_file():  # keep the curve of the steps before the checkpoint
            records = [r for r in map(json.loads, log_path.read_text().splitlines()) if r["step"] <= step]
            log_path.write_text("".join(json.dumps(r) + "\n" for r in records))
        if master:
            print(f"resumed from {ckpt_dir} at step {step} (epoch {epoch}, batch {position})", flush=True)
    skipped_total = 0

    # -- 5. a fixed held batch for samples: the first batch of epoch 0, the same on every (re)start.
    sampler.set_epoch(0)
    dataset.set_epoch(0)
    first = list(sampler)
    key = "video" if cfg.kind == "vae" else "latents"
    if not first:
        raise ValueError(f"{cfg.data}: no full batch of {local_batch} clips per process in any bucket; "
                         f"lower batch_size or add clips")
    held_items = []
    for i in (i for b in first for i in b if len(held_items) < max(cfg.num_samples, 1)):
        item = dataset[i]
        if item is not None and (not held_items or item[key].shape == held_items[0][key].shape):
            held_items.append(item)
    held = collate(held_items)

    def save_samples() -> dict[str, float]:
        """Rank 0, EMA weights: VAE reconstructions of the held batch, or DiT samples of fixed prompts."""
        from kinema.video import save_contact_sheet, write_video

        samples_dir.mkdir(parents=True, exist_ok=True)
        with torch.no_grad(), autocast:
            if cfg.kind == "vae":
                x = held["video"][: cfg.num_samples].to(device)
                mean, _ = ema.vae.encode(x)
                x_hat = ema.vae.decode(mean).float()
                rows = [f for pair in zip(to_uint8_frames(x), to_uint8_frames(x_hat)) for f in pair]
                labels = [f"{s} {i}" for i in range(len(x)) for s in ("data", "recon")]
                save_contact_sheet(samples_dir / f"step{step:07d}.png", rows, labels=labels, max_frames=9)
                return {"psnr": psnr(x_hat, x)}
            prompts = list(cfg.sample_prompts[: cfg.num_samples])
            B = len(prompts)
            text, mask = text_encoder.encode(prompts)
            null, null_mask = ema.null_text(B)
            shape = held["latents"].shape[1:]  # (C, T, H, W) of the held batch's bucket
            fps = torch.full((B,), float(held["fps"][0]), device=device)
            g = torch.Generator().manual_seed(cfg.seed)  # same noise at every sample step: comparable sheets

            def velocity(x, t):
                v = ema.dit(x, t, text, mask, fps)
                if cfg.sample_guidance == 1.0:
                    return v
                return flow.guided_velocity(v, ema.dit(x, t, null, null_mask, fps), cfg.sample_guidance)

            noise = flow.frame_noise((B, *shape), g, shared=cfg.noise_shared).to(device)
            z = flow.sample_euler(velocity, noise, flow.timesteps(cfg.sample_steps, shift=cfg.timestep_shift))
            frames = to_uint8_frames(vae.decode(latents_from_dit(z.float(), vae.cfg)))
        save_contact_sheet(samples_dir / f"step{step:07d}.png", list(frames), labels=prompts, max_frames=9)
        write_video(samples_dir / f"step{step:07d}.mp4", np.concatenate(list(frames), axis=2), float(fps[0]))
        return {}

    def export() -> None:
        """EMA weights in the pipeline's part format, plus model_index.json."""
        dtype = torch.bfloat16 if cfg.export_dtype == "bfloat16" else None
        if cfg.kind == "vae":
            stats = {} if cfg.freeze_encoder else latent_stats()  # a frozen encoder keeps its source's
            ckpt.save_part(export_dir / "vae", ema.vae, dataclasses.replace(ema.vae.cfg, **stats), dtype=dtype)
            parts = {"vae": {"path": "vae", "class": "VideoVAE"}}
            ckpt.save_model_index(export_dir, parts)
            return
        # the DiT ships as a whole pipeline folder: the VAE its latents came from, the DiT, the
        # null text, the text encoder's config and sampling defaults matching this training
        from kinema.pipeline import KinemaPipeline, SampleConfig

        sizes = sorted({(w * vae.cfg.spatial_factor, h * vae.cfg.spatial_factor) for (_, _, h, w) in dataset.bucket_keys})
        C, T, h, w = held["latents"].shape[1:]
        sample_cfg = SampleConfig(
            shift=cfg.timestep_shift, noise_shared=cfg.noise_shared, fps=float(held["fps"][0]), width=w * vae.cfg.spatial_factor,
            height=h * vae.cfg.spatial_factor, buckets=tuple(sizes), guidance_scale=cfg.sample_guidance,
            window_frames=1 + (T - 1) * vae.cfg.temporal_factor,
            context_frames=min(SampleConfig.context_frames, 1 + max(T - 2, 0) * vae.cfg.temporal_factor),
        )
        KinemaPipeline(vae, ema.dit, text_encoder, ema.null_text, sample_cfg).save_pretrained(export_dir, dtype=dtype)

    def latent_stats() -> dict[str, float]:
        """Mean and std of posterior samples z ~ N(mean, std) of the EMA VAE over a few clips.

        The DiT trains on such samples (the latent cache draws them per step), so their
        statistics, not the posterior means', set the normalisation to ~unit variance.
        """
        if cfg.latent_stats_clips == 0:
            return {}
        zs, g = [], torch.Generator().manual_seed(cfg.seed)
        with torch.no_grad(), autocast:
            for i in range(min(cfg.latent_stats_clips, len(dataset))):
                item = dataset[i]
                if item is not None:
                    mean, logvar = ema.vae.encode(item["video"][None].to(device))
                    eps = torch.randn(mean.shape, generator=g).to(device)
                    zs.append((mean + torch.exp(0.5 * logvar) * eps).float().flatten())
        if not zs:
            return {}
        z = torch.cat(zs)
        return {"latent_mean": float(z.mean()), "latent_std": float(z.std().clamp_min(1e-6))}

    def save_checkpoint() -> None:
        ckpt.save_training_state(
            ckpt_dir, model=core, ema=ema, optimizer=optimizer, step=step, rng_states=ckpt.get_rng_states(),
            data_state={"epoch": epoch, "batch": position}, config=cfg,
        )
        export()

    # -- 6. the data stream: epochs of the rank's shard of buckets, resumable at (epoch, batch).
    def batches():
        nonlocal epoch, position, skipped_total
        while True:
            sampler.set_epoch(epoch)
            dataset.set_epoch(epoch)  # caption dropout and window draws depend on the epoch
            order = list(sampler)
            loader = torch.utils.data.DataLoader(dataset, batch_sampler=order[position:], collate_fn=collate,
                                                 num_workers=cfg.num_workers,
                                                 worker_init_fn=_ignore_stop_signals if cfg.num_workers else None)
            for indices, batch in zip(order[position:], loader):
                position += 1
                n = 0 if batch is None else len(batch["id"])
                skipped_total += len(indices) - n  # corrupt clips: ManifestDataset gives None, collate drops it
                if n == 0:
                    if ddp:
                        raise RuntimeError(f"a whole batch of clips {indices} failed to decode; remove the corrupt files")
                    continue
                yield batch
            epoch, position = epoch + 1, 0

    # -- 7. the loop
    stop = min(cfg.stop_at_step or cfg.total_steps, cfg.total_steps)
    t_start = t_log = time.monotonic()
    t_ckpt = t_start
    tokens_since_log = 0
    start_step = step
    stopping = False  # a signal arrived: finish this step, checkpoint it, stop
    # the stream is closed on every way out, so the loader's workers shut down before the process exits
    with _stop_on_signals() as stop_signal, contextlib.closing(batches()) as stream:
        while step < stop:
            batch = next(stream)
            lr = lr_at(step, cfg, rewarm_from)
            for group in optimizer.param_groups:
                group["lr"] = lr
            gens = [clip_generator(cfg.seed, step, clip_id) for clip_id in batch["id"]]

            if cfg.kind == "vae":
                x = batch["video"].to(device, non_blocking=True)  # (B, 3, T, H, W) in [-1, 1]
                if cfg.crop_size:  # the VAE is convolutional: crops teach it the same at a fraction of the cost
                    x = random_crops(x, cfg.crop_size, gens)
                zshape = latent_shape(model_cfg, *x.shape[2:])
                eps = torch.stack([torch.randn(zshape, generator=g) for g in gens]).to(device)  # posterior noise
                with autocast:
                    res = model(x, eps)
                mean = res["mean"]
                parts = vae_loss(x, res["x_hat"], mean, res["logvar"], model_cfg)  # L1 + SSIM + gradient + KL, fp32
                loss = parts["total"]
                if cfg.adv_weight:  # the critic learns from step 0; the decoder feels it from adv_start_step
                    parts["adv_d"] = hinge_d_loss(res["d_real"], res["d_fake"])
                    parts["adv_g"] = hinge_g_loss(res["d_gen"])
                    on = step >= cfg.adv_start_step
                    parts["adv_lambda"] = (adaptive_weight(parts["total"], parts["adv_g"], core.last_layer)
                                           if on else torch.zeros(()))
                    loss = loss + cfg.adv_weight * parts["adv_lambda"] * parts["adv_g"] + parts["adv_d"]
                tokens = mean.shape[0] * math.prod(mean.shape[2:])  # latent positions (t * h * w) per step
            else:
                x0 = latents_to_dit(batch["latents"].to(device, non_blocking=True).float(), vae.cfg)  # (B, C, T, H, W)
                maps = batch["objects"].to(device) if object_block else None  # (B, K, T, H, W)
                if image_step(cfg.seed, step, cfg.p_image):
                    x0 = x0[:, :, :1]  # stills: frame 0 encoded alone (a batch of 8 is ~1/9 of a video step)
                    maps = maps[:, :, :1] if maps is not None else None
                B, C, T, H, W = x0.shape
                # per clip: noise level per latent frame, which frames are given clean, and the noise
                t = torch.cat([flow.sample_frame_times(1, T, g, p_independent=cfg.p_independent_t, mean=cfg.logit_mean,
                                                       std=cfg.logit_std, shift=cfg.timestep_shift) for g in gens])
                clean = torch.cat([flow.sample_condition_mask(1, T, g, probs=cfg.condition_probs) for g in gens])
                eps = torch.stack([flow.frame_noise((C, T, H, W), g, shared=cfg.noise_shared) for g in gens])
                t, clean, eps = t.masked_fill(clean, 0.0).to(device), clean.to(device), eps.to(device)
                x_t = flow.interpolate(x0, eps, t)  # clean frames (t = 0) are exactly x0
                text, text_mask = text_encoder.encode(list(batch["caption"]))  # cached per prompt
                drop = torch.tensor([c == "" for c in batch["caption"]], device=device)  # dropped captions -> null text
                fps = torch.as_tensor(batch["fps"], dtype=torch.float32, device=device)
                with autocast:
                    v = model(x_t, t, text, text_mask, drop, fps)
                if object_block:
                    v, logits = v
                loss = flow.flow_loss(v, x0, eps, ~clean)  # clean frames are inputs, not targets
                if ddp:
                    # flow_loss averages over this rank's noisy frames; reweight so DDP's gradient mean equals
                    # the average over the global batch's noisy frames, as a single process would compute
                    n_local = (~clean).sum().float()
                    n_global = n_local.clone()
                    dist.all_reduce(n_global)
                    loss = loss * n_local.clamp_min(1) * world_size / n_global.clamp_min(1)
                parts = {"flow": loss}
                if object_block:  # per rank, like the VAE's terms: a probe's mean needs no DDP reweighting
                    parts["objects"] = object_loss(logits, maps, t)
                    loss = loss + cfg.object_weight * parts["objects"]
                pt = model_cfg.patch_size
                tokens = B * T * (H // pt[1]) * (W // pt[2])  # spacetime patches per step
            if cfg.debug_nan_step and step + 1 == cfg.debug_nan_step:
                loss = loss * float("nan")

            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP all-reduces (averages) gradients here
            grad_norm, disc_norm = (torch.nn.utils.clip_grad_norm_(g, cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
                                    if g else torch.zeros(()) for g in clip_groups)
            # stop before the update if anything is non-finite: the weights and the last checkpoint stay good.
            # One reduction also carries the stop signal, so DDP ranks (which torchrun signals maybe a
            # step apart) agree on the step they stop after.
            bad_values = sum(float(not torch.isfinite(v)) for v in (loss, grad_norm, disc_norm))
            flags = torch.tensor([bad_values, float(bool(stop_signal))], device=device)
            if ddp:
                dist.all_reduce(flags)
            bad, stop_flag = flags.tolist()
            stopping = stop_flag > 0
            if bad > 0:
                msg = (f"loss or gradient became NaN/inf at step {step + 1} (loss {loss.item():.4g}, grad norm "
                       f"{grad_norm.item():.4g}); the last good checkpoint in {ckpt_dir} is untouched. Fix: lower "
                       f"lr (now {cfg.lr:g}), raise warmup_steps, keep grad_clip > 0, and --resume")
                if ddp:
                    dist.destroy_process_group()
                raise TrainingDiverged(msg)
            optimizer.step()
            update_ema(ema, core, ema_decay_at(step, cfg.ema_decay))
            step += 1
            tokens_since_log += tokens * world_size

            # -- logs, samples, checkpoints: rank 0 writes, the others only train
            if not master:
                if stopping:
                    break
                continue
            if cfg.log_every and (step % cfg.log_every == 0 or step == stop):
                now = time.monotonic()
                rate = tokens_since_log / max(now - t_log, 1e-9)
                elapsed = now - t_start
                eta = elapsed / (step - start_step) * (cfg.total_steps - step)
                rec = {"step": step, "loss": loss.detach().item(), **{f"loss_{k}": float(v.detach()) for k, v in parts.items() if k not in ("total", "flow")},
                       "lr": lr, "grad_norm": grad_norm.item(), "tokens_per_s": rate, "elapsed_s": elapsed,
                       "epoch": epoch, "skipped_clips": skipped_total}
                records.append(rec)
                with open(log_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                _plot_losses(records, out / "loss.png")
                print(f"step {step}/{cfg.total_steps} | loss {rec['loss']:.4f} | lr {lr:.2e} | grad {rec['grad_norm']:.2f} "
                      f"| {rate:,.0f} tok/s | ETA {_fmt_time(eta)}" + (f" | skipped {skipped_total}" if skipped_total else ""),
                      flush=True)
                t_log, tokens_since_log = now, 0
            if cfg.sample_every and step % cfg.sample_every == 0:
                extra = save_samples()
                if extra:
                    with open(log_path, "a") as f:
                        f.write(json.dumps({"step": step, **extra}) + "\n")
                    print(f"step {step}: samples in {samples_dir}" + "".join(f" | {k} {v:.2f}" for k, v in extra.items()), flush=True)
            due = (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or \
                  (cfg.checkpoint_minutes and time.monotonic() - t_ckpt > 60 * cfg.checkpoint_minutes)
            if due or step == stop or stopping:
                save_checkpoint()
                t_ckpt = time.monotonic()
            if stopping:
                break

    # -- 8. done: the end-of-run checkpoint and export were written in the loop's last step
    if master and step == cfg.total_steps:
        print(f"done: {step} steps in {_fmt_time(time.monotonic() - t_start)}; EMA weights in {export_dir}", flush=True)
    if ddp:
        dist.barrier()
        dist.destroy_process_group()
    if stopping:
        signum = stop_signal[0] if stop_signal else int(signal.SIGTERM)
        raise TrainingInterrupted(f"stopped by {signal.Signals(signum).name} after step {step}; the checkpoint in "
                                  f"{ckpt_dir} holds it: continue with --resume", signum)
    return export_dir


def train_from_cli(kind: str, config: str | None, overrides: list[str], resume: bool) -> None:
    """`kinema train vae|dit [--config FILE|RECIPE] [key=value ...] [--resume]`."""
    if kind not in KINDS:
        raise ValueError(f"cannot train {kind!r}; choose one of {KINDS}")
    cfg = load_config(config, overrides, kind=kind)
    train(cfg, resume=resume)


if __name__ == "__main__":  # python -m kinema.train vae|dit [--config X] [--resume] [key=value ...]
    import argparse

    ap = argparse.ArgumentParser(description=train_from_cli.__doc__)
    ap.add_argument("kind", choices=KINDS)
    ap.add_argument("--config", default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_intermixed_args()  # overrides may follow --config
    train_from_cli(a.kind, a.config, a.overrides, a.resume)
