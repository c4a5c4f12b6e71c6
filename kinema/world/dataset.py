"""The world's dataset: clips written to disk in the project's one dataset format, or
generated on the fly for training.

The format (kinema.data reads it; real videos use it too) is a folder:

    dataset.json            generation settings; a re-run with other settings is refused
    manifest.jsonl          one JSON object per clip, in clip order:
                            {"id", "file", "captions": {"short", "medium", "detailed"}, "fps",
                             "frames", "width", "height", "split", "seed", "scene", "truth"}
    clips/NNNNNN.mp4        the video ("file", relative to the folder)
    truth/NNNNNN.json       ground truth sidecar ("truth"): {"id", "seed", "captions",
                            "scene", "truth": render.ground_truth(spec, traj)}

Clip i is drawn from `split` with seed = seed_offset + i, so a dataset is a pure function of
its settings. Writing is resumable: a clip's files are written to temporary names and
renamed, and its manifest line is appended only after both exist, so a crash at any point
leaves a valid folder that the next run completes into exactly the same manifest.
One writer per folder at a time.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm.auto import tqdm

from kinema.jsonl import append_jsonl, jsonl_line
from kinema.world.spec import SceneSpec, check_timing, check_video_size

# (width, height) buckets: square, landscape, portrait; clip with seed s uses
# WORLD_BUCKETS[s % len(WORLD_BUCKETS)], so every run and every worker agrees.
WORLD_BUCKETS: tuple[tuple[int, int], ...] = ((128, 128), (160, 96), (96, 160))
DEFAULT_SIZE = (128, 128)
SPLITS: tuple[str, ...] = ("id", "ood", "combo")  # as kinema.world.splits.SPLITS

FORMAT = "kinema-dataset"
FORMAT_VERSION = 1
MANIFEST_FIELDS = ("id", "file", "captions", "fps", "frames", "width", "height", "split", "seed", "scene", "truth")


# ---------------------------------------------------------------- one clip


@dataclass(frozen=True)
class WorldClip:
    """One generated clip: frames (T, H, W, 3) uint8, captions {"short", "medium", "detailed"},
    ground truth (JSON-able) and the scene it came from."""

    seed: int
    split: str
    spec: SceneSpec
    frames: np.ndarray
    captions: dict
    truth: dict


def bucket_for(seed: int) -> tuple[int, int]:
    """The (width, height) bucket of the clip with this seed."""
    return WORLD_BUCKETS[seed % len(WORLD_BUCKETS)]


def make_world_clip(split: str, seed: int, *, fps: float, seconds: float, width: int, height: int) -> WorldClip:
    """Sample, simulate (once), render and caption the scene of (split, seed)."""
    from kinema.world.captions import caption_scene
    from kinema.world.render import ground_truth, render
    from kinema.world.sim import simulate
    from kinema.world.splits import sample_scene

    spec = sample_scene(split, seed, fps=fps, seconds=seconds, width=width, height=height)
    traj = simulate(spec)
    return WorldClip(
        seed=seed,
        split=split,
        spec=spec,
        frames=render(spec, traj),
        captions=caption_scene(spec, traj, seed),
        truth=ground_truth(spec, traj),
    )


# ---------------------------------------------------------------- settings and checks


def _check_settings(split, seconds, fps, size, buckets) -> tuple[int, int] | None:
    """Validate before any work; returns the fixed (width, height), or None for buckets."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not isinstance(seconds, (int, float)) or not isinstance(fps, (int, float)):
        raise ValueError(f"seconds and fps must be numbers, got seconds={seconds!r}, fps={fps!r}")
    check_timing(seconds, fps)
    if buckets:
        if size is not None:
            raise ValueError("pass either size=(width, height) or buckets=True, not both")
        return None
    size = DEFAULT_SIZE if size is None else size
    if not (isinstance(size, (tuple, list)) and len(size) == 2):
        raise ValueError(f"size must be (width, height), e.g. (128, 128), got {size!r}")
    width, height = (int(v) if isinstance(v, (int, np.integer)) else v for v in size)
    check_video_size(width, height)
    return width, height


def _settings_dict(split, seconds, fps, size, num, seed_offset) -> dict:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "source": "kinema.world",
        "split": split,
        "seconds": seconds,
        "fps": fps,
        "size": list(size) if size else None,
        "buckets": [list(b) for b in WORLD_BUCKETS] if size is None else None,
        "seed_offset": seed_offset,
        "num": num,
    }


