"""A small video-text model trained contrastively (CLIP, Radford et al. 2021) on world clips,
for two scores that need learned features: video-text similarity and an FVD-style
Frechet distance (Unterthiner et al. 2018, with this encoder in place of I3D).

Video side: frames resized to `size` x `size`, the first `num_frames`, three strided 3D
convolutions, mean+max pooled over time and space -> `features` (what the Frechet distance
uses) -> a linear projection -> the joint embedding. Text side: the frozen TextEncoder's
mean-pooled token states -> a learned two-layer projection. InfoNCE with a learned
temperature.

FVD protocol (fixed so numbers compare across runs): FVD_NUM_CLIPS = 256 clips per set,
each its first FVD_FRAMES = 33 frames (2 s at 16 fps), resized to the model's square size;
`features` of the model given, Frechet distance of Gaussians fitted to the two sets. Always
report it next to the real-vs-real floor (two disjoint sets of real clips), as the metric
is biased upward for finite N.
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from kinema import precision
from kinema.train import lr_at  # the generators' LR schedule

FVD_NUM_CLIPS = 256  # clips per set: the Frechet distance is biased by N, so N is fixed
FVD_FRAMES = 33  # 2 s at 16 fps, the training clip length
CAPTION_LEVELS = ("short", "medium", "detailed")


@dataclass(frozen=True)
class ClipConfig:
    """The video-text model and its training run (saved with the weights)."""

    # model
    size: int = 64  # frames are resized to size x size (non-square buckets are squashed)
    num_frames: int = FVD_FRAMES  # the first num_frames frames of a clip are used
    width: int = 32  # channels of the first convolution; doubled at each of the next two
    feature_dim: int = 128  # pooled video features: what frechet_distance compares
    embed_dim: int = 128  # the joint video-text space
    text_dim: int = 384  # TextEncoder().dim (all-MiniLM-L6-v2)
    text_hidden: int = 256
    # training
    data: str = "data/world-id"
    output_dir: str = "runs/clip"
    holdout: int = 200  # the last `holdout` clips of the manifest are never trained on
    batch_size: int = 64
    lr: float = 2e-3
    min_lr: float = 1e-4
    weight_decay: float = 0.05
    warmup_steps: int = 50
    total_steps: int = 1200
    shift: int = 4  # random translation (pixels at `size`) as augmentation; 0 turns it off
    log_every: int = 10
    eval_every: int = 200
    seed: int = 0
    bf16: bool = True  # autocast where bf16 is native (kinema.precision); never fp16
    threads: int = 1  # torch.set_num_threads for the run: the machine is shared

    def __post_init__(self):
        if self.size < 16 or self.size % 16:
            raise ValueError(f"size must be a multiple of 16 and >= 16, got {self.size}; try 64")
        if self.num_frames < 5:
            raise ValueError(f"num_frames must be >= 5 to show motion, got {self.num_frames}; try {FVD_FRAMES}")
        for name in ("width", "feature_dim", "embed_dim", "text_dim", "text_hidden", "batch_size", "total_steps",
                     "log_every", "eval_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2: InfoNCE needs negatives in the batch")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if self.holdout < 0 or self.warmup_steps < 0 or self.shift < 0:
            raise ValueError("holdout, warmup_steps and shift must be >= 0")


# ----------------------------------------------------------------------------- inputs

def prepare_frames(frames_list: Sequence[np.ndarray], size: int, num_frames: int) -> torch.Tensor:
    """Clips -> model input.

    frames_list: N clips, each (T, H, W, 3) uint8 with T >= num_frames (a Video works too).
    Returns (N, 3, num_frames, size, size) float32 in [-1, 1]: the first num_frames frames,
    area-resized.
    """
    out = []
    for i, f in enumerate(frames_list):
        f = np.asarray(getattr(f, "frames", f))
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise ValueError(f"clip {i}: expected (T, H, W, 3) uint8 frames, got {f.dtype} {f.shape}")
        if len(f) < num_frames:
            raise ValueError(f"clip {i} has {len(f)} frames; the model reads the first {num_frames} "
                             f"({num_frames / 16:g} s at 16 fps); generate longer clips")
        x = torch.from_numpy(np.ascontiguousarray(f[:num_frames])).permute(0, 3, 1, 2).float()  # (T, 3, H, W)
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="area")
        out.append(x.permute(1, 0, 2, 3) / 127.5 - 1.0)  # (3, T, S, S)
    if not out:
        raise ValueError("no clips given; pass at least one (T, H, W, 3) uint8 array")
    return torch.stack(out)


@functools.lru_cache(maxsize=1)
def _text_encoder():
    from kinema.models.text import TextEncoder

    return TextEncoder()


def pooled_text(prompts: Sequence[str]) -> torch.Tensor:
    """prompts: B strings -> (B, text_dim) mean of the frozen encoder's real-token states."""
    prompts = list(prompts)
    out = []
    for i in range(0, len(prompts), 256):  # bounded memory for long prompt lists
        states, mask = _text_encoder().encode(prompts[i : i + 256])  # (b, L, D), (b, L)
        m = mask.unsqueeze(-1).float()
        out.append((states * m).sum(1) / m.sum(1).clamp(min=1))
    return torch.cat(out)


