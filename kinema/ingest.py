"""Your own videos as a Kinema dataset: `kinema data import SRC --out DIR`.

A folder of videos with captions becomes the one dataset format of `kinema.data` (what
`kinema train vae|dit --set data=DIR` reads; the world writes the same format):

    DIR/dataset.json        the import's settings; a re-run with other settings is refused
    DIR/manifest.jsonl      one clip per line: {"id", "file", "caption" or "captions", "fps",
                            "frames", "width", "height", "source", "start"}
    DIR/clips/*.mp4         H.264 clips at a training size and frame rate
    DIR/imported.jsonl      the source videos finished, with their clip counts (for resuming)

Every video (anything PyAV decodes: mp4, mov, mkv, webm, avi, gif, ...) is decoded as a stream,
one frame at a time, so a long or large video never sits in memory whole:
  1. size: the training bucket whose aspect ratio is nearest the video's as displayed (its
     rotation metadata applied: phones store portrait video landscape; `buckets`, by default the
     world's square, landscape and portrait sizes), or one fixed `size`; each frame is scaled by
     swscale (area filter) to cover it and centre-cropped, never stretched;
  2. rate: resampled to `fps` by taking, for every output instant k / fps, the source frame
     nearest in time (a 30 fps phone clip at 16 fps drops frames evenly; an 8 fps one repeats);
  3. length: cut into consecutive clips of `seconds` (1 + seconds x fps frames), and a last,
     shorter part kept when it holds at least `min_seconds`.

Captions come from a captions file (JSON lines {"file": ..., "caption": "..."} or
{"file": ..., "captions": {"short": ..., ...}}, or a CSV with columns file,caption; "file" is
the video's path relative to SRC, or its bare name) or else a text file beside each video
(`clip.mp4` -> `clip.txt`). Every clip of a video shares its caption: caption whole clips, or
split long videos yourself first. A video with no caption stops the import before anything is
written, listing the videos and the fix, unless `allow_uncaptioned` (their clips get the
empty caption, which training uses as the unconditional text).

Resumable: clips are written to temporary names and renamed, a clip's manifest line is appended
only after its file exists, and a video is recorded as finished only after all its clips are;
a re-run skips finished videos and the clips already written of an unfinished one. A video
that cannot be decoded is skipped and counted, never a crash mid-import.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import av
import numpy as np
from tqdm.auto import tqdm

from kinema.jsonl import append_jsonl, read_jsonl
from kinema.video import nearest_bucket, write_video
from kinema.world.dataset import FORMAT, FORMAT_VERSION, WORLD_BUCKETS, _reconcile_settings, _write_json_atomic
from kinema.world.spec import check_timing, check_video_size, num_frames_for

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".gif")
SIZE_MULTIPLE = 16  # the VAE's 8x downsampling, then the DiT's 2x2 patches


@dataclass
class ImportResult:
    """What an import did: videos and clips written by this run and before it, and the videos
    skipped (relative path -> the reason)."""

    out: Path
    videos: int = 0
    clips: int = 0
    seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)


def find_videos(src: Path) -> list[Path]:
    """Every video file under src (recursively, hidden folders skipped), sorted by relative path."""
    found = [
        p for p in src.rglob("*")
        if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(src).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(src).as_posix())


def read_captions(path: Path) -> dict[str, str | dict]:
    """A captions file as {file: caption or {level: caption}}; errors name the file and line."""
    if not path.is_file():
        raise FileNotFoundError(f"captions file {path} does not exist")
    table: dict[str, str | dict] = {}
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"file", "caption"} <= set(reader.fieldnames):
                raise ValueError(f"{path}: a captions CSV needs a header with columns file,caption; got {reader.fieldnames}")
            for row in reader:
                if not (row.get("file") or "").strip():
                    raise ValueError(f"{path} line {reader.line_num}: no file name; give every row file,caption")
                table[row["file"].strip()] = row.get("caption") or ""
        return table
    for lineno, rec in read_jsonl(path, "captions files hold one JSON object per line"):
        where = f"{path} line {lineno}"
        if not isinstance(rec, dict) or not isinstance(rec.get("file"), str):
            raise ValueError(f'{where}: expected {{"file": "...", "caption": "..."}}')
        caption = rec.get("captions", rec.get("caption"))
        ok = isinstance(caption, str) or (
            isinstance(caption, dict) and caption and all(isinstance(v, str) for v in caption.values()))
        if not ok:
            raise ValueError(f'{where}: needs "caption" (a string) or "captions" (an object of strings)')
        table[rec["file"]] = caption
    return table


def _caption_for(video: Path, src: Path, table: dict | None) -> str | dict | None:
    if table is not None:
        rel = video.relative_to(src).as_posix()
        return table.get(rel, table.get(video.name))
    sidecar = video.with_suffix(".txt")
    return sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else None


def _clip_stem(rel: str) -> str:
    """An id prefix for a source video: readable, unique by a hash of its relative path, no '/'."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(rel).stem).strip("-")[:40] or "video"
    return f"{slug}-{hashlib.sha256(rel.encode()).hexdigest()[:8]}"


