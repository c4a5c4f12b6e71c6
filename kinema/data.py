"""Datasets in Kinema's one format, bucketed batching and the latent cache.

The format (written by `kinema world dataset`; real videos use the same):

    ROOT/manifest.jsonl     one JSON object per clip:
        {"id", "file" (mp4 path relative to ROOT),
         "captions": {"short", "medium", "detailed"}   (or "caption": "..." for user data),
         "fps", "frames", "width", "height",
         optional "split", "seed", "scene", "truth"}

Training the DiT reads latents, not mp4s: `build_latent_cache` runs the VAE encoder once
over a dataset and stores each clip's posterior (mean, std), and `LatentDataset` samples
z ~ N(mean, std) per step, so the KL posterior noise is kept as in LDM (Rombach et al. 2022).

Determinism: every random choice of item i in epoch e (caption level, caption dropout,
frame window, latent sample) comes from a generator seeded by (seed, e, i), so a run resumed
at epoch e sees exactly the same items, whatever the DataLoader's workers.
Buckets: a batch holds items of one (frames, height, width) key, so tensors stack without
padding or resizing (Sora trains on native sizes; NaViT, Dehghani et al. 2023).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import uuid
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import Dataset, Sampler
from tqdm.auto import tqdm

from kinema import precision
from kinema.jsonl import read_jsonl
from kinema.video import read_video

CAPTION_LEVELS = ("short", "medium", "detailed")
CACHE_FORMAT = 1
TEMPORAL_FACTOR = 4  # the VAE's: clips are cut to 1 + 4k frames


# ---------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class Clip:
    """One manifest line, checked. captions: the non-empty captions, by level."""

    id: str
    file: str
    captions: dict
    fps: float
    frames: int
    width: int
    height: int
    split: str | None = None


def read_manifest(root: str | os.PathLike) -> list[Clip]:
    """The clips of ROOT/manifest.jsonl; a ValueError names the file and line of any problem."""
    path = Path(root) / "manifest.jsonl"
    if not path.is_file():
        raise ValueError(
            f"{path} does not exist; a dataset is a folder with manifest.jsonl and its videos "
            f"(make one with `kinema world dataset --out {Path(root)} --num N`)"
        )
    clips, seen = [], {}
    for lineno, rec in read_jsonl(path, "fix or delete the line"):
        where = f"{path} line {lineno}"
        clip = _parse_record(rec, where)
        if clip.id in seen:
            raise ValueError(f"{where}: id {clip.id!r} already used on line {seen[clip.id]}; ids must be unique")
        seen[clip.id] = lineno
        clips.append(clip)
    if not clips:
        raise ValueError(f"{path} has no clips; add one JSON object per line")
    return clips


def merge_datasets(out: str | os.PathLike, sources: list[str | os.PathLike]) -> Path:
    """Write OUT/manifest.jsonl listing the clips of several datasets, without copying videos.

    Ids get their source folder's name as a prefix ("world-id-8fps/000001") made path-safe
    ("world-id-8fps-000001"), since two world datasets number their clips alike; "file" and
    "truth" become relative to OUT. Used to train one model on several frame rates.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for src in map(Path, sources):
        read_manifest(src)  # validate first: a bad source fails before anything is written
        prefix = src.resolve().name
        for line in (src / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            rec["id"] = f"{prefix}-{rec['id']}"
            for key in ("file", "truth"):
                if isinstance(rec.get(key), str):
                    rec[key] = os.path.relpath(src / rec[key], out)
            lines.append(json.dumps(rec))
    tmp = out / ".manifest.jsonl.tmp"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, out / "manifest.jsonl")
    return out