# ----------------------------------------------------------------------------- the model

def _block(cin: int, cout: int, kernel, stride, padding) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, kernel, stride, padding), nn.GroupNorm(8, cout), nn.GELU())


class VideoTextModel(nn.Module):
    """Video encoder + text projection into one space; the text encoder itself stays outside
    (frozen, shared, not saved with these weights)."""

    def __init__(self, cfg: ClipConfig = ClipConfig()):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.video = nn.Sequential(
            _block(3, w, (3, 4, 4), (2, 4, 4), (1, 0, 0)),  # (B, w, T/2, S/4, S/4): 4x4 patches
            _block(w, 2 * w, 3, 2, 1),  # (B, 2w, T/4, S/8, S/8)
            _block(2 * w, 4 * w, 3, 2, 1),  # (B, 4w, T/8, S/16, S/16)
        )
        self.video_features = nn.Linear(8 * w, cfg.feature_dim)
        self.video_proj = nn.Linear(cfg.feature_dim, cfg.embed_dim)
        self.text_proj = nn.Sequential(nn.LayerNorm(cfg.text_dim), nn.Linear(cfg.text_dim, cfg.text_hidden),
                                       nn.GELU(), nn.Linear(cfg.text_hidden, cfg.embed_dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, T, S, S) from prepare_frames -> (B, feature_dim) pooled video features."""
        h = self.video(x).flatten(2)  # (B, 4w, t*s*s)
        # mean + max: the mean keeps how much of everything, the max keeps small objects seen once
        pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=1)  # (B, 8w)
        return self.video_features(pooled.float())

    def encode_video(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, T, S, S) -> (B, embed_dim) unit vectors."""
        return F.normalize(self.video_proj(self.features(x)), dim=-1)

    def encode_pooled_text(self, t: torch.Tensor) -> torch.Tensor:
        """t: (B, text_dim) from pooled_text -> (B, embed_dim) unit vectors."""
        return F.normalize(self.text_proj(t.float()), dim=-1)

    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """prompts: B strings -> (B, embed_dim) unit vectors."""
        return self.encode_pooled_text(pooled_text(prompts))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, T, S, S) clips; t: (B, text_dim) pooled text of the matching captions ->
        the symmetric InfoNCE loss (scalar)."""
        v, u = self.encode_video(x), self.encode_pooled_text(t)  # (B, E) each
        return info_nce(v, u, self.logit_scale)


def info_nce(v: torch.Tensor, u: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP): v, u (B, E) unit vectors, row i of each a positive pair."""
    logits = logit_scale.clamp(max=math.log(100)).exp() * v.float() @ u.float().T  # (B, B); cap as CLIP
    target = torch.arange(len(v), device=v.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


# The shipped video-text model (see kinema/assets/clip/CARD.md for its recipe and figures).
DEFAULT_CLIP_DIR = Path(__file__).resolve().parent.parent / "assets" / "clip"


def load_clip_model(path: str | os.PathLike) -> VideoTextModel:
    """A model folder written by train_clip (config.json + model.safetensors), in eval mode."""
    from kinema.checkpoint import load_part

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no video-text model (config.json); train one with "
                                "`kinema train clip --config default-clip`")
    return load_part(folder, VideoTextModel, ClipConfig).eval()


# ----------------------------------------------------------------------------- scores

