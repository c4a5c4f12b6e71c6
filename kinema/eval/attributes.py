"""A video attribute reader learned from the simulator's labels: how many objects of each kind
a clip shows, their sizes, and what they do; and the verifier built on it, which scores a clip
against a prompt by the chance that it passes each of the prompt's checks.

A *kind* is a (colour, shape) pair, a colour alone, a shape alone, or any object (KINDS). For
every kind the model predicts the number of such objects in the clip (0, 1, 2, 3 or more),
and, where there is one, which sizes, verbs (kinema.world.motion.MOTION_VERBS) and directions
its objects have (independent yes/no each). Labels come from each world clip's scene,
re-simulated (`scene_labels`), so they are exact; the prompt side is the world's own grammar
(kinema.world.prompts.parse_prompt), so nothing here reads a prompt with a learned model.

The video side is the video-text model's (kinema.eval.clip): frames area-resized to `size` x
`size` (non-square clips squashed), three strided 3D convolutions, mean + max pooling, then an
MLP and one linear layer for all kinds. Training adds random blur, so the reader also judges the
soft drafts a search previews after a few steps (kinema.search, `select_step`).

`adherence_probability` turns the reader's output into the expected value of `kinema eval`'s
overall adherence under independence: per attribute the mean over the prompt's objects of the
chance of passing (count: exactly the asked number of the kind; colour, shape: at least one;
size, motion, direction: at least one, doing it), then the mean over attributes. It is a
separate reader from the evaluation's parser (kinema.eval.parser), trained on different clips,
but it is trained towards the same notion of adherence, so a search that uses it is judged by
figures it aims at: compare such runs on what the evaluation measures beside adherence too.
"""

from __future__ import annotations

import json
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
from kinema.eval.clip import FVD_FRAMES, _batch_video, _block, prepare_frames, start_run
from kinema.train import lr_at
from kinema.world.motion import MOTION_VERBS
from kinema.world.spec import COLOURS, SHAPES, SIZES

# every kind an object of a prompt can be: (colour or None, shape or None)
KINDS: tuple[tuple[str | None, str | None], ...] = (
    tuple((c, s) for c in COLOURS for s in SHAPES) + tuple((c, None) for c in COLOURS)
    + tuple((None, s) for s in SHAPES) + ((None, None),)
)
KIND_INDEX = {k: i for i, k in enumerate(KINDS)}
MAX_COUNT = 3  # count classes 0, 1, 2, 3 or more
SIZE_NAMES = tuple(SIZES)
DIRECTIONS = ("left", "right", "up", "down")
NUM_PAIRS = len(COLOURS) * len(SHAPES)  # KINDS begins with the (colour, shape) pairs
# per kind: count logits, then size, verb and direction logits (yes/no each)
HEADS = {"count": MAX_COUNT + 1, "size": len(SIZE_NAMES), "verb": len(MOTION_VERBS), "direction": len(DIRECTIONS)}
PER_KIND = sum(HEADS.values())

MODEL_FIELDS = ("size", "num_frames", "width", "hidden")  # what init_from must match

# The shipped reader (see kinema/assets/attributes/CARD.md for its recipe and figures).
DEFAULT_ATTRIBUTES_DIR = Path(__file__).resolve().parent.parent / "assets" / "attributes"


