"""The `kinema` command: a thin adapter that parses arguments, calls the Python API and
writes files. Bad input exits with code 2 and a message that names the fix.

Heavy modules (torch, the models) are imported inside each command so that
`kinema --help` and `kinema world render` start quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

VIDEO_EXTS = (".mp4", ".gif")
IMAGE_EXTS = (".png", ".webp", ".jpg", ".jpeg")


class UsageError(ValueError):
    """Bad input from the command line; printed without a traceback, exit code 2."""


def parse_size(text: str) -> tuple[int, int]:
    """'160x96' -> (160, 96) as (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"size {text!r} must look like WIDTHxHEIGHT, e.g. 128x128") from None
    return w, h


def check_output(path: str, exts: tuple[str, ...] = VIDEO_EXTS + IMAGE_EXTS) -> Path:
    """Fail before any work if the output cannot be written."""
    p = Path(path)
    if p.suffix.lower() not in exts:
        raise UsageError(f"output {path!r} has an unknown extension; use one of {', '.join(exts)}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"output folder {str(parent)!r} does not exist; create it first (mkdir -p {parent})")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"output folder {str(parent)!r} is not writable")
    return p


# ---------------------------------------------------------------- world


def cmd_world_render(args) -> None:
    from kinema.video import write_video
    from kinema.world.captions import caption_scene
    from kinema.world.prompts import scene_from_prompt
    from kinema.world.render import ground_truth, render
    from kinema.world.sim import simulate

    out = check_output(args.output)
    width, height = parse_size(args.size)
    spec = scene_from_prompt(args.prompt, args.seed, fps=args.fps, seconds=args.seconds, width=width, height=height)
    traj = simulate(spec)
    frames = render(spec, traj)
    write_video(out, frames, spec.fps)
    captions = caption_scene(spec, traj, args.seed)
    if args.state:
        state = {"prompt": args.prompt, "seed": args.seed, "captions": captions,
                 "scene": spec.to_dict(), "truth": ground_truth(spec, traj)}
        tmp = Path(args.state).with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, args.state)
    print(f"wrote {out}: {len(frames)} frames, {width}x{height}, {spec.seconds:g} s at {spec.fps:g} fps")
    print(f"caption: {captions['detailed']}")


def cmd_world_dataset(args) -> None:
    from kinema.world.dataset import write_world_dataset

    kwargs = dict(split=args.split, seconds=args.seconds, fps=args.fps, workers=args.workers)
    if args.buckets:
        kwargs["buckets"] = True
    else:
        kwargs["size"] = parse_size(args.size)
    path = write_world_dataset(args.out, args.num, **kwargs)
    print(f"dataset ready: {path}")


# ---------------------------------------------------------------- training


def cmd_train(args) -> None:
    from kinema.train import train_from_cli

    train_from_cli(args.kind, args.config, args.set or [], args.resume)


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kinema", description="Text-to-video generation and a physics world simulator.")
    sub = parser.add_subparsers(dest="command", required=True)

    world = sub.add_parser("world", help="the synthetic physics world").add_subparsers(dest="world_command", required=True)
    p = world.add_parser("render", help="render the simulator's own video of a prompt, with ground truth")
    p.add_argument("prompt")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--state", help="write the scene and per-frame ground truth as JSON here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", default="128x128", help="WIDTHxHEIGHT, even numbers")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--fps", type=float, default=16)
    p.set_defaults(func=cmd_world_render)

    p = world.add_parser("dataset", help="write a dataset of world clips with captions and ground truth")
    p.add_argument("--out", required=True)
    p.add_argument("--num", type=int, required=True)
    p.add_argument("--split", default="id", help="id | ood | combo")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--fps", type=float, default=16)
    p.add_argument("--size", default="128x128")
    p.add_argument("--buckets", action="store_true", help="square, landscape and portrait sizes instead of --size")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=cmd_world_dataset)

    p = sub.add_parser("train", help="train the VAE, the DiT or the video-text model")
    p.add_argument("kind", choices=["vae", "dit", "clip"])
    p.add_argument("--config", help="a YAML file or a named recipe (e.g. default-vae)")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (UsageError, ValueError, FileNotFoundError) as e:
        print(f"kinema: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kinema: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