@torch.no_grad()
def _video_batches(model: VideoTextModel, frames_list, fn, batch: int = 32) -> torch.Tensor:
    cfg = model.cfg
    out = []
    for i in range(0, len(frames_list), batch):
        x = prepare_frames(frames_list[i : i + batch], cfg.size, cfg.num_frames)
        out.append(fn(x).float())
    return torch.cat(out)


@torch.no_grad()
def features(model: VideoTextModel, frames_list: Sequence[np.ndarray]) -> np.ndarray:
    """frames_list: N clips (T, H, W, 3) uint8 -> (N, feature_dim) float64 video features."""
    model.eval()
    return _video_batches(model, list(frames_list), model.features).double().numpy()


@torch.no_grad()
def similarity(model: VideoTextModel, frames_list: Sequence[np.ndarray], prompts: Sequence[str]) -> np.ndarray:
    """(N videos, M prompts) cosine similarities in [-1, 1]; the diagonal of matched pairs is
    the video-text score (CLIPScore-like, Hessel et al. 2021, without the rescaling)."""
    model.eval()
    v = _video_batches(model, list(frames_list), model.encode_video)  # (N, E)
    u = model.encode_text(list(prompts))  # (M, E)
    return (v @ u.T).numpy()


def retrieval_accuracy(model: VideoTextModel, frames_list: Sequence[np.ndarray], prompts: Sequence[str],
                       *, sim: np.ndarray | None = None) -> tuple[float, float]:
    """Text -> video retrieval among the N given clips: (top-1, top-5) fractions of prompts
    whose own clip (same index) ranks first / in the first five. Chance is 1/N and 5/N;
    duplicate captions (two clips both "a red ball falls") cap top-1 below 1."""
    if len(frames_list) != len(prompts):
        raise ValueError(f"got {len(frames_list)} clips and {len(prompts)} prompts; pass one prompt per clip")
    s = similarity(model, frames_list, prompts) if sim is None else sim  # (N, N)
    own = np.diag(s)
    rank = (s > own[None, :]).sum(0)  # per prompt: clips scored strictly above its own
    return float((rank < 1).mean()), float((rank < 5).mean())


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017):
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    feats_a: (N, D), feats_b: (M, D), N, M >= 2. Compare only numbers computed with the same
    model and the same N (FVD_NUM_CLIPS), next to a real-vs-real floor.
    """
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need two (N, D) feature sets with N >= 2 and the same D, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # tr((S_a S_b)^(1/2)) = tr((A S_b A)^(1/2)) with A = S_a^(1/2): a symmetric PSD matrix, so
    # eigh is exact and stable where sqrtm of the non-symmetric product can turn complex
    w, u = np.linalg.eigh(s_a)
    root_a = (u * np.sqrt(np.clip(w, 0, None))) @ u.T
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum()
    d = float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_covmean)
    return max(d, 0.0)  # tiny negatives are rounding


def fvd(model: VideoTextModel, clips_a: Sequence[np.ndarray], clips_b: Sequence[np.ndarray]) -> float:
    """FVD-style distance of two clip sets under the module's protocol (first FVD_NUM_CLIPS each)."""
    a, b = list(clips_a)[:FVD_NUM_CLIPS], list(clips_b)[:FVD_NUM_CLIPS]
    return frechet_distance(features(model, a), features(model, b))


# ----------------------------------------------------------------------------- training

