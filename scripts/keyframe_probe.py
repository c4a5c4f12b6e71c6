"""Keyframe-first sampling: a still of the prompt, then image-to-video from that still.

    python scripts/keyframe_probe.py --num 40 --out runs/keyframe
    kinema eval --compare runs/eval-shipped runs/keyframe --out runs/keyframe/vs-plain

The question it answers: are the model's objects steadier and its counts better when the first
frame is drawn on its own (one latent frame, 64 tokens) and the clip animated from it, instead
of the whole clip at once? Both calls are the pipeline's own (`pipe(prompt, num_frames=1)`,
`pipe.animate`), at the model's saved sampler settings and seed 0 as in `kinema eval`; the report
holds only the model row, paired by `--compare` with the same prompts of a `kinema eval` report.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm.auto import tqdm

from kinema.eval.evaluate import score_video
from kinema.eval.report import aggregate, write_report
from kinema.eval.run import EVAL_SECONDS, report_settings, save_sample_sheets
from kinema.pipeline import KinemaPipeline
from kinema.video import write_video
from kinema.world.splits import sample_prompt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--split", default="id", choices=["id", "ood", "combo"])
    ap.add_argument("--num", type=int, default=40, help="prompts, from index 0")
    ap.add_argument("--out", required=True, help="folder for report.json and the videos")
    args = ap.parse_args()

    pipe = KinemaPipeline.from_pretrained(args.model)
    out = Path(args.out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    records = []
    for i in tqdm(range(args.num), desc="keyframe, then animate", unit="video", file=sys.stderr):
        prompt = sample_prompt(args.split, i)
        still = pipe(prompt, num_frames=1, seed=0)
        video = pipe.animate(still.frames[0], prompt, seconds=EVAL_SECONDS, seed=0)
        name = f"{args.split}_{i:04d}_s0.mp4"
        write_video(out / "videos" / name, video.frames, video.fps)
        records.append({"prompt": prompt, "split": args.split, "index": i, "seed": 0,
                        "scores": score_video(video.frames, video.fps, prompt), "video": f"videos/{name}"})
    report = {"model": f"{args.model or 'default'}, keyframe first",
              "settings": {**report_settings(pipe, (args.split,), num=args.num, from_index=0, seeds=1, steps=None,
                                             guidance_scale=None, clip_model=None), "keyframe_first": True},
              "splits": {args.split: {"rows": {"model": aggregate(records)}, "samples": {"model": records}}}}
    save_sample_sheets(out, records, args.split, pipe.config.height)
    json_path, _ = write_report(report, out)
    print(f"wrote {json_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
