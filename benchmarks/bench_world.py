"""Speed of the synthetic world: render frames/s at 128x128 and simulation time per 2-s clip.

Run: python benchmarks/bench_world.py   (single-threaded; numpy and pymunk use one core here)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # measure one core even where BLAS would spread out
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from kinema.world.render import ground_truth, render  # noqa: E402
from kinema.world.sim import simulate  # noqa: E402
from kinema.world.spec import CameraSpec, ObjectSpec, ObstacleSpec, SceneSpec  # noqa: E402


def scene(camera: str = "static", width: int = 128, height: int = 128) -> SceneSpec:
    """Five objects of every shape, a ramp and a grid background: a busy but typical clip."""
    return SceneSpec(
        objects=(
            ObjectSpec("ball", "red", position=(2.0, 5.0), velocity=(2.0, 0.0), elasticity=0.8),
            ObjectSpec("box", "blue", position=(5.0, 3.0), angle=0.4, spin=1.0),
            ObjectSpec("triangle", "green", position=(7.0, 6.0), velocity=(-1.0, 2.0)),
            ObjectSpec("pentagon", "yellow", size="large", position=(8.0, 2.0)),
            ObjectSpec("ball", "purple", size="small", position=(4.0, 7.0), velocity=(3.0, -1.0)),
        ),
        obstacles=(ObstacleSpec("ramp", (0.5, 4.0), (3.5, 2.5)),),
        background="grid", camera=CameraSpec(camera, 0.5), fps=16, seconds=2.0, width=width, height=height,
    )


def best_of(fn, repeats: int) -> float:
    """Fastest wall time of `repeats` calls, seconds (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    spec = scene()
    traj = simulate(spec)
    t_sim = best_of(lambda: simulate(spec), 5)
    print(f"simulate: {t_sim * 1e3:.1f} ms per 2-s clip ({spec.num_frames} frames, "
          f"{len(spec.objects)} objects, 16 fps)")
    for camera, (w, h) in [("static", (128, 128)), ("pan_right", (128, 128)), ("zoom_in", (128, 128)),
                           ("static", (256, 144))]:
        s = scene(camera, w, h)
        tr = simulate(s)
        t = best_of(lambda: render(s, tr), 5)
        print(f"render {camera:9s} {w}x{h}: {s.num_frames / t:7.0f} frames/s")
    t_gt = best_of(lambda: ground_truth(spec, traj), 5)
    print(f"ground_truth: {t_gt * 1e3:.1f} ms per 2-s clip")


if __name__ == "__main__":
    main()
