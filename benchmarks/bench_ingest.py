"""Speed and memory of importing one's own videos (`kinema data import`).

Run: python benchmarks/bench_ingest.py [--source-size 1280x720] [--source-fps 30] [--seconds 60] [--videos 1]

Writes `--videos` synthetic source videos (coloured shapes crossing a textured background, H.264)
of the given size, rate and length into a temporary folder, then imports them with the default
settings (nearest bucket, 16 fps, 4-s clips) in a child process. Prints the import's wall time,
source frames decoded per second, seconds of source video per second of wall time, clips
written, and the child's peak RSS; then the same for a source twice as long, whose peak RSS
should equal the first's (frames are streamed, never held whole).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_source(path: Path, width: int, height: int, fps: float, seconds: float) -> None:
    from kinema.video import VideoWriter

    rng = np.random.default_rng(0)
    background = rng.integers(40, 90, size=(height, width, 3), dtype=np.uint8)
    n = int(round(seconds * fps))
    with VideoWriter(path, fps, width, height, preset="ultrafast", threads=0) as writer:
        for i in range(n):
            frame = background.copy()
            for j, colour in enumerate(((230, 40, 40), (40, 200, 60), (240, 220, 40))):
                size = height // (5 + j)
                x = int((width - size) * (0.5 + 0.5 * np.sin(2 * np.pi * (i / n * (j + 1) + j / 3))))
                y = int((height - size) * (0.5 + 0.5 * np.cos(2 * np.pi * (i / n * (j + 2)))))
                frame[y: y + size, x: x + size] = colour
            writer.write(frame[None])


CHILD = ("import resource, sys\n"
         "from kinema.cli import main\n"
         "rc = main(sys.argv[1:])\n"
         "print('peak_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
         "sys.exit(rc)\n")


def run_import(src: Path, out: Path) -> tuple[float, float, str]:
    """(wall seconds, its own peak RSS in MB, its summary line) of `kinema data import` in a child."""
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD, "data", "import", str(src), "--out", str(out),
                          "--allow-uncaptioned"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode:
        sys.exit(res.stderr)
    lines = res.stdout.strip().splitlines()
    return wall, int(lines[-1].split()[1]) / 1024, lines[-2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source-size", default="1280x720")
    p.add_argument("--source-fps", type=float, default=30)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--videos", type=int, default=1)
    args = p.parse_args()
    width, height = (int(v) for v in args.source_size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="kinema-bench-ingest-") as tmp:
        for scale in (1, 2):
            src = Path(tmp) / f"src{scale}"
            src.mkdir()
            t0 = time.perf_counter()
            for v in range(args.videos):
                write_source(src / f"video{v}.mp4", width, height, args.source_fps, args.seconds * scale)
            made = time.perf_counter() - t0
            wall, rss, line = run_import(src, Path(tmp) / f"out{scale}")
            frames = args.videos * args.seconds * scale * args.source_fps
            rows.append(rss)
            print(f"{args.videos} x {args.seconds * scale:g} s of {width}x{height} at {args.source_fps:g} fps "
                  f"(written in {made:.1f} s): import {wall:.1f} s, {frames / wall:.0f} source frames/s, "
                  f"{args.videos * args.seconds * scale / wall:.1f}x real time, peak RSS {rss:.0f} MB "
                  f"({os.cpu_count()} CPUs)\n  {line}", flush=True)
    print(f"peak RSS, twice the length / once: {rows[1] / rows[0]:.2f}")


if __name__ == "__main__":
    main()
