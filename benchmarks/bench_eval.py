"""Time the per-video metrics on 2-second 128x128 clips (target: <= 0.2 s per clip).

    python benchmarks/bench_eval.py [--clips 12]

Prints the median and worst time per clip of each step and of evaluate_video as a whole,
over rendered scenes from the "id" split (1-3 objects, any background and camera).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kinema.eval.adherence import real_tracks, score_adherence
from kinema.eval.consistency import score_consistency
from kinema.eval.evaluate import evaluate_video
from kinema.eval.parser import parse_video
from kinema.eval.physics import score_physics
from kinema.eval.scenery import classify_background, estimate_camera, object_masks
from kinema.world.prompts import parse_prompt
from kinema.world.render import render_scene
from kinema.world.splits import sample_scene

PROMPT = "a red ball bounces to the right"


def _time(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=12)
    args = ap.parse_args()
    clips = []
    for seed in range(args.clips):
        spec = sample_scene("id", seed)
        clips.append((render_scene(spec)[0], spec.fps))
    constraints = parse_prompt(PROMPT)
    times: dict[str, list[float]] = {}
    for frames, fps in clips:
        tracks, t_parse = _time(parse_video, frames)
        objects = real_tracks(tracks)
        masks, t_mask = _time(object_masks, frames)
        cam, t_cam = _time(estimate_camera, frames, fps, objects, masks)
        _, t_bg = _time(classify_background, frames, masks)
        _, t_adh = _time(score_adherence, constraints, objects, fps, camera=cam["kind"])
        _, t_phys = _time(score_physics, objects, fps)
        _, t_cons = _time(score_consistency, frames, tracks, masks)
        _, t_all = _time(evaluate_video, frames, fps, PROMPT)
        for name, t in (("parse", t_parse), ("object masks", t_mask), ("camera", t_cam), ("background", t_bg),
                        ("adherence", t_adh), ("physics", t_phys), ("consistency", t_cons),
                        ("evaluate_video", t_all)):
            times.setdefault(name, []).append(t)
    shape = clips[0][0].shape
    print(f"{len(clips)} clips of {shape[0]} frames at {shape[2]}x{shape[1]}; seconds per clip")
    for name, ts in times.items():
        print(f"  {name:15s} median {np.median(ts):.4f}  max {np.max(ts):.4f}")


if __name__ == "__main__":
    main()
