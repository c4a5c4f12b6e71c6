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

from kinema.sampling import SAMPLER_NAMES, VERIFIER_NAMES

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


def cmd_data_import(args) -> None:
    from kinema.ingest import import_videos

    kwargs = {"size": parse_size(args.size)} if args.size else {}
    res = import_videos(args.src, args.out, fps=args.fps, seconds=args.seconds, min_seconds=args.min_seconds,
                        captions=args.captions, allow_uncaptioned=args.allow_uncaptioned, **kwargs)
    for rel, why in res.skipped.items():
        print(f"skipped {rel}: {why}", file=sys.stderr)
    print(f"dataset ready: {res.out} ({res.videos} videos, {res.clips} clips, {res.seconds / 60:.1f} min at "
          f"{args.fps:g} fps; {len(res.skipped)} skipped). Train on it: kinema train vae --config default-vae "
          f"--set data={res.out}")


def cmd_serve(args) -> None:
    try:
        import uvicorn

        from kinema.server import create_app
    except ImportError as e:
        raise UsageError(f"kinema serve needs FastAPI and uvicorn ({e.name} is missing); run "
                         f"`pip install -e \".[serve]\"` or `pip install fastapi uvicorn`") from e
    app = create_app(_load_pipeline(args), threads=args.threads or None, max_queue=args.max_queue)
    print(f"kinema: serving on http://{args.host}:{args.port} ({app.state.server.threads} torch threads for "
          f"generation; the page is at /, "
          f"the API at /generate and /jobs, its schema at /docs)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


# ---------------------------------------------------------------- generation


def _load_pipeline(args):
    from kinema.pipeline import KinemaPipeline

    return apply_sampler_arguments(KinemaPipeline.from_pretrained(args.model), args)


def _sample_kwargs(args, pipe) -> dict:
    """The options every generation command shares, as pipeline keyword arguments."""
    kw = dict(num_inference_steps=args.steps, guidance_scale=args.guidance, seed=args.seed)
    if args.fps is not None:
        kw["fps"] = args.fps
    if args.size is not None:
        kw["width"], kw["height"] = parse_size(args.size)
    if args.negative is not None:  # "" asks for the null text, None leaves the model's default
        kw["negative_prompt"] = args.negative
    return kw


class _Progress:
    """A tqdm bar over denoising steps (all windows together)."""

    def __init__(self):
        self.bar = None

    def __call__(self, step: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc="denoising", unit="step", file=sys.stderr)
        self.bar.total = total
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_generation(args, make, *, expands: bool = False) -> None:
    """Check the output, load the model, call make(pipe, kwargs) -> Video, save and report.
    expands: the mode expands its prompt where the model says so (KinemaPipeline.expand)."""
    import time

    out = check_output(args.output)
    start = time.perf_counter()
    print(f"loading {args.model or 'the default model'}", file=sys.stderr)
    pipe = _load_pipeline(args)
    kwargs = _sample_kwargs(args, pipe)
    text = args.prompt
    if expands and pipe.config.expand_prompt:
        text = pipe.expand(args.prompt, seed=kwargs.get("seed"), fps=kwargs.get("fps"), width=kwargs.get("width"),
                           height=kwargs.get("height"))
        print(f"prompt expanded: {text}" if text != args.prompt else
              "prompt kept as typed (the world cannot expand it: a word outside its vocabulary, or no object)",
              file=sys.stderr)
    if pipe.text_encoder.model is None and not pipe.text_encoder.is_cached(text):
        print("loading the text encoder: a prompt not encoded before (its encoding is kept on disk)", file=sys.stderr)
    progress = _Progress()
    kwargs["callback"] = progress
    try:
        video = make(pipe, kwargs)
    finally:
        progress.close()
    if out.suffix.lower() in IMAGE_EXTS and video.num_frames > 1:
        video = type(video)(video.frames[:1], video.fps)
    video.save(out)
    took = time.perf_counter() - start
    print(f"wrote {out}: {video.num_frames} frames, {video.width}x{video.height}, "
          f"{video.seconds:.2f} s at {video.fps:g} fps, in {took:.1f} s")


def _read_clip(path: str):
    from kinema.video import Video

    return Video.load(path)


def cmd_generate(args) -> None:
    def make(pipe, kw):
        if Path(args.output).suffix.lower() in IMAGE_EXTS:
            return pipe(args.prompt, num_frames=1, **kw)
        return pipe(args.prompt, seconds=args.seconds, **kw)

    _run_generation(args, make, expands=True)


def cmd_animate(args) -> None:
    from kinema.video import nearest_bucket, read_image

    image = read_image(args.image)

    def make(pipe, kw):
        if "width" not in kw:
            w, h = nearest_bucket(image.shape[1], image.shape[0], pipe.config.buckets)
            if (w, h) != (image.shape[1], image.shape[0]):
                print(f"note: fitting the {image.shape[1]}x{image.shape[0]} image to the {w}x{h} bucket", file=sys.stderr)
            kw["width"], kw["height"] = w, h
        return pipe.animate(image, args.prompt, seconds=args.seconds, **kw)

    _run_generation(args, make)


def cmd_extend(args) -> None:
    clip = _read_clip(args.video)
    _run_generation(args, lambda pipe, kw: pipe.extend(clip, args.prompt, seconds=args.seconds or 2.0,
                                                       backward=args.backward, **kw))


def cmd_connect(args) -> None:
    a, b = _read_clip(args.video_a), _read_clip(args.video_b)
    _run_generation(args, lambda pipe, kw: pipe.connect(a, b, args.prompt, seconds=args.seconds or 1.0, **kw))


def cmd_loop(args) -> None:
    _run_generation(args, lambda pipe, kw: pipe.loop(args.prompt, seconds=args.seconds, **kw), expands=True)


def cmd_edit(args) -> None:
    clip = _read_clip(args.video)
    _run_generation(args, lambda pipe, kw: pipe.edit(clip, args.prompt, strength=args.strength, **kw))


# ---------------------------------------------------------------- training


def cmd_train(args) -> None:
    if args.kind == "clip":  # the video-text model of the evaluation has its own trainer
        from kinema.eval.clip import train_clip_from_cli

        train_clip_from_cli(args.config, args.set or [], args.resume)
        return
    if args.kind == "attributes":  # so has the attribute reader that verifies searches
        from kinema.eval.attributes import train_attributes_from_cli

        train_attributes_from_cli(args.config, args.set or [], args.resume)
        return
    from kinema.train import train_from_cli

    train_from_cli(args.kind, args.config, args.set or [], args.resume)


# ---------------------------------------------------------------- evaluation


def cmd_eval(args) -> None:
    if (args.where is not None or args.objects is not None or args.row != "model") and args.compare is None:
        raise ValueError("--where, --objects and --row pick the prompts and the row of a comparison; "
                         "use them with --compare A B")
    if args.model_only and (args.compare is not None or args.vae is not None or args.video is not None):
        raise ValueError("--model-only picks the rows of a model's evaluation; drop it with --compare, --vae or --video")
    if args.from_index and (args.vae is not None or args.video is not None):
        raise ValueError("--from-index picks prompts of a model's evaluation or comparison, not of --vae or --video")
    if args.compare is not None:  # two reports of the same prompts: paired differences B - A
        from kinema.eval.compare import compare_reports, comparison_markdown, load_report, write_comparison

        result = compare_reports(load_report(args.compare[0]), load_report(args.compare[1]), row=args.row,
                                 where=args.where, from_index=args.from_index, objects=args.objects)
        print(comparison_markdown(result))
        if args.out:
            print(f"wrote {', '.join(str(p) for p in write_comparison(result, args.out))}")
        return
    if args.vae is not None:  # the autoencoder alone: reconstruction PSNR and the parser's floor
        from kinema.checkpoint import load_part
        from kinema.eval.reconstruction import evaluate_vae
        from kinema.models.vae import VAEConfig, VideoVAE

        folder = Path(args.vae)
        if (folder / "vae").is_dir():
            folder = folder / "vae"
        result = evaluate_vae(load_part(folder, VideoVAE, VAEConfig), num=args.num, split=args.split)
        print(json.dumps(result, indent=2))
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "vae_report.json").write_text(json.dumps(result, indent=2))
            from kinema.eval.reconstruction import plot_psnr_by_frame

            png = plot_psnr_by_frame({Path(args.vae).name: result}, Path(args.out) / "vae_psnr_by_frame.png")
            print(f"wrote {Path(args.out) / 'vae_report.json'} and {png}")
        return
    if args.video is not None:  # one video: print its scores
        if not args.prompt:
            raise UsageError("--video needs --prompt \"the text it was generated from\"")
        from kinema.eval.run import score_one

        score_one(args.video, args.prompt)
        return
    if args.out is None:
        raise UsageError("pass --out DIR for the report (or --video FILE --prompt TEXT to score one video)")
    if args.model is not None and not Path(args.model).is_dir():
        raise UsageError(f"model folder {args.model!r} does not exist; pass a folder written by save_pretrained")
    from kinema.eval.clip import DEFAULT_CLIP_DIR
    from kinema.eval.run import evaluate_model

    clip = args.clip if args.clip is not None else (str(DEFAULT_CLIP_DIR) if DEFAULT_CLIP_DIR.is_dir() else None)
    evaluate_model(args.model, args.out, split=args.split, num=args.num, seeds=args.seeds,
                   from_index=args.from_index, steps=args.steps,
                   guidance_scale=args.guidance, shift=args.shift, negative_prompt=args.negative,
                   clip_model=clip, **({"rows": ("model",)} if args.model_only else {}), **sampler_settings(args))
    print(f"report: {Path(args.out) / 'report.md'}")