def _load_clips(root: Path, cfg: ClipConfig, progress: bool) -> tuple[np.ndarray, list[dict]]:
    """All clips of a dataset folder, decoded once: (N, T, S, S, 3) uint8 and their captions."""
    from tqdm.auto import tqdm

    from kinema.data import read_manifest
    from kinema.video import read_video

    clips = [c for c in read_manifest(root) if c.frames >= cfg.num_frames]
    if len(clips) < cfg.holdout + cfg.batch_size:
        raise ValueError(f"{root} has {len(clips)} clips of >= {cfg.num_frames} frames; training needs at least "
                         f"holdout + batch_size = {cfg.holdout + cfg.batch_size} (make more with "
                         f"`kinema world dataset --out {root} --num 2000`)")
    videos = np.empty((len(clips), cfg.num_frames, cfg.size, cfg.size, 3), np.uint8)
    for i, c in enumerate(tqdm(clips, desc="decoding clips", unit="clip", disable=not progress, file=sys.stderr)):
        frames, _ = read_video(root / c.file)
        x = prepare_frames([frames], cfg.size, cfg.num_frames)[0]  # (3, T, S, S)
        videos[i] = ((x + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 3, 0).numpy()
    return videos, [c.captions for c in clips]


def _batch_video(videos: np.ndarray, idx: torch.Tensor, shift: int, g: torch.Generator) -> torch.Tensor:
    """(B,) clip indices -> (B, 3, T, S, S) float in [-1, 1], each randomly translated by up to shift px."""
    x = torch.from_numpy(videos[idx.numpy()]).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0
    if shift:
        S = x.shape[-1]
        x = F.pad(x.flatten(1, 2), (shift,) * 4, mode="replicate").unflatten(1, x.shape[1:3])  # (B, 3, T, S+2s, S+2s)
        oy, ox = torch.randint(0, 2 * shift + 1, (2, len(idx)), generator=g)
        x = torch.stack([x[i, :, :, oy[i] : oy[i] + S, ox[i] : ox[i] + S] for i in range(len(idx))])
    return x


def _plot_losses(records: list[dict], path: Path) -> None:
    from kinema.plots import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in records if "loss" in r], [r["loss"] for r in records if "loss" in r], lw=1, label="InfoNCE")
    ev = [r for r in records if "top1" in r]
    if ev:
        ax2 = ax.twinx()
        ax2.plot([r["step"] for r in ev], [r["top1"] for r in ev], "o-", c="C1", label="held-out top-1")
        ax2.plot([r["step"] for r in ev], [r["top5"] for r in ev], "s-", c="C2", label="held-out top-5")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("retrieval accuracy")
        ax2.legend(loc="upper right", fontsize=7)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def _evaluate_holdout(model: VideoTextModel, videos: np.ndarray, captions: list[dict]) -> dict:
    """Top-1/top-5 text->video retrieval on the held-out clips with their medium captions."""
    level = "medium"
    prompts = [c.get(level) or next(iter(c.values())) for c in captions]
    with torch.no_grad():
        model.eval()
        x = torch.from_numpy(videos).permute(0, 4, 1, 2, 3)
        v = torch.cat([model.encode_video(x[i : i + 64].float() / 127.5 - 1) for i in range(0, len(x), 64)])
        sim = (v @ model.encode_text(prompts).T).numpy()
        model.train()
    top1, top5 = retrieval_accuracy(model, list(videos), prompts, sim=sim)
    return {"top1": top1, "top5": top5, "num_holdout": len(prompts)}


def start_run(out: Path, model: nn.Module, cfg, g: torch.Generator, resume: bool):
    """The optimiser, log and checkpoints of a small evaluation model's training run (the
    video-text model's, kinema.eval.attributes' reader's) in folder `out`.

    AdamW (betas 0.9, 0.98; cfg.weight_decay on matrices, none on norms and biases). With resume,
    out/train_state.pt restores model, optimiser, generator g and step, and out/log.jsonl is cut
    back to that step. Returns (opt, step, records, checkpoint, log): checkpoint(step) writes the
    weights (save_part) and the state atomically; log(rec) appends to records and the log file.
    """
    from kinema.checkpoint import save_part

    decay = [p for p in model.parameters() if p.ndim >= 2]  # no decay on norms, biases, temperature
    rest = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, 0.98))
    step, records = 0, []
    state_path, log_path = out / "train_state.pt", out / "log.jsonl"
    if resume:
        if not state_path.is_file():
            raise FileNotFoundError(f"nothing to resume in {out} (no train_state.pt); drop --resume")
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        g.set_state(state["generator"])
        step = state["step"]
        records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
        records = [r for r in records if r["step"] <= step]
    log_path.write_text("".join(json.dumps(r) + "\n" for r in records))

    def checkpoint(step: int) -> None:
        save_part(out, model, cfg)
        tmp = state_path.with_name(".train_state.pt.tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": g.get_state(),
                    "step": step}, tmp)
        os.replace(tmp, state_path)

    def log(rec: dict) -> None:
        records.append(rec)
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    return opt, step, records, checkpoint, log


