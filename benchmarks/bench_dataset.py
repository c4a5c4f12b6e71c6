"""Throughput of the world dataset writer: clips per second for 2-second, 128x128, 16-fps
clips (target: >= 15 clips/s with 2 workers), and where one clip's time goes.

    python benchmarks/bench_dataset.py [--num 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def stage_times(n: int) -> dict[str, float]:
    """Mean seconds per clip of each stage, in this process (one core)."""
    from kinema.video import write_video
    from kinema.world.captions import caption_scene
    from kinema.world.render import ground_truth, render
    from kinema.world.sim import simulate
    from kinema.world.splits import sample_scene

    totals = dict.fromkeys(["sample_scene", "simulate", "render", "ground_truth", "caption", "encode"], 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1000, 1000 + n):
            t0 = time.perf_counter()
            spec = sample_scene("id", seed, fps=16, seconds=2.0, width=128, height=128)
            t1 = time.perf_counter()
            traj = simulate(spec)
            t2 = time.perf_counter()
            frames = render(spec, traj)
            t3 = time.perf_counter()
            ground_truth(spec, traj)
            t4 = time.perf_counter()
            caption_scene(spec, traj, seed)
            t5 = time.perf_counter()
            write_video(Path(tmp) / "c.mp4", frames, 16, preset="veryfast")  # as the writer does
            t6 = time.perf_counter()
            for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
                totals[key] += dt
    return {k: v / n for k, v in totals.items()}


def main() -> None:
    from kinema.world.dataset import write_world_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stage-clips", type=int, default=10, help="clips to time stage by stage")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_world_dataset(Path(tmp) / "ds", args.num, workers=args.workers, progress=False)
        dt = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (Path(tmp) / "ds").rglob("*") if p.is_file())
    print(f"write_world_dataset: {args.num} clips (2 s, 128x128, 16 fps), {args.workers} workers: "
          f"{dt:.2f} s, {args.num / dt:.1f} clips/s (target >= 15), {size / args.num / 1024:.1f} KiB/clip "
          "(includes pool start-up)")

    stages = stage_times(args.stage_clips)
    total = sum(stages.values())
    print(f"one clip, one process: {total * 1000:.0f} ms = " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in stages.items()))
    print(f"ceiling with {args.workers} workers on free cores: {args.workers / total:.1f} clips/s")


if __name__ == "__main__":
    main()