# ---------------------------------------------------------------- parser


# SampleConfig field -> its flag, for every option of add_sampler_arguments: one per field of
# kinema.sampling.SAMPLER_FIELDS (torch and the pipeline are not imported here, to keep `kinema --help` fast)
SAMPLER_FLAGS = {"sampler": "--sampler", "eta": "--eta", "eta_t_min": "--eta-t-min",
                 "expert_boundary": "--expert-boundary", "refine_strength": "--refine", "refine_smooth": "--refine-smooth",
                 "guidance_t_min": "--guidance-min-t", "guidance_t_max": "--guidance-max-t",
                 "guidance_rule": "--guidance-rule", "steady_steps": "--steady", "steady_iters": "--steady-iters",
                 "steady_lr": "--steady-lr", "steady_score": "--steady-score", "expand_prompt": "--expand",
                 "candidates": "--candidates", "select_step": "--select-at", "verifier": "--verifier"}


def add_sampler_arguments(p: argparse.ArgumentParser) -> None:
    """The sampler's flags (SAMPLER_FLAGS): SampleConfig fields over a model's defaults (None keeps them)."""
    p.add_argument("--sampler", choices=SAMPLER_NAMES, default=None,
                   help="sampler (default: the model's); a heun step costs two DiT passes, dpm++ is second "
                        "order at one pass a step")
    p.add_argument("--eta", type=float, default=None,
                   help="the stochastic sampler's noise in [0, 1] (default: the model's)")
    p.add_argument("--eta-t-min", type=float, default=None,
                   help="the stochastic sampler adds noise only on steps starting above this t (default: the model's)")
    p.add_argument("--expert-boundary", type=float, default=None, metavar="T",
                   help="with a model that has a high-noise expert: the steps from noise level T up use it "
                   "(default: the model's)")
    p.add_argument("--refine", type=float, default=None, metavar="T", dest="refine_strength",
                   help="self-refinement: sample each window again from its first pass, low-passed along time "
                   "and noised to level T in [0, 1] (0: one pass; costs about T more steps; default: the model's)")
    p.add_argument("--refine-smooth", type=int, default=None, metavar="N",
                   help="passes of the [1, 2, 1] / 4 time filter of --refine (default: the model's)")
    p.add_argument("--guidance-min-t", type=float, default=None, metavar="T", dest="guidance_t_min",
                   help="guidance only on steps at noise level >= T; below, the prompt's velocity alone "
                   "(one DiT pass; default: the model's)")
    p.add_argument("--guidance-max-t", type=float, default=None, metavar="T", dest="guidance_t_max",
                   help="guidance only on steps at noise level <= T (default: the model's)")
    p.add_argument("--guidance-rule", choices=["cfg", "zero_star"], default=None,
                   help="cfg: v_u + g (v_c - v_u); zero_star: CFG-Zero*'s rescaled v_u (default: the model's)")
    p.add_argument("--steady", type=int, default=None, metavar="N", dest="steady_steps",
                   help="variance guidance on the first N steps: fewer objects that appear and vanish, "
                   "each guided step about 1 + 3 K DiT passes instead of 1 (0: off; default: the model's)")
    p.add_argument("--steady-iters", type=int, default=None, metavar="K",
                   help="gradient steps on the sample per --steady step (default: the model's)")
    p.add_argument("--steady-lr", type=float, default=None, metavar="LR",
                   help="the size of each --steady gradient step (Adam; default: the model's)")
    p.add_argument("--steady-score", choices=["moments", "flowmo"], default=None,
                   help="what --steady lowers: moments, each frame's colour statistics drifting (blind to "
                   "motion); flowmo, FlowMo's variance of frame changes (default: the model's)")
    p.add_argument("--expand", action=argparse.BooleanOptionalAction, default=None, dest="expand_prompt",
                   help="Sora-style prompt expansion (generate, loop): the model is given the detailed caption "
                   "of a scene the world's simulator draws for the prompt; --no-expand: the prompt as typed "
                   "(default: the model's)")
    p.add_argument("--candidates", type=int, default=None, metavar="N",
                   help="search over starting noise: draw each window N times and keep the one the verifier "
                   "scores closest to the prompt (about N times the steps; default: the model's)")
    p.add_argument("--select-at", type=int, default=None, metavar="STEP", dest="select_step",
                   help="with --candidates: choose after STEP steps, on each candidate's clean prediction, and "
                   "solve only the winner on (0: after the last step; default: the model's)")
    p.add_argument("--verifier", choices=VERIFIER_NAMES, default=None,
                   help="with --candidates: what judges them; denoise, how much the prompt helps the model "
                   "itself denoise the clip; clip, the video-text model's similarity to the prompt; attributes, "
                   "the attribute reader's chance that the clip passes each check of the prompt "
                   "(default: the model's; the shipped model's: denoise)")


