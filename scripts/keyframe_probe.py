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
from kinema.eval.run import EVAL_SECONDS, NUM_SHEET
from kinema.pipeline import KinemaPipeline
from kinema.video import read_video, save_contact_sheet, write_video
from kinema.world.splits import sample_prompt


def settings(pipe: KinemaPipeline, args: argparse.Namespace) -> dict:
    """The report's settings, named as `kinema eval` names them, so `--compare` lists only what differs."""
    cfg = pipe.config
    return {"splits": args.split, "num": args.num, "from_index": 0, "seeds": 1, "steps": cfg.num_inference_steps,
            "guidance_scale": cfg.guidance_scale, "shift": cfg.shift, **cfg.sampler_settings,
            "negative_prompt": cfg.negative_prompt, "size": f"{cfg.width}x{cfg.height}", "fps": cfg.fps,
            "seconds": EVAL_SECONDS, "keyframe_first": True}


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
              "settings": settings(pipe, args),
              "splits": {args.split: {"rows": {"model": aggregate(records)}, "samples": {"model": records}}}}
    # contact sheets of the best and worst samples, as `kinema eval` draws them
    order = sorted(records, key=lambda r: r["scores"]["adherence"].get("overall", 0.0))
    for tag, pick in (("worst", order[:NUM_SHEET]), ("best", order[::-1][:NUM_SHEET])):
        save_contact_sheet(out / f"{tag}_{args.split}.png", [read_video(out / r["video"])[0] for r in pick],
                           labels=[f"{r['scores']['adherence'].get('overall', 0.0):.2f} {r['prompt']}"[:60] for r in pick],
                           max_frames=8)
    json_path, _ = write_report(report, out)
    print(f"wrote {json_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
