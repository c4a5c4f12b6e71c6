"""FVD of the first N videos of `kinema eval` report folders, read back from their mp4s.

A report's FVD uses as many clips as it has, so a 100-prompt run and a 200-prompt baseline are
not comparable; this scores the first N videos of each folder against the same reference the
evaluation uses at that N (kinema.eval.run.fvd_reference) and prints the real-vs-real floor
beside them.

    python scripts/fvd_of_videos.py --num 100 --split id runs/plain runs/x [--out fvd.json]

The folders must hold their videos (videos/{split}_{index:04d}_s0.mp4, as `kinema eval` writes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kinema.eval.clip import DEFAULT_CLIP_DIR, features, frechet_distance, load_clip_model
from kinema.eval.run import fvd_reference
from kinema.video import read_video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", help="report folders with videos/")
    ap.add_argument("--num", type=int, default=100, help="videos per folder (prompt indices 0..N-1, seed 0)")
    ap.add_argument("--split", default="id")
    ap.add_argument("--size", default="128x128", help="WxH of the reference clips (the videos' size)")
    ap.add_argument("--fps", type=float, default=16.0)
    ap.add_argument("--out", help="write the figures as JSON")
    args = ap.parse_args()

    paths = {f: [Path(f) / "videos" / f"{args.split}_{i:04d}_s0.mp4" for i in range(args.num)] for f in args.folders}
    for folder, ps in paths.items():
        missing = [p for p in ps if not p.is_file()]
        if missing:
            raise SystemExit(f"{folder} lacks {len(missing)} of the {args.num} videos (e.g. {missing[0]}): give a folder "
                             f"`kinema eval --num {args.num}` or more wrote (committed reports keep no videos)")
    width, height = (int(v) for v in args.size.lower().split("x"))
    clip = load_clip_model(DEFAULT_CLIP_DIR)
    fa, floor = fvd_reference(clip, args.num, args.fps, width, height, args.split)
    out = {"n": args.num, "split": args.split, "floor": floor}
    print(f"floor (two sets of {args.num} world clips): {out['floor']:.2f}")
    for folder, ps in paths.items():
        out[folder] = frechet_distance(features(clip, [read_video(p)[0] for p in ps]), fa)
        print(f"{folder}: {out[folder]:.2f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