def apply_sampler_arguments(pipe, args: argparse.Namespace):
    """The arguments of add_sampler_arguments held as pipe's defaults for every call (SampleConfig checks them)."""
    pipe.config = pipe.config.override(**sampler_settings(args))
    return pipe


def sampler_settings(args: argparse.Namespace) -> dict:
    """{SampleConfig field: value} of add_sampler_arguments' options (None where not given)."""
    return {field: getattr(args, field) for field in SAMPLER_FLAGS}


def sampler_argv(args: argparse.Namespace) -> list[str]:
    """The flags that give another command the sampler settings of args (those given)."""
    out = []
    for field, flag in SAMPLER_FLAGS.items():
        value = getattr(args, field)
        if isinstance(value, bool):  # a --flag / --no-flag pair
            out.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            out += [flag, str(value)]
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kinema", description="Text-to-video generation and a physics world simulator.")
    sub = parser.add_subparsers(dest="command", required=True)

    def generation(name: str, help: str, inputs: tuple[str, ...] = (), seconds: float | None = 2.0):
        p = sub.add_parser(name, help=help)
        for arg in inputs:
            p.add_argument(arg)
        p.add_argument("prompt")
        p.add_argument("-o", "--output", required=True, help="out.mp4, out.gif, or out.png for a still")
        p.add_argument("--seconds", type=float, default=seconds)
        p.add_argument("--fps", type=float, default=None, help="frames per second (the model's default: 16)")
        p.add_argument("--size", default=None, help="WIDTHxHEIGHT, one of the model's buckets (e.g. 128x128)")
        p.add_argument("--steps", type=int, default=None, help="denoising steps")
        p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
        p.add_argument("--negative", default=None,
                       help="negative prompt for guidance (default: the model's; \"\" for the null text)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--model", default=None, help="model folder (default: the shipped model)")
        add_sampler_arguments(p)
        return p

    generation("generate", "text to video (or to a still image with -o out.png)").set_defaults(func=cmd_generate)
    generation("animate", "image to video", ("image",)).set_defaults(func=cmd_animate)
    p = generation("extend", "extend a clip forward (or --backward)", ("video",), seconds=None)
    p.add_argument("--backward", action="store_true", help="generate what came before the clip")
    p.set_defaults(func=cmd_extend)
    generation("connect", "a transition from clip A's end to clip B's start", ("video_a", "video_b"),
               seconds=None).set_defaults(func=cmd_connect)
    generation("loop", "a seamless loop").set_defaults(func=cmd_loop)
    p = generation("edit", "edit a clip with a prompt (SDEdit)", ("video",))
    p.add_argument("--strength", type=float, default=0.6, help="0 keeps the input, 1 ignores it")
    p.set_defaults(func=cmd_edit)

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

    p = sub.add_parser("serve", help="an HTTP server and web page over the pipeline")
    p.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve other machines")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads for generation (default: torch's, one per core); fewer beside other work")
    p.add_argument("--max-queue", type=int, default=16, help="videos queued or in progress before requests get 429")
    add_sampler_arguments(p)  # the served model's sampler settings
    p.set_defaults(func=cmd_serve)

    data = sub.add_parser("data", help="datasets of your own videos").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("import", help="cut a folder of captioned videos into training clips (manifest.jsonl + mp4s)")
    p.add_argument("src", help="folder of videos (searched recursively)")
    p.add_argument("--out", required=True, help="dataset folder to write (re-running resumes it)")
    p.add_argument("--captions", default=None,
                   help="JSON lines {\"file\", \"caption\"} or CSV file,caption (default: clip.txt beside clip.mp4)")
    p.add_argument("--size", default=None, help="one WIDTHxHEIGHT for every clip (default: the bucket nearest each "
                   "video's aspect ratio: 128x128, 160x96, 96x160)")
    p.add_argument("--fps", type=float, default=16)
    p.add_argument("--seconds", type=float, default=4.0, help="clip length")
    p.add_argument("--min-seconds", type=float, default=2.0, help="keep a video's last, shorter part from this length")
    p.add_argument("--allow-uncaptioned", action="store_true", help="import videos without a caption (empty caption)")
    p.set_defaults(func=cmd_data_import)

    p = sub.add_parser("train", help="train the VAE, the DiT, the video-text model or the attribute reader")
    p.add_argument("kind", choices=["vae", "dit", "clip", "attributes"])
    p.add_argument("--config", help="a YAML file or a named recipe (e.g. default-vae)")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a model against the world (or score one video)")
    p.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    p.add_argument("--out", default=None, help="report folder: report.md, report.json, plots, videos")
    p.add_argument("--split", default="id", choices=["id", "ood", "combo", "all"])
    p.add_argument("--num", type=int, default=200, help="prompts per split")
    p.add_argument("--seeds", type=int, default=1, help="videos per prompt")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    p.add_argument("--shift", type=float, default=None, help="sampling timestep shift (default: the model's)")
    add_sampler_arguments(p)
    p.add_argument("--negative", default=None,
                   help="negative prompt for guidance (default: the model's; \"\" for the null text)")
    p.add_argument("--clip", default=None, help="video-text model folder (kinema train clip) for CLIP score and FVD; default: the shipped one")
    p.add_argument("--video", default=None, help="score this one video instead (needs --prompt)")
    p.add_argument("--prompt", default=None, help="the prompt --video was generated from")
    p.add_argument("--vae", default=None, help="score this VAE (part or model folder) on held-out clips instead")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), default=None,
                   help="two reports (report.json or --out folders) of the same prompts and seeds: paired B - A")
    p.add_argument("--where", default=None, metavar="TEXT",
                   help="with --compare: only prompts containing TEXT (\"!TEXT\": only those without it)")
    p.add_argument("--objects", type=int, default=None, metavar="N",
                   help="with --compare: only prompts that ask for N objects (1: \"a red ball falls\")")
    p.add_argument("--model-only", action="store_true",
                   help="score the model's row alone, not the vae, ceiling and baseline rows, which no sampler "
                   "setting changes (for a run to --compare with another of the same model)")
    p.add_argument("--from-index", type=int, default=0, metavar="N",
                   help="prompts from index N on: score prompts N..N+num-1, or with --compare pair only those "
                   "(e.g. 100: the half of 200 that did not pick the settings)")
    p.add_argument("--row", default="model", choices=["model", "vae", "ceiling", "baseline"],
                   help="with --compare: the row to pair (vae: each model's VAE on the simulator's clips)")
    p.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (UsageError, ValueError, FileNotFoundError) as e:
        print(f"kinema: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # a training run checkpoints first and says how to resume
        print(f"kinema: interrupted{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 128 + int(getattr(e, "signum", 2))  # 130 for SIGINT, 143 for SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