def _prepare_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {out} is a file, not a folder; choose another --out")
    try:
        (out / "clips").mkdir(parents=True, exist_ok=True)
        (out / "truth").mkdir(exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create output folder {out} ({e.strerror}); choose a writable --out") from e
    if not os.access(out, os.W_OK):
        raise ValueError(f"output folder {out} is not writable; choose another --out or fix its permissions")


def _write_json_atomic(path: Path, obj, **kwargs) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        tmp.write_text(json.dumps(obj, **kwargs))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _reconcile_settings(out: Path, wanted: dict) -> None:
    """Refuse to mix settings in one folder; record the settings for a new one."""
    path = out / "dataset.json"
    if not path.exists():
        if (out / "manifest.jsonl").exists():
            raise ValueError(
                f"{out} has a manifest.jsonl but no dataset.json, so its settings are unknown; "
                "write into a new folder (or delete this one)"
            )
        _write_json_atomic(path, wanted, indent=2)
        return
    try:
        have = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); delete the folder {out} and write it again") from e
    diffs = [
        f"{k}: folder has {have.get(k)!r}, asked for {wanted[k]!r}"
        for k in wanted
        if k != "num" and have.get(k) != wanted[k]
    ]
    if diffs:
        raise ValueError(
            f"{out} holds a dataset written with other settings ({'; '.join(diffs)}); "
            "use the same settings to resume or extend it, or write into another folder"
        )
    if have.get("num") != wanted["num"]:
        _write_json_atomic(path, {**have, "num": max(have.get("num", 0), wanted["num"])}, indent=2)


def read_manifest(out: str | os.PathLike) -> list[dict]:
    """The manifest's records, checked: every line valid JSON with every field, ids unique,
    and each clip's files present. Errors name the file, the line and the fix."""
    out = Path(out)
    path = out / "manifest.jsonl"
    if not path.exists():
        return []
    records, seen = [], set()
    fix = f"delete that line (its clip is written again on the next run) or delete the folder {out}"
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path} line {lineno} is not valid JSON ({e.msg}); {fix}") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path} line {lineno} is not a JSON object; {fix}")
            missing = [k for k in MANIFEST_FIELDS if k not in rec]
            if missing:
                raise ValueError(f"{path} line {lineno} lacks {', '.join(missing)}; {fix}")
            if rec["id"] in seen:
                raise ValueError(f"{path} line {lineno} repeats clip id {rec['id']!r}; {fix}")
            for key in ("file", "truth"):
                if not (out / rec[key]).is_file():
                    raise ValueError(f"{path} line {lineno}: {rec[key]} is missing; {fix}")
            seen.add(rec["id"])
            records.append(rec)
    return records


def _clip_id(index: int) -> str:
    return f"{index:06d}"


# ---------------------------------------------------------------- workers


def _init_worker() -> None:
    # Parallelism comes from processes; threads inside each would only fight over cores.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _write_clip(job: tuple) -> dict:
    """Generate clip `index` and write its mp4 and truth atomically; returns its manifest record."""
    from kinema.video import write_video

    out, index, split, seed, fps, seconds, size = job
    out = Path(out)
    width, height = size or bucket_for(seed)
    try:
        clip = make_world_clip(split, seed, fps=fps, seconds=seconds, width=width, height=height)
    except Exception as e:
        raise RuntimeError(f"world clip {index} (split {split!r}, seed {seed}) failed: {e!r}") from e
    cid = _clip_id(index)
    file, truth = f"clips/{cid}.mp4", f"truth/{cid}.json"
    scene = clip.spec.to_dict()
    # veryfast: ~2x the encode speed of medium at the same PSNR on flat-colour world frames
    write_video(out / file, clip.frames, fps, preset="veryfast", threads=1)
    sidecar = {"id": cid, "seed": seed, "captions": clip.captions, "scene": scene, "truth": clip.truth}
    _write_json_atomic(out / truth, sidecar, separators=(",", ":"))
    t, h, w, _ = clip.frames.shape
    return {
        "id": cid, "file": file, "captions": clip.captions, "fps": fps, "frames": t,
        "width": w, "height": h, "split": split, "seed": seed, "scene": scene, "truth": truth,
    }


def _pool_context():
    # forkserver: workers start clean even when the parent has torch's thread pools running.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


# ---------------------------------------------------------------- the writer