@dataclass(frozen=True)
class AttributeConfig:
    """The attribute reader and its training run (saved with the weights)."""

    # model
    size: int = 64  # frames are area-resized to size x size
    num_frames: int = FVD_FRAMES  # the first num_frames frames of a clip are read
    width: int = 48  # channels of the first convolution; doubled at each of the next two
    hidden: int = 256
    # training
    data: str = "data/world-attr"
    output_dir: str = "runs/attributes"
    holdout: int = 300  # the last `holdout` clips of the manifest are never trained on
    batch_size: int = 48
    lr: float = 2e-3
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    warmup_steps: int = 50
    total_steps: int = 1500
    shift: int = 4  # random translation (pixels at `size`); no flips: left and right are labels
    blur: float = 1.5  # largest Gaussian blur sigma (pixels at `size`), drawn for half the clips; 0: off
    # a model (or VAE) folder whose VAE round-trips every clip i with i % round(1 / vae_fraction) == 0
    # before it is read: the reader then also sees objects as a generator's decoder draws them
    vae: str = ""
    vae_fraction: float = 0.25
    init_from: str = ""  # a reader folder to start from (its model settings must match)
    log_every: int = 10
    eval_every: int = 250
    seed: int = 0
    bf16: bool = True  # autocast where bf16 is native (kinema.precision); never fp16
    threads: int = 2

    def __post_init__(self):
        if self.size < 16 or self.size % 16:
            raise ValueError(f"size must be a multiple of 16 and >= 16, got {self.size}; try 64")
        if self.num_frames < 9:
            raise ValueError(f"num_frames must be >= 9 to show motion, got {self.num_frames}; try {FVD_FRAMES}")
        for name in ("width", "hidden", "batch_size", "total_steps", "log_every", "eval_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.width % 8:
            raise ValueError(f"width must be a multiple of 8 (group norm), got {self.width}")
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if not 0 < self.vae_fraction <= 1:
            raise ValueError(f"vae_fraction must be in (0, 1], got {self.vae_fraction}")
        if self.holdout < 0 or self.warmup_steps < 0 or self.shift < 0 or self.blur < 0:
            raise ValueError("holdout, warmup_steps, shift and blur must be >= 0")


# ----------------------------------------------------------------------------- labels

def scene_labels(scene: dict) -> dict[str, np.ndarray]:
    """Exact labels of a world clip from its scene (a SceneSpec dict), re-simulated.

    Returns count (K,) int64 in 0..MAX_COUNT (objects of each kind, capped), and size (K, 3),
    verb (K, 7), direction (K, 4) float32 in {0, 1}: whether any object of the kind has that
    size, does that verb, goes that way; all zero where the kind is absent. K = len(KINDS).
    """
    from kinema.world.motion import scene_motions
    from kinema.world.sim import simulate
    from kinema.world.spec import SceneSpec

    spec = SceneSpec.from_dict(scene)
    motions = scene_motions(spec, simulate(spec))
    count = np.zeros(len(KINDS), np.int64)
    size = np.zeros((len(KINDS), len(SIZE_NAMES)), np.float32)
    verb = np.zeros((len(KINDS), len(MOTION_VERBS)), np.float32)
    direction = np.zeros((len(KINDS), len(DIRECTIONS)), np.float32)
    for obj, m in zip(spec.objects, motions):
        for kind in ((obj.colour, obj.shape), (obj.colour, None), (None, obj.shape), (None, None)):
            k = KIND_INDEX[kind]
            count[k] += 1
            size[k, SIZE_NAMES.index(obj.size)] = 1
            for v in m.verbs:
                verb[k, MOTION_VERBS.index(v)] = 1
            for d in (m.horizontal, m.vertical):
                if d in DIRECTIONS:
                    direction[k, DIRECTIONS.index(d)] = 1
    return {"count": np.minimum(count, MAX_COUNT), "size": size, "verb": verb, "direction": direction}


# ----------------------------------------------------------------------------- the model

def kind_matrix() -> torch.Tensor:
    """(K, NUM_PAIRS) 0/1: which (colour, shape) pairs make up each kind."""
    m = torch.zeros(len(KINDS), NUM_PAIRS)
    for k, (c, s) in enumerate(KINDS):
        for p, (pc, ps) in enumerate(KINDS[:NUM_PAIRS]):
            m[k, p] = float((c is None or c == pc) and (s is None or s == ps))
    return m


class AttributeModel(nn.Module):
    """Clip -> per-kind logits: count (B, K, 4), size (B, K, 3), verb (B, K, 7), direction (B, K, 4).

    Counts are read as densities (as crowd counting does): a 1x1x1 convolution gives every
    latent cell a non-negative amount of each (colour, shape) pair, whose sum over space,
    averaged over time, is the expected number of such objects; a kind's number is the sum over
    its pairs, so the counts of a colour, a shape and all objects agree with the pairs'. The
    count logits are -(number - n)^2 / tau + b_n for n = 0, 1, 2 and -(3 - number)_+^2 / tau + b_3
    for "3 or more". Sizes, verbs and directions come from the pooled features.
    """

    def __init__(self, cfg: AttributeConfig = AttributeConfig()):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.video = nn.Sequential(
            _block(3, w, (3, 4, 4), (2, 4, 4), (1, 0, 0)),  # (B, w, T/2, S/4, S/4): 4x4 patches
            _block(w, 2 * w, 3, 2, 1),  # (B, 2w, T/4, S/8, S/8)
            _block(2 * w, 4 * w, 3, (2, 1, 1), 1),  # (B, 4w, T/8, S/8, S/8): small objects keep a cell
        )
        self.rest = PER_KIND - HEADS["count"]
        self.head = nn.Sequential(nn.Linear(8 * w, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, len(KINDS) * self.rest))
        self.density = nn.Conv3d(4 * w, NUM_PAIRS, 1)
        nn.init.constant_(self.density.bias, -6.0)  # about 0.16 objects of each pair at the start, not 44
        self.count_tau = nn.Parameter(torch.tensor(-1.0))  # softplus: 0.31
        self.count_bias = nn.Parameter(torch.zeros(MAX_COUNT + 1))
        self.register_buffer("kinds", kind_matrix(), persistent=False)

    def numbers(self, f: torch.Tensor) -> torch.Tensor:
        """Trunk features (B, 4w, t, s, s) -> (B, K) expected number of objects of each kind."""
        density = F.softplus(self.density(f).float())  # (B, P, t, s, s)
        return density.sum((-2, -1)).mean(-1) @ self.kinds.T

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (B, 3, T, S, S) from prepare_frames -> {head: (B, K, n) logits} (HEADS)."""
        f = self.video(x)  # (B, 4w, t, s, s)
        h = f.flatten(2)
        pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=1)  # mean: how much of everything; max: small objects
        rest = self.head(pooled.float()).view(len(x), len(KINDS), self.rest)
        number = self.numbers(f).unsqueeze(-1)  # (B, K, 1)
        n = torch.arange(MAX_COUNT + 1, dtype=number.dtype)
        gap = torch.cat([number - n[:-1], F.relu(n[-1] - number)], dim=-1)  # (B, K, 4); above 3 is "3 or more"
        count = -gap.square() / (F.softplus(self.count_tau) + 0.01) + self.count_bias
        return {"count": count, **dict(zip(list(HEADS)[1:], rest.split(list(HEADS.values())[1:], dim=-1)))}


def attribute_loss(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Cross-entropy on every kind's count; binary cross-entropy on the size, verb and direction
    of the kinds the clip has (an absent kind has none to learn). Returns each term and "loss"."""
    count = logits["count"].float()
    out = {"count": F.cross_entropy(count.flatten(0, 1), labels["count"].flatten())}
    present = (labels["count"] > 0).float().unsqueeze(-1)  # (B, K, 1)
    for name in ("size", "verb", "direction"):
        bce = F.binary_cross_entropy_with_logits(logits[name].float(), labels[name], reduction="none")
        out[name] = (bce * present).sum() / (present.sum() * bce.shape[-1]).clamp(min=1)
    out["loss"] = sum(out.values())
    return out


def load_attribute_model(path: str | os.PathLike) -> AttributeModel:
    """A reader folder written by train_attributes (config.json + model.safetensors), in eval mode."""
    from kinema.checkpoint import load_part

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no attribute reader (config.json); train one with "
                                "`kinema train attributes`")
    return load_part(folder, AttributeModel, AttributeConfig).eval()