def _stream_frames(path: Path, sizes: list[tuple[int, int]], fps: float) -> Iterator[np.ndarray]:
    """The video's frames at `fps` (nearest source frame in time), turned upright by its display
    rotation (a phone's portrait video is stored landscape), each scaled to cover the size in
    `sizes` nearest its aspect ratio and centre-cropped to it: (height, width, 3) uint8, one at
    a time."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        prev, prev_t, k, t0, size = None, 0.0, 0, None, None
        for i, frame in enumerate(container.decode(stream)):
            t = float(frame.time) if frame.time is not None else i / rate
            t0 = t if t0 is None else t0
            t -= t0
            turns = round((frame.rotation or 0) / 90) % 4  # quarter turns counterclockwise, for display
            fw, fh = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)  # as displayed
            width, height = size = size or nearest_bucket(fw, fh, sizes)
            scale = max(width / fw, height / fh)
            w, h = max(width, round(fw * scale)), max(height, round(fh * scale))
            stored = (h, w) if turns % 2 else (w, h)
            rgb = frame.reformat(width=stored[0], height=stored[1], format="rgb24", interpolation="AREA").to_ndarray()
            rgb = np.rot90(rgb, turns) if turns else rgb  # (h, w, 3)
            y, x = (h - height) // 2, (w - width) // 2
            cur = rgb[y: y + height, x: x + width]
            while k / fps <= t:  # every output instant up to this frame: the nearer of the two frames
                yield prev if prev is not None and k / fps - prev_t < t - k / fps else cur
                k += 1
            prev, prev_t = cur, t
        while prev is not None and k / fps < prev_t + 1 / rate - 1e-9:  # the last frame lasts 1 / rate
            yield prev
            k += 1


def import_videos(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    buckets: tuple[tuple[int, int], ...] = WORLD_BUCKETS,
    fps: float = 16,
    seconds: float = 4.0,
    min_seconds: float = 2.0,
    captions: str | os.PathLike | None = None,
    allow_uncaptioned: bool = False,
    progress: bool = True,
) -> ImportResult:
    """Import the videos under `src` into the dataset folder `out` (see the module's docstring)."""
    # 1. check every input and find every caption before writing anything
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise FileNotFoundError(f"source folder {src} does not exist; give the folder that holds your videos")
    check_timing(seconds, fps)
    if not 0 < min_seconds <= seconds:
        raise ValueError(f"min_seconds must be in (0, seconds={seconds}], got {min_seconds}")
    sizes = [tuple(size)] if size is not None else [tuple(b) for b in buckets]
    for w, h in sizes:
        check_video_size(w, h)
        if w % SIZE_MULTIPLE or h % SIZE_MULTIPLE:
            fix = f"{SIZE_MULTIPLE * max(1, round(w / SIZE_MULTIPLE))}x{SIZE_MULTIPLE * max(1, round(h / SIZE_MULTIPLE))}"
            raise ValueError(f"size {w}x{h} must be a multiple of {SIZE_MULTIPLE} on both sides (the VAE's 8x and "
                             f"the DiT's 2x2 patches); try {fix}")
    videos = find_videos(src)
    if not videos:
        raise ValueError(f"{src} holds no videos ({', '.join(VIDEO_SUFFIXES)})")
    table = read_captions(Path(captions)) if captions is not None else None
    caption_of = {v: _caption_for(v, src, table) for v in videos}
    missing = [v.relative_to(src).as_posix() for v, c in caption_of.items() if c is None]
    if missing and not allow_uncaptioned:
        where = f"add a line for each to {captions}" if table is not None else "write a caption beside each (clip.mp4 -> clip.txt)"
        raise ValueError(
            f"{len(missing)} of {len(videos)} videos have no caption ({', '.join(missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}); {where}, or pass --allow-uncaptioned to train on them "
            f"with the empty caption"
        )

    # 2. the folder, its settings and what an earlier run finished
    try:
        (out / "clips").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create output folder {out} ({e.strerror}); choose a writable --out") from e
    settings = {"format": FORMAT, "version": FORMAT_VERSION, "source": "kinema.ingest", "fps": fps,
                "seconds": seconds, "min_seconds": min_seconds, "sizes": [list(s) for s in sizes], "num": 0}
    _reconcile_settings(out, settings)
    manifest, finished_log = out / "manifest.jsonl", out / "imported.jsonl"
    written = set()
    if manifest.is_file():
        from kinema.data import read_manifest

        written = {c.id for c in read_manifest(out)} if manifest.stat().st_size else set()
    finished = {}
    if finished_log.is_file():
        for _, rec in read_jsonl(finished_log, "delete that line (the video is imported again on the next run)"):
            finished[rec["source"]] = rec
    for tmp in (out / "clips").glob(".*.part*"):  # temporaries of a crashed run
        tmp.unlink(missing_ok=True)

    # 3. stream every video into clips
    result = ImportResult(out)
    n_clip, n_min = num_frames_for(seconds, fps), num_frames_for(min_seconds, fps)
    bar = tqdm(videos, desc="importing videos", unit="video", disable=not progress)
    for video in bar:
        rel = video.relative_to(src).as_posix()
        if rel in finished:
            result.videos += 1
            result.clips += finished[rel]["clips"]
            result.seconds += finished[rel]["seconds"]
            continue
        clips = 0
        try:
            caption = caption_of[video] if caption_of[video] is not None else ""
            frames_out = 0
            buffer: list[np.ndarray] = []
            stem = _clip_stem(rel)

            def flush() -> None:
                nonlocal clips, frames_out
                cid = f"{stem}-{clips:04d}"
                if cid not in written:
                    write_video(out / "clips" / f"{cid}.mp4", np.stack(buffer), fps, preset="veryfast", threads=1)
                    rec = {"id": cid, "file": f"clips/{cid}.mp4",
                           ("captions" if isinstance(caption, dict) else "caption"): caption, "fps": fps,
                           "frames": len(buffer), "width": buffer[0].shape[1], "height": buffer[0].shape[0], "source": rel,
                           "start": round(frames_out / fps, 4)}
                    append_jsonl(manifest, rec)
                clips += 1
                frames_out += len(buffer)
                buffer.clear()

            for frame in _stream_frames(video, sizes, fps):
                buffer.append(frame)
                if len(buffer) == n_clip:
                    flush()
            if len(buffer) >= n_min:
                flush()
            if clips == 0:
                raise ValueError(f"{len(buffer)} frames at {fps:g} fps, fewer than the {n_min} of min_seconds={min_seconds:g}; "
                                 f"lower --min-seconds to keep it (training windows need that many frames)")
        except (av.error.FFmpegError, ValueError, OSError, UnicodeDecodeError) as e:
            reason = (getattr(e, "strerror", None) or str(e) or type(e).__name__).splitlines()[0][:200]
            result.skipped[rel] = reason + (f" (after {clips} clips, which are kept)" if clips else "")
            continue
        secs = round(frames_out / fps, 4)
        append_jsonl(finished_log, {"source": rel, "clips": clips, "seconds": secs})
        result.videos += 1
        result.clips += clips
        result.seconds += secs
        bar.set_postfix(clips=result.clips, skipped=len(result.skipped))
    bar.close()
    _write_json_atomic(out / "dataset.json", {**settings, "num": result.clips}, indent=2)
    return result