def write_world_dataset(
    out: str | os.PathLike,
    num: int,
    *,
    split: str = "id",
    seconds: float = 2.0,
    fps: float = 16,
    size: tuple[int, int] | None = None,
    buckets: bool = False,
    workers: int = 1,
    seed_offset: int = 0,
    progress: bool = True,
) -> Path:
    """Write (or finish) `num` world clips into the folder `out`; returns the folder.

    size: (width, height) for every clip (default 128x128); or buckets=True for
    WORLD_BUCKETS chosen per clip from its seed. Clip i uses seed = seed_offset + i.
    Re-running skips clips already in the manifest; other settings than the folder's
    (except a larger num, which extends it) raise a ValueError.
    """
    # 1. check every input before any work
    if not isinstance(num, (int, np.integer)) or num < 0:
        raise ValueError(f"num must be an integer >= 0, got {num!r}")
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if not isinstance(seed_offset, (int, np.integer)) or seed_offset < 0:
        raise ValueError(f"seed_offset must be an integer >= 0, got {seed_offset!r}")
    fixed_size = _check_settings(split, seconds, fps, size, buckets)
    out = Path(out)
    _prepare_folder(out)

    # 2. settings and what is already done
    _reconcile_settings(out, _settings_dict(split, seconds, fps, fixed_size, num, seed_offset))
    manifest = out / "manifest.jsonl"
    done = {rec["id"] for rec in read_manifest(out)}
    for sub in ("clips", "truth"):  # temporaries of a crashed run (ours: hidden, '.part')
        for tmp in (out / sub).glob(".*.part*"):
            tmp.unlink(missing_ok=True)
    todo = [i for i in range(num) if _clip_id(i) not in done]
    jobs = [(str(out), i, split, seed_offset + i, fps, seconds, fixed_size) for i in todo]

    # 3. generate; records arrive in clip order (imap), each appended once its files exist
    bar = tqdm(total=num, initial=num - len(todo), desc=f"world clips ({split})", unit="clip", disable=not progress)
    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                append_jsonl(manifest, _write_clip(job))
                bar.update(1)
        else:
            chunksize = max(1, min(8, math.ceil(len(jobs) / (workers * 4))))
            with _pool_context().Pool(workers, initializer=_init_worker) as pool:
                for rec in pool.imap(_write_clip, jobs, chunksize=chunksize):
                    append_jsonl(manifest, rec)
                    bar.update(1)
    finally:
        bar.close()

    # 4. keep the manifest in clip order (a resume after a deleted line appends out of order)
    records = read_manifest(out)
    order = sorted(records, key=lambda r: int(r["id"]))
    if [r["id"] for r in records] != [r["id"] for r in order]:
        tmp = manifest.with_name(f".manifest.jsonl.{os.getpid()}.part")
        tmp.write_text("".join(jsonl_line(r) for r in order), encoding="utf-8")
        os.replace(tmp, manifest)
    return out


# ---------------------------------------------------------------- on the fly, for training


class _WorldClips:
    """World clips generated on the fly: the same clips write_world_dataset would write.

    A torch IterableDataset (imported as WorldClips). Yields dicts:
        "frames":   uint8 tensor (T, H, W, 3) RGB by default; with normalize=True a float32
                    tensor (3, T, H, W) in [-1, 1] (x / 127.5 - 1), the VAE's input layout.
        "captions": {"short", "medium", "detailed"}
        "fps":      float
        "seed":     int
        "scene":    SceneSpec.to_dict()

    num=None is endless. Clip indices are dealt round-robin over DataLoader workers
    (get_worker_info) and over `world_size` distributed ranks, so no clip repeats. With
    buckets=True shapes vary per clip: use batch_size=None or a bucketing collate_fn.
    """

    def __init__(
        self,
        split: str = "id",
        *,
        num: int | None = None,
        seconds: float = 2.0,
        fps: float = 16,
        size: tuple[int, int] | None = None,
        buckets: bool = False,
        seed_offset: int = 0,
        normalize: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ):
        super().__init__()
        self.size = _check_settings(split, seconds, fps, size, buckets)
        if num is not None and (not isinstance(num, int) or num < 0):
            raise ValueError(f"num must be None (endless) or an integer >= 0, got {num!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}")
        self.split, self.num, self.seconds, self.fps = split, num, seconds, fps
        self.seed_offset, self.normalize, self.rank, self.world_size = seed_offset, normalize, rank, world_size

    def __len__(self) -> int:
        if self.num is None:
            raise TypeError("an endless WorldClips (num=None) has no length")
        return self.num

    def _indices(self) -> Iterator[int]:
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        shard, shards = self.rank * nw + wid, self.world_size * nw
        i = shard
        while self.num is None or i < self.num:
            yield i
            i += shards

    def __iter__(self) -> Iterator[dict]:
        import torch

        for i in self._indices():
            seed = self.seed_offset + i
            width, height = self.size or bucket_for(seed)
            clip = make_world_clip(self.split, seed, fps=self.fps, seconds=self.seconds, width=width, height=height)
            frames = torch.from_numpy(clip.frames)  # (T, H, W, 3) uint8
            if self.normalize:
                frames = frames.permute(3, 0, 1, 2).float().div(127.5).sub(1.0)  # (3, T, H, W)
            yield {"frames": frames, "captions": clip.captions, "fps": float(self.fps), "seed": seed,
                   "scene": clip.spec.to_dict()}


def __getattr__(name: str):
    # PEP 562: WorldClips subclasses torch's IterableDataset, but torch takes seconds to
    # import, and dataset-writing workers import this module; so build the class on first use.
    if name == "WorldClips":
        from torch.utils.data import IterableDataset

        cls = type("WorldClips", (_WorldClips, IterableDataset), {"__module__": __name__, "__doc__": _WorldClips.__doc__})
        globals()["WorldClips"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