@torch.no_grad()
def read_attributes(model: AttributeModel, clips: Sequence[np.ndarray], batch: int = 16) -> dict[str, np.ndarray]:
    """clips: N (T, H, W, 3) uint8 -> {"count": (N, K, 4) probabilities; "size", "verb",
    "direction": (N, K, n) probabilities of yes}. Clips shorter than the model reads are held
    on their last frame."""
    cfg = model.cfg
    model.eval()
    n = cfg.num_frames
    held = [np.concatenate([c, np.repeat(c[-1:], n - len(c), axis=0)]) if len(c) < n else c
            for c in (np.asarray(getattr(c, "frames", c)) for c in clips)]
    parts = []
    for i in range(0, len(held), batch):
        with precision.autocast("cpu", enabled=cfg.bf16):
            logits = model(prepare_frames(held[i : i + batch], cfg.size, n))
        parts.append({"count": logits["count"].float().softmax(-1),
                      **{k: logits[k].float().sigmoid() for k in ("size", "verb", "direction")}})
    return {k: torch.cat([p[k] for p in parts]).numpy() for k in parts[0]}


def adherence_probability(read: dict[str, np.ndarray], constraints) -> np.ndarray:
    """(N,) the expected overall adherence of N clips to one parsed prompt (PromptConstraints),
    from read_attributes's output, each check treated as independent (module docstring); NaN
    where the prompt names no object."""
    per_attr: dict[str, list[np.ndarray]] = {}
    for o in constraints.objects:
        k = KIND_INDEX[(o.colour, o.shape)]
        count = read["count"][:, k]  # (N, 4)
        present = 1.0 - count[:, 0]
        per_attr.setdefault("count", []).append(count[:, min(o.count, MAX_COUNT)])
        if o.colour is not None:
            per_attr.setdefault("colour", []).append(present)
        if o.shape is not None:
            per_attr.setdefault("shape", []).append(present)
        if o.size is not None:
            per_attr.setdefault("size", []).append(present * read["size"][:, k, SIZE_NAMES.index(o.size)])
        if o.motions:
            verbs = [read["verb"][:, k, MOTION_VERBS.index(v)] for v in o.motions]
            per_attr.setdefault("motion", []).append(present * np.mean(verbs, axis=0))
        dirs = [d for d in (o.horizontal, o.vertical) if d is not None]
        if dirs:
            p = [read["direction"][:, k, DIRECTIONS.index(d)] for d in dirs]
            per_attr.setdefault("direction", []).append(present * np.mean(p, axis=0))
    if not per_attr:
        return np.full(len(read["count"]), np.nan)
    return np.mean([np.mean(v, axis=0) for v in per_attr.values()], axis=0)