def train_clip(cfg: ClipConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Train the video-text model on cfg.data; returns cfg.output_dir (config.json +
    model.safetensors, log.jsonl, loss.png, train_state.pt)."""

    # 1. setup: threads (restored on return), seeds, folders
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, resume, progress)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: ClipConfig, resume: bool, progress: bool) -> Path:
    root, out = Path(cfg.data), Path(cfg.output_dir)
    if not (root / "manifest.jsonl").is_file():
        raise FileNotFoundError(f"{root}/manifest.jsonl not found; make a dataset with "
                                f"`kinema world dataset --out {root} --num 2000` or set data=")
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    # 2. data: decode every clip once, pool every caption's text once (the encoder is frozen)
    videos, captions = _load_clips(root, cfg, progress)
    n_train = len(videos) - cfg.holdout
    train_caps = [[c.get(k, "") for k in CAPTION_LEVELS] for c in captions[:n_train]]
    flat = [t for caps in train_caps for t in caps]
    distinct = sorted({t for t in flat if t})
    pooled = pooled_text(distinct)  # (U, text_dim)
    row = {t: i for i, t in enumerate(distinct)}
    cap_index = torch.tensor([[row.get(t, -1) for t in caps] for caps in train_caps])  # (n_train, 3); -1: missing

    # 3. model, optimiser; resume if asked
    model = VideoTextModel(cfg)
    opt, step, records, checkpoint, log = start_run(out, model, cfg, g, resume)

    # 4. train
    print(f"video-text model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters; "
          f"{n_train} training clips, {cfg.holdout} held out; {cfg.total_steps} steps of {cfg.batch_size}", flush=True)
    model.train()
    t0, running = time.monotonic(), []
    while step < cfg.total_steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        idx = torch.randint(0, n_train, (cfg.batch_size,), generator=g)
        level = torch.randint(0, len(CAPTION_LEVELS), (cfg.batch_size,), generator=g)
        ci = cap_index[idx, level]
        ci = torch.where(ci >= 0, ci, cap_index[idx].amax(1))  # a missing level: any caption of the clip
        x = _batch_video(videos, idx, cfg.shift, g)
        with precision.autocast("cpu", enabled=cfg.bf16):
            loss = model(x, pooled[ci])
        if not torch.isfinite(loss):
            raise RuntimeError(f"loss became {loss.item()} at step {step}; lower lr (now {cfg.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        running.append(loss.item())
        if step % cfg.log_every == 0 or step == cfg.total_steps:
            took = time.monotonic() - t0
            rec = {"step": step, "loss": float(np.mean(running)), "lr": lr_at(step - 1, cfg),
                   "temperature": float(1 / model.logit_scale.detach().exp()), "seconds": round(took, 1)}
            running = []
            log(rec)
            if progress:
                eta = took / step * (cfg.total_steps - step) if not resume else float("nan")
                print(f"step {step}/{cfg.total_steps}  loss {rec['loss']:.3f}  T {rec['temperature']:.3f}  "
                      f"{took:.0f}s elapsed, ~{eta:.0f}s left", file=sys.stderr, flush=True)
        if (step % cfg.eval_every == 0 or step == cfg.total_steps) and cfg.holdout >= 5:
            ev = _evaluate_holdout(model, videos[n_train:], captions[n_train:])
            log({"step": step, **ev})
            print(f"step {step}: held-out text->video top-1 {ev['top1']:.3f}, top-5 {ev['top5']:.3f} "
                  f"(chance {1 / cfg.holdout:.3f}, {5 / cfg.holdout:.3f})", flush=True)
            checkpoint(step)
            _plot_losses(records, out / "loss.png")
    checkpoint(step)
    _plot_losses(records, out / "loss.png")
    print(f"done: {step} steps in {time.monotonic() - t0:.0f} s; model in {out}", flush=True)
    return out


# ----------------------------------------------------------------------------- command line

def clip_config_from_dict(values: dict, *, source: str = "config") -> ClipConfig:
    """Typed ClipConfig from a mapping; unknown keys are an error that lists the valid ones."""
    from kinema.config import flat_config_from_dict

    return flat_config_from_dict(ClipConfig, "clip", values, source=source)


def train_clip_from_cli(config: str | None, overrides: list[str], resume: bool) -> Path:
    """`kinema train clip [--config FILE|RECIPE] [--set key=value ...] [--resume]`; no config: configs/clip.yaml."""
    from kinema.config import load_flat_config

    return train_clip(load_flat_config(ClipConfig, "clip", config, overrides), resume=resume)
