"""The model card's contact sheet: 16 prompts, one row each, every 4th frame.

    python scripts/sample_sheet.py [--model DIR] [--out docs/samples.png] [--seed 0]

Half the prompts are hand-written in a user's words (short and detailed, all four shapes,
several colours, motions, camera moves and aspect ratios), half are `id`-split captions the
evaluation uses. Row i is generated at seed --seed + i, so every row starts from its own noise
(from one seed for all, every row grew from the same noise and shared its quirks; the first
row, the README's prompt, is `kinema generate`'s video at seed 0). Each row is labelled with its
prompt and size; the mp4s are written beside the sheet (OUT_DIR/samples/NN.mp4) so a reader can
play them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from kinema.pipeline import KinemaPipeline
from kinema.video import save_contact_sheet
from kinema.world.splits import sample_prompt

# (prompt, width, height): the README's prompt first
HAND_WRITTEN = (
    ("a red ball bounces on the floor", 128, 128),
    ("a green box slides left", 128, 128),
    ("a small blue triangle falls", 128, 128),
    ("a yellow pentagon rolls to the right", 160, 96),
    ("a large purple ball and a small orange box collide", 160, 96),
    ("a white box falls onto a ramp", 96, 160),
    ("A scene with one object on a night background. A medium cyan ball moves to the right. "
     "The camera pans to the left.", 128, 128),
    ("two balls, a red one and a blue one, bounce on the floor", 128, 128),
)
NUM_EVAL_PROMPTS = 8


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--out", default="docs/samples.png")
    ap.add_argument("--seed", type=int, default=0, help="the first row's seed; row i uses seed + i")
    args = ap.parse_args(argv)

    # 1. the model and the prompts
    pipe = KinemaPipeline.from_pretrained(args.model)
    jobs = list(HAND_WRITTEN) + [(sample_prompt("id", i), 128, 128) for i in range(NUM_EVAL_PROMPTS)]

    # 2. one video per prompt, saved as mp4
    out = Path(args.out)
    clip_dir = out.parent / "samples"
    clip_dir.mkdir(parents=True, exist_ok=True)
    videos, labels = [], []
    start = time.perf_counter()
    for i, (prompt, width, height) in enumerate(tqdm(jobs, desc="samples", unit="video")):
        video = pipe(prompt, width=width, height=height, seed=args.seed + i)
        video.save(clip_dir / f"{i:02d}.mp4")
        videos.append(video.frames[::4])
        labels.append(f"{prompt[:90]}{'...' if len(prompt) > 90 else ''}  ({width}x{height})")

    # 3. one sheet, a row per prompt
    save_contact_sheet(out, videos, labels=labels)
    print(f"wrote {out} and {len(jobs)} mp4s in {clip_dir} ({time.perf_counter() - start:.0f} s)")
    return out


if __name__ == "__main__":
    main()