class AttributeVerifier:
    """Scores clips against a prompt by adherence_probability (kinema.search's Verifier).

    path: a folder written by `kinema train attributes`; None: the shipped one (loaded on first use).
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = path
        self._model = None

    def __call__(self, clips: Sequence[np.ndarray], prompt: str) -> np.ndarray:
        import warnings

        from kinema.world.prompts import parse_prompt

        if self._model is None:
            self._model = load_attribute_model(DEFAULT_ATTRIBUTES_DIR if self.path is None else self.path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the pipeline has already warned about unknown words
            constraints = parse_prompt(prompt)
        scores = adherence_probability(read_attributes(self._model, clips), constraints)
        return np.nan_to_num(scores, nan=0.0)  # a prompt without objects: every candidate ties


# ----------------------------------------------------------------------------- training

def _load_labelled_clips(root: Path, cfg: AttributeConfig, progress: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every clip of a world dataset folder with at least num_frames frames, decoded once:
    (N, T, S, S, 3) uint8, and their labels (scene_labels, stacked); with cfg.vae, every
    round(1 / vae_fraction)-th clip (held-out ones too) as that VAE reconstructs it."""
    from tqdm.auto import tqdm

    from kinema.video import read_video

    vae, every = None, max(1, round(1 / cfg.vae_fraction))
    if cfg.vae:
        from kinema.checkpoint import find_vae_part, load_part
        from kinema.eval.reconstruction import reconstruct
        from kinema.models.vae import VAEConfig, VideoVAE

        vae = load_part(find_vae_part(cfg.vae), VideoVAE, VAEConfig).eval()

    records = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines() if line.strip()]
    records = [r for r in records if r.get("frames", 0) >= cfg.num_frames and (r.get("scene") or r.get("truth"))]
    if len(records) < cfg.holdout + cfg.batch_size:
        raise ValueError(f"{root} has {len(records)} world clips of >= {cfg.num_frames} frames with a scene; training "
                         f"needs at least holdout + batch_size = {cfg.holdout + cfg.batch_size} (make more with "
                         f"`kinema world dataset --out {root} --num 6000`)")
    videos = np.empty((len(records), cfg.num_frames, cfg.size, cfg.size, 3), np.uint8)
    labels: dict[str, list] = {k: [] for k in HEADS}
    for i, r in enumerate(tqdm(records, desc="decoding and labelling clips", unit="clip", disable=not progress,
                               file=sys.stderr)):
        frames, _ = read_video(root / r["file"])
        if vae is not None and i % every == 0:
            with torch.no_grad():
                frames = reconstruct(vae, frames[: 1 + (len(frames) - 1) // 4 * 4])
        x = prepare_frames([frames], cfg.size, cfg.num_frames)[0]  # (3, T, S, S)
        videos[i] = ((x + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 3, 0).numpy()
        scene = r.get("scene") or json.loads((root / r["truth"]).read_text())["scene"]
        for k, v in scene_labels(scene).items():
            labels[k].append(v)
    return videos, {k: np.stack(v) for k, v in labels.items()}


def _blur(x: torch.Tensor, max_sigma: float, g: torch.Generator) -> torch.Tensor:
    """Half the clips of (B, 3, T, S, S) blurred in space by a Gaussian of sigma ~ U(0, max_sigma)."""
    if max_sigma <= 0:
        return x
    out = x.clone()
    radius = int(np.ceil(2 * max_sigma))
    grid = torch.arange(-radius, radius + 1, dtype=torch.float32)
    for i in range(len(x)):
        if torch.rand((), generator=g) < 0.5:
            continue
        sigma = float(torch.rand((), generator=g)) * max_sigma + 1e-3
        k = torch.exp(-0.5 * (grid / sigma) ** 2)
        k = (k / k.sum()).to(x.dtype)
        c = x[i].flatten(0, 1).unsqueeze(1)  # (3T, 1, S, S)
        c = F.conv2d(F.pad(c, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
        c = F.conv2d(F.pad(c, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
        out[i] = c.view_as(x[i])
    return out


@torch.no_grad()
def _evaluate_holdout(model: AttributeModel, videos: np.ndarray, labels: dict[str, np.ndarray]) -> dict:
    """Held-out accuracy: the number of objects (any kind), the count of every kind, and the
    size, verb and direction yes/no of the kinds present."""
    read = read_attributes(model, list(videos))
    model.train()
    count = read["count"].argmax(-1)  # (N, K)
    present = labels["count"] > 0
    out = {"objects_accuracy": float((count[:, -1] == labels["count"][:, -1]).mean()),
           "kind_count_accuracy": float((count == labels["count"]).mean()),
           "present_kind_count_accuracy": float((count == labels["count"])[present].mean())}
    for name in ("size", "verb", "direction"):
        out[f"{name}_accuracy"] = float(((read[name] > 0.5) == (labels[name] > 0.5))[present].mean())
    return out


def _plot(records: list[dict], path: Path) -> None:
    from kinema.plots import pyplot, save_figure

    fig, ax = pyplot().subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in records if "loss" in r], [r["loss"] for r in records if "loss" in r], lw=1, label="loss")
    ev = [r for r in records if "objects_accuracy" in r]
    if ev:
        ax2 = ax.twinx()
        for key, style in (("objects_accuracy", "o-"), ("present_kind_count_accuracy", "s-"), ("verb_accuracy", "^-")):
            ax2.plot([r["step"] for r in ev], [r[key] for r in ev], style, label=f"held-out {key.replace('_', ' ')}")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("accuracy")
        ax2.legend(loc="center right", fontsize=7)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(loc="upper right", fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def train_attributes(cfg: AttributeConfig, *, resume: bool = False, progress: bool = True) -> Path:
    """Train the attribute reader on cfg.data (a world dataset); returns cfg.output_dir
    (config.json + model.safetensors, log.jsonl, loss.png, train_state.pt)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, resume, progress)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: AttributeConfig, resume: bool, progress: bool) -> Path:
    # 1. setup: folders, seeds
    root, out = Path(cfg.data), Path(cfg.output_dir)
    if not (root / "manifest.jsonl").is_file():
        raise FileNotFoundError(f"{root}/manifest.jsonl not found; make a world dataset with "
                                f"`kinema world dataset --out {root} --num 6000` or set data=")
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    # 2. data: decode and label every clip once
    videos, labels = _load_labelled_clips(root, cfg, progress)
    n_train = len(videos) - cfg.holdout
    held = (videos[n_train:], {k: v[n_train:] for k, v in labels.items()})
    train_labels = {k: torch.from_numpy(v[:n_train]) for k, v in labels.items()}

    # 3. model, optimiser; resume if asked
    model = AttributeModel(cfg)
    if cfg.init_from and not resume:
        source = load_attribute_model(cfg.init_from)
        if any(getattr(source.cfg, k) != getattr(cfg, k) for k in MODEL_FIELDS):
            raise ValueError(f"init_from={cfg.init_from} is a reader of other model settings "
                             f"({', '.join(f'{k}={getattr(source.cfg, k)}' for k in MODEL_FIELDS)}); match them")
        model.load_state_dict(source.state_dict())
    opt, step, records, checkpoint, log = start_run(out, model, cfg, g, resume)

    # 4. train
    print(f"attribute reader: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters; "
          f"{n_train} training clips, {cfg.holdout} held out; {cfg.total_steps} steps of {cfg.batch_size}", flush=True)
    model.train()
    t0, start, running = time.monotonic(), step, []
    while step < cfg.total_steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        idx = torch.randint(0, n_train, (cfg.batch_size,), generator=g)
        x = _blur(_batch_video(videos, idx, cfg.shift, g), cfg.blur, g)
        with precision.autocast("cpu", enabled=cfg.bf16):
            logits = model(x)
        terms = attribute_loss(logits, {k: v[idx] for k, v in train_labels.items()})
        loss = terms["loss"]
        if not torch.isfinite(loss):
            raise RuntimeError(f"loss became {loss.item()} at step {step}; lower lr (now {cfg.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        running.append({k: v.item() for k, v in terms.items()})
        if step % cfg.log_every == 0 or step == cfg.total_steps:
            took = time.monotonic() - t0
            rec = {"step": step, **{k: float(np.mean([r[k] for r in running])) for k in running[0]},
                   "lr": lr_at(step - 1, cfg), "seconds": round(took, 1)}
            running = []
            log(rec)
            if progress:
                eta = took / (step - start) * (cfg.total_steps - step)
                print(f"step {step}/{cfg.total_steps}  loss {rec['loss']:.3f} (count {rec['count']:.3f}, verb "
                      f"{rec['verb']:.3f})  {took:.0f}s elapsed, ~{eta:.0f}s left", file=sys.stderr, flush=True)
        if (step % cfg.eval_every == 0 or step == cfg.total_steps) and cfg.holdout >= 5:
            ev = _evaluate_holdout(model, *held)
            log({"step": step, **ev})
            print(f"step {step}: held-out objects {ev['objects_accuracy']:.3f}, count of present kinds "
                  f"{ev['present_kind_count_accuracy']:.3f}, verbs {ev['verb_accuracy']:.3f}, directions "
                  f"{ev['direction_accuracy']:.3f}, sizes {ev['size_accuracy']:.3f}", flush=True)
            checkpoint(step)
            _plot(records, out / "loss.png")
    checkpoint(step)
    _plot(records, out / "loss.png")
    print(f"done: {step} steps in {time.monotonic() - t0:.0f} s; reader in {out}", flush=True)
    return out


# ----------------------------------------------------------------------------- command line

def attribute_config_from_dict(values: dict, *, source: str = "config") -> AttributeConfig:
    """Typed AttributeConfig from a mapping; unknown keys are an error that lists the valid ones."""
    from kinema.config import flat_config_from_dict

    return flat_config_from_dict(AttributeConfig, "attributes", values, source=source)


def train_attributes_from_cli(config: str | None, overrides: list[str], resume: bool) -> Path:
    """`kinema train attributes [--config FILE|RECIPE] [--set key=value ...] [--resume]`; no config:
    configs/attributes.yaml."""
    from kinema.config import load_flat_config

    return train_attributes(load_flat_config(AttributeConfig, "attributes", config, overrides), resume=resume)