def _parse_record(rec, where: str) -> Clip:
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    missing = [k for k in ("id", "file", "fps", "frames", "width", "height") if k not in rec]
    if "captions" not in rec and "caption" not in rec:
        missing.append('"captions" or "caption"')
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    if "captions" in rec:
        caps = rec["captions"]
        if not isinstance(caps, dict) or not all(isinstance(v, str) for v in caps.values()):
            raise ValueError(f'{where}: "captions" must be an object of strings like {{"short": "...", "medium": "..."}}')
    else:
        if not isinstance(rec["caption"], str):
            raise ValueError(f'{where}: "caption" must be a string')
        caps = {"caption": rec["caption"]}
    caps = {k: v for k, v in caps.items() if v.strip()}
    try:
        fps, frames, width, height = float(rec["fps"]), int(rec["frames"]), int(rec["width"]), int(rec["height"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: fps, frames, width and height must be numbers ({e})") from e
    if not (fps > 0 and frames > 0 and width > 0 and height > 0):
        raise ValueError(f"{where}: fps, frames, width and height must be positive")
    split = rec.get("split")
    return Clip(str(rec["id"]), str(rec["file"]), caps, fps, frames, width, height, None if split is None else str(split))


def usable_frames(frames: int) -> int:
    """The longest 1 + 4k frame count <= frames: what the causal VAE encodes."""
    return 1 + (frames - 1) // TEMPORAL_FACTOR * TEMPORAL_FACTOR


def _rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


def _pick_caption(captions: dict, rng: np.random.Generator, dropout: float) -> str:
    """A uniformly random available level, or "" with probability `dropout` (for CFG)."""
    drop = rng.random() < dropout  # drawn first and always, so the level draw never shifts it
    levels = [captions[k] for k in sorted(captions, key=_level_order)]
    level = levels[rng.integers(len(levels))] if levels else ""
    return "" if drop else level


def _level_order(name: str) -> tuple[int, str]:
    return (CAPTION_LEVELS.index(name) if name in CAPTION_LEVELS else len(CAPTION_LEVELS), name)


def _check_dropout(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"caption_dropout is a probability in [0, 1], got {p}")


# ---------------------------------------------------------------- videos


class ManifestDataset(Dataset):
    """Decoded clips of a dataset folder.

    item i -> dict(video (3, T, H, W) float32 in [-1, 1], caption str, fps float, id str), or
    None when the video cannot be read (counted in `num_skipped`, warned once per file).
    T is num_frames (1 + 4k) from a random start, or the clip's longest 1 + 4k prefix.
    Clips shorter than num_frames are left out at construction (`num_too_short`).
    Counters live in the process that reads: with DataLoader workers, each has its own.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        num_frames: int | None = None,
        caption_dropout: float = 0.1,
        seed: int = 0,
        split: str | None = None,
    ):
        if num_frames is not None and (num_frames < 1 or (num_frames - 1) % TEMPORAL_FACTOR):
            lo = usable_frames(max(num_frames, 1))
            raise ValueError(f"num_frames must be 1 + {TEMPORAL_FACTOR}k, got {num_frames}; try {lo} or {lo + TEMPORAL_FACTOR}")
        _check_dropout(caption_dropout)
        self.root = Path(root)
        self.num_frames = num_frames
        self.caption_dropout = caption_dropout
        self.seed = seed
        self.epoch = 0
        clips = read_manifest(self.root)
        if split is not None:
            clips = [c for c in clips if c.split == split]
            if not clips:
                raise ValueError(f"{self.root / 'manifest.jsonl'} has no clips with split {split!r}")
        need = num_frames or 1
        self.clips = [c for c in clips if c.frames >= need]
        self.num_too_short = len(clips) - len(self.clips)
        if self.num_too_short:
            warnings.warn(
                f"{self.root}: left out {self.num_too_short} of {len(clips)} clips shorter than num_frames={num_frames}",
                stacklevel=2,
            )
        if not self.clips:
            raise ValueError(f"{self.root}: no clip has {num_frames} frames; lower num_frames")
        self.num_skipped = 0
        self._warned: set[str] = set()

    def __len__(self) -> int:
        return len(self.clips)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def frames_of(self, clip: Clip) -> int:
        return self.num_frames or usable_frames(clip.frames)

    @property
    def bucket_keys(self) -> list[tuple[int, int, int]]:
        """(T, H, W) of every item, from the manifest (nothing is decoded)."""
        return [(self.frames_of(c), c.height, c.width) for c in self.clips]

    def __getitem__(self, i: int) -> dict | None:
        clip = self.clips[i]
        rng = _rng(self.seed, self.epoch, i)
        caption = _pick_caption(clip.captions, rng, self.caption_dropout)
        T = self.frames_of(clip)
        frames = self._read(clip, T)
        if frames is None:
            return None
        start = int(rng.integers(len(frames) - T + 1))
        window = torch.from_numpy(frames[start : start + T])  # (T, H, W, 3) uint8
        video = window.permute(3, 0, 1, 2).float().div(127.5).sub(1.0)  # (3, T, H, W) in [-1, 1]
        return {"video": video, "caption": caption, "fps": clip.fps, "id": clip.id}

    def _read(self, clip: Clip, T: int) -> np.ndarray | None:
        """frames (T', H, W, 3) uint8 with T' >= T, or None (skipped, warned once per file)."""
        path = self.root / clip.file
        try:
            frames, _ = read_video(path)
            problem = None
            if frames.shape[1:3] != (clip.height, clip.width):
                problem = f"is {frames.shape[2]}x{frames.shape[1]} but the manifest says {clip.width}x{clip.height}"
            elif len(frames) < T:
                problem = f"decodes to {len(frames)} frames, fewer than the {T} needed"
        except Exception as e:  # any decoder failure: one bad file must not end an epoch
            frames, problem = None, f"cannot be read ({e})"
        if problem is None:
            return frames
        self.num_skipped += 1
        if clip.file not in self._warned:
            self._warned.add(clip.file)
            warnings.warn(f"skipping clip {clip.id!r}: {path} {problem}", RuntimeWarning, stacklevel=3)
        return None


# ---------------------------------------------------------------- batching


class BucketBatchSampler(Sampler):
    """Batches of indices that share one key, shuffled per epoch and sharded per rank.

    keys: one hashable key per item (a dataset's `bucket_keys`). Each epoch every bucket is
    shuffled and cut into batches, and the batches are shuffled, all from (seed, epoch).
    Rank r takes every world_size-th batch after the total is cut (drop_last) or padded by
    repeating batches (not drop_last) to a multiple of world_size, so every rank runs the
    same number of steps; with drop_last the ranks' batches are disjoint.
    """

    def __init__(self, keys: list[tuple], batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1, drop_last: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        self.batch_size, self.seed, self.rank, self.world_size, self.drop_last = batch_size, seed, rank, world_size, drop_last
        self.epoch = 0
        buckets: dict = defaultdict(list)
        for i, k in enumerate(keys):
            buckets[k].append(i)
        self.buckets = dict(sorted(buckets.items(), key=lambda kv: repr(kv[0])))  # order independent of input order
        per = [(len(v) // batch_size if drop_last else -(-len(v) // batch_size)) for v in self.buckets.values()]
        self.total_batches = sum(per)
        if len(self) == 0:
            sizes = {k: len(v) for k, v in self.buckets.items()}
            raise ValueError(
                f"{len(keys)} items in buckets {sizes} give {self.total_batches} full batches of {batch_size}, "
                f"fewer than world_size={world_size}; lower batch_size or add data"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.total_batches // self.world_size
        return -(-self.total_batches // self.world_size)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = []
        for idx in self.buckets.values():
            idx = [idx[j] for j in rng.permutation(len(idx))]
            stop = len(idx) // self.batch_size * self.batch_size if self.drop_last else len(idx)
            batches += [idx[s : s + self.batch_size] for s in range(0, stop, self.batch_size)]
        batches = [batches[j] for j in rng.permutation(len(batches))]
        n = len(self) * self.world_size
        batches = (batches * (n // max(len(batches), 1) + 1))[:n]  # cut, or pad by repeating
        yield from batches[self.rank :: self.world_size]


def collate(items: list[dict | None]) -> dict | None:
    """Stack a batch: tensors -> (B, ...), numbers -> (B,) float32, strings -> lists.

    None items (unreadable videos) are dropped; returns None if nothing is left, so the
    training loop should skip a None batch.
    """
    items = [x for x in items if x is not None]
    if not items:
        return None
    out = {}
    for key, first in items[0].items():
        values = [x[key] for x in items]
        if isinstance(first, torch.Tensor):
            out[key] = torch.stack(values)
        elif isinstance(first, (int, float)):
            out[key] = torch.tensor(values, dtype=torch.float32)
        else:
            out[key] = values
    return out


# ---------------------------------------------------------------- the latent cache


def vae_fingerprint(vae: nn.Module) -> dict:
    """{"config", "config_hash", "weights_hash"}: what a latent cache was made with."""
    cfg = getattr(vae, "cfg", None)
    config = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else {"class": type(vae).__qualname__}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    h = hashlib.sha256()
    for name, t in sorted(vae.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return {"config": config, "config_hash": config_hash, "weights_hash": h.hexdigest()[:16]}


def _check_cache_vae(cache_dir: Path, fp: dict) -> None:
    """Write cache.json for a new cache; refuse one made by another VAE."""
    path = cache_dir / "cache.json"
    if not path.exists():
        _write_atomic(path, json.dumps({"format": CACHE_FORMAT, "vae": fp}, indent=2).encode())
        return
    have = json.loads(path.read_text()).get("vae", {})
    for what in ("config_hash", "weights_hash"):
        if have.get(what) != fp[what]:
            raise ValueError(
                f"latent cache {cache_dir} was built with a different VAE ({what} {have.get(what)} != {fp[what]}); "
                f"use a new cache_dir for this VAE, or delete {cache_dir} to rebuild it"
            )


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _encode_chunked(vae: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (B, 3, T, H, W) -> (mean, logvar) (B, C, t, h, w); streams time when the VAE can."""
    if "chunk_frames" in inspect.signature(vae.encode).parameters:
        f = getattr(getattr(vae, "cfg", None), "temporal_factor", TEMPORAL_FACTOR)
        return vae.encode(x, chunk_frames=4 * f)  # memory bounded by 16 frames, same result
    return vae.encode(x)


def build_latent_cache(
    dataset_root: str | os.PathLike,
    vae: nn.Module,
    cache_dir: str | os.PathLike,
    *,
    batch_size: int = 4,
    progress: bool = True,
) -> Path:
    """Encode every clip of a dataset once; returns cache_dir.

    Writes cache_dir/latents/<id>.safetensors ("mean", "std": bf16 (C, t, h, w) of the clip's
    longest 1 + 4k prefix), cache_dir/index.jsonl (id, shape, captions, fps, frames, width,
    height) and cache_dir/cache.json (the VAE's fingerprint). Resumable: clips whose latents
    exist are skipped, and every file is written atomically. One batch of clips of one size
    is in memory at a time. Unreadable videos are skipped with a warning and left out of the index.
    """
    root, cache_dir = Path(dataset_root), Path(cache_dir)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    data = ManifestDataset(root, caption_dropout=0.0)
    for clip in data.clips:
        if Path(clip.id).name != clip.id or clip.id.startswith("."):
            raise ValueError(f"clip id {clip.id!r} in {root / 'manifest.jsonl'} cannot name a file; use ids without '/' or a leading '.'")
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / "latents").mkdir(exist_ok=True)
    _check_cache_vae(cache_dir, vae_fingerprint(vae))

    todo: dict[tuple, list[int]] = defaultdict(list)
    for i, (clip, key) in enumerate(zip(data.clips, data.bucket_keys)):
        if not (cache_dir / "latents" / f"{clip.id}.safetensors").exists():
            todo[key].append(i)
    device = next(vae.parameters()).device
    was_training = vae.training
    vae.eval()
    bar = tqdm(total=sum(map(len, todo.values())), desc="latent cache", unit="clip", disable=not progress)
    try:
        for idx in todo.values():
            for s in range(0, len(idx), batch_size):
                chunk, batch = idx[s : s + batch_size], []
                for i in chunk:
                    clip = data.clips[i]
                    frames = data._read(clip, data.frames_of(clip))  # None if unreadable (warned)
                    if frames is not None:
                        batch.append((clip, frames[: data.frames_of(clip)]))  # the 1 + 4k prefix
                bar.update(len(chunk) - len(batch))
                if not batch:
                    continue
                x = torch.from_numpy(np.stack([f for _, f in batch])).to(device)  # (B, T, H, W, 3) uint8
                x = x.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)  # (B, 3, T, H, W)
                with torch.no_grad(), precision.autocast(device):
                    mean, logvar = _encode_chunked(vae, x)
                std = torch.exp(0.5 * logvar.float())
                for b, (clip, _) in enumerate(batch):
                    tensors = {"mean": mean[b].to(torch.bfloat16).cpu().contiguous(), "std": std[b].to(torch.bfloat16).cpu().contiguous()}
                    final = cache_dir / "latents" / f"{clip.id}.safetensors"
                    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
                    save_file(tensors, str(tmp))
                    os.replace(tmp, final)
                bar.update(len(batch))
    finally:
        bar.close()
        vae.train(was_training)

    lines = []
    for clip in data.clips:
        path = cache_dir / "latents" / f"{clip.id}.safetensors"
        if not path.exists():
            continue
        with safe_open(str(path), framework="pt") as f:
            shape = list(f.get_slice("mean").get_shape())
        rec = {"id": clip.id, "shape": shape, "captions": clip.captions, "fps": clip.fps,
               "frames": data.frames_of(clip), "width": clip.width, "height": clip.height}
        lines.append(json.dumps(rec, separators=(",", ":")) + "\n")
    _write_atomic(cache_dir / "index.jsonl", "".join(lines).encode())
    if data.num_skipped:
        warnings.warn(f"latent cache {cache_dir}: {data.num_skipped} unreadable clips were skipped", RuntimeWarning, stacklevel=2)
    return cache_dir


def build_object_cache(dataset_root: str | os.PathLike, cache_dir: str | os.PathLike, *, spatial_factor: int,
                       temporal_factor: int = TEMPORAL_FACTOR, progress: bool = True) -> Path:
    """Beside a latent cache, the simulator's object maps of every cached clip (for
    TrainConfig.object_weight): cache_dir/objects/<id>.safetensors, "maps": uint8
    (NUM_OBJECT_CLASSES, t, h, w) = round(255 * coverage), `kinema.world.labels.object_maps`
    on the latent cache's grid. Needs world clips: manifest records with "scene" and "truth".
    Resumable; every file is written atomically. Returns cache_dir.
    """
    from kinema.world.labels import object_maps

    root, cache_dir = Path(dataset_root), Path(cache_dir)
    index = cache_dir / "index.jsonl"
    if not index.is_file():
        raise ValueError(f"{cache_dir} is not a latent cache yet; build it first (build_latent_cache)")
    lines = (root / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    records = {r["id"]: r for r in (json.loads(line) for line in lines if line.strip())}
    cached = [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
    no_truth = [c["id"] for c in cached if not isinstance(records.get(c["id"], {}).get("truth"), str)
                or "scene" not in records[c["id"]]]
    if no_truth:
        raise ValueError(f"{len(no_truth)} clips of {cache_dir} (e.g. {no_truth[0]!r}) have no \"scene\" and \"truth\" in "
                         f"{root / 'manifest.jsonl'}: object maps need world clips (`kinema world dataset`); "
                         f"set object_weight=0 for other data")
    (cache_dir / "objects").mkdir(exist_ok=True)
    for c in tqdm(cached, desc="object maps", unit="clip", disable=not progress):
        final = cache_dir / "objects" / f"{c['id']}.safetensors"
        if final.exists():
            continue
        rec = records[c["id"]]
        truth = json.loads((root / rec["truth"]).read_text(encoding="utf-8"))["truth"]
        maps = object_maps(rec["scene"], truth, frames=c["frames"], spatial_factor=spatial_factor,
                           temporal_factor=temporal_factor)
        if list(maps.shape[1:]) != c["shape"][1:]:
            raise ValueError(f"clip {c['id']}: object maps {list(maps.shape[1:])} do not match its latents "
                             f"{c['shape'][1:]}; is spatial_factor={spatial_factor} the VAE's?")
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        save_file({"maps": torch.from_numpy(np.rint(maps * 255).astype(np.uint8))}, str(tmp))
        os.replace(tmp, final)
    return cache_dir


class LatentDataset(Dataset):
    """Clips of a latent cache, for DiT training.

    item i -> dict(latents (C, t, h, w) float32 ~ N(mean, std) drawn from (seed, epoch, i),
    caption str, fps float, id str). The latents are the VAE's raw posterior samples; the
    trainer normalises them (vae.latents_to_dit). in_memory keeps every mean / std in RAM.
    objects=True adds "objects": (NUM_OBJECT_CLASSES, t, h, w) float32 coverage in [0, 1]
    from build_object_cache.
    """

    def __init__(self, cache_dir: str | os.PathLike, *, caption_dropout: float = 0.1, seed: int = 0, in_memory: bool = False,
                 objects: bool = False):
        _check_dropout(caption_dropout)
        self.cache_dir = Path(cache_dir)
        meta, index = self.cache_dir / "cache.json", self.cache_dir / "index.jsonl"
        if not meta.is_file() or not index.is_file():
            raise ValueError(
                f"{self.cache_dir} is not a latent cache (needs cache.json and index.jsonl); "
                f"build it with kinema.data.build_latent_cache(dataset_root, vae, {str(self.cache_dir)!r})"
            )
        self.vae = json.loads(meta.read_text())["vae"]  # the fingerprint of the VAE that made it
        self.records = []
        for lineno, line in enumerate(index.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    self.records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{index} line {lineno}: not valid JSON ({e}); rebuild the cache") from e
        if not self.records:
            raise ValueError(f"{index} lists no clips; was every video unreadable?")
        self.caption_dropout, self.seed, self.epoch, self.objects = caption_dropout, seed, 0, objects
        if objects:
            missing = [r["id"] for r in self.records if not (self.cache_dir / "objects" / f"{r['id']}.safetensors").is_file()]
            if missing:
                raise ValueError(f"{len(missing)} clips of {self.cache_dir} (e.g. {missing[0]!r}) have no object maps; "
                                 f"build them with kinema.data.build_object_cache")
        self._ram = [self._load(i) for i in range(len(self.records))] if in_memory else None

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def bucket_keys(self) -> list[tuple[int, int, int, int]]:
        """(C, t, h, w) of every item's latents."""
        return [tuple(r["shape"]) for r in self.records]

    def _load(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.cache_dir / "latents" / f"{self.records[i]['id']}.safetensors"
        t = load_file(str(path))
        return t["mean"], t["std"]

    def __getitem__(self, i: int) -> dict:
        rec = self.records[i]
        rng = _rng(self.seed, self.epoch, i)
        caption = _pick_caption(rec["captions"], rng, self.caption_dropout)
        g = torch.Generator().manual_seed(int(rng.integers(2**63)))
        mean, std = self._ram[i] if self._ram is not None else self._load(i)
        noise = torch.randn(mean.shape, generator=g)
        latents = mean.float() + std.float() * noise  # (C, t, h, w)
        item = {"latents": latents, "caption": caption, "fps": float(rec["fps"]), "id": rec["id"]}
        if self.objects:
            maps = load_file(str(self.cache_dir / "objects" / f"{rec['id']}.safetensors"))["maps"]
            item["objects"] = maps.float() / 255.0
        return item
