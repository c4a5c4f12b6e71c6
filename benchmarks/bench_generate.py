"""Wall time and memory of text-to-video generation, model load included.

Run: python benchmarks/bench_generate.py [--model DIR | --random] [--seconds 2 10 60] [--steps N] [--threads T]
                                          [--refine T] [--sampler S] ...  (sampler settings over the model's)

Each length runs in a fresh process so its peak RSS is its own. Without --model, the shipped
default model; --random builds a randomly initialised model of the default architecture
instead (speed and memory do not depend on the weights). Prints, per length: load time, denoising steps and seconds per step, VAE
decode time, prompt encoding time (text encoder load included), total wall time, wall time per
output second (prompt encoding excluded) and peak RSS; then the ratios
that the targets are stated in (RSS at the longest vs the shortest length; time per output
second, which is constant when generation is linear in length).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile


def timed(fn, total: list[float]):
    """fn, adding the wall time of every call to total[0]."""
    import time

    def wrapper(*a, **k):
        start = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            total[0] += time.perf_counter() - start

    return wrapper


def child(args: argparse.Namespace) -> None:
    import resource
    import time

    t0 = time.perf_counter()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from kinema.pipeline import KinemaPipeline

    if not args.random:
        pipe = KinemaPipeline.from_pretrained(args.model)  # None: the shipped default model
    else:
        import dataclasses

        from kinema.config import load_config
        from kinema.models.dit import DiT
        from kinema.models.text import NullText, TextEncoder, default_disk_cache
        from kinema.models.vae import VideoVAE
        from kinema.pipeline import SampleConfig

        # the default recipes' architectures (configs/vae.yaml, configs/dit.yaml), as train() builds them
        torch.manual_seed(0)
        te = TextEncoder(disk_cache=default_disk_cache())
        vae = VideoVAE(load_config("default-vae", ["model=fast"]).model_cfg())
        dit = DiT(dataclasses.replace(load_config("default-dit").model_cfg(), in_channels=vae.cfg.latent_channels,
                                      text_dim=te.dim))
        pipe = KinemaPipeline(vae, dit, te, NullText(te.dim), SampleConfig())
    from kinema.cli import apply_sampler_arguments

    apply_sampler_arguments(pipe, args)
    t_load = time.perf_counter() - t0

    # time the VAE decode and the prompt encoding (the text encoder's load included) apart
    decode_time, text_time = [0.0], [0.0]
    pipe.vae.decode = timed(pipe.vae.decode, decode_time)
    pipe.text_encoder.encode = timed(pipe.text_encoder.encode, text_time)
    steps = [0]
    t1 = time.perf_counter()
    video = pipe("a red ball bounces on the floor", seconds=args.seconds, num_inference_steps=args.steps,
                 seed=0, callback=lambda i, n: steps.__setitem__(0, i))
    t_gen = time.perf_counter() - t1
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "seconds": args.seconds, "frames": video.num_frames, "load_s": t_load, "generate_s": t_gen,
        "steps": steps[0], "s_per_step": (t_gen - decode_time[0] - text_time[0]) / max(steps[0], 1),
        "decode_s": decode_time[0], "text_s": text_time[0], "total_s": t_load + t_gen, "peak_rss_mb": rss_mb,
        "threads": torch.get_num_threads(),
    }))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model folder (default: the shipped default model)")
    p.add_argument("--random", action="store_true", help="random weights of the default architecture instead")
    p.add_argument("--seconds", type=float, nargs="+", default=[2.0, 10.0, 60.0])
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    from kinema.cli import add_sampler_arguments, sampler_argv

    add_sampler_arguments(p)
    args = p.parse_args()
    if args.child:
        args.seconds = args.seconds[0]
        return child(args)

    def run(seconds: float, cache: str) -> dict:
        cmd = [sys.executable, __file__, "--child", "--seconds", str(seconds), "--threads", str(args.threads)]
        if args.model:
            cmd += ["--model", args.model]
        if args.random:
            cmd += ["--random"]
        if args.steps:
            cmd += ["--steps", str(args.steps)]
        cmd += sampler_argv(args)
        out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, KINEMA_CACHE_DIR=cache))
        if out.returncode:
            sys.exit(out.stderr)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{seconds:5.1f} s ({row['frames']} frames): load {row['load_s']:.1f} s, prompt encoding "
              f"{row['text_s']:.2f} s, {row['steps']} steps x {row['s_per_step']:.2f} s, decode {row['decode_s']:.2f} s, "
              f"total {row['total_s']:.1f} s, {(row['generate_s'] - row['text_s']) / seconds:.2f} s per output second, "
              f"peak RSS {row['peak_rss_mb']:.0f} MB ({row['threads']} threads)", flush=True)
        return row

    rows = []
    with tempfile.TemporaryDirectory(prefix="kinema-bench-") as tmp:
        for i, s in enumerate(args.seconds):
            rows.append(run(s, os.path.join(tmp, str(i))))  # a fresh cache: a new prompt
        print("the same prompt again (its encoding read from disk, the text encoder not loaded):")
        again = run(args.seconds[0], os.path.join(tmp, "0"))
    print(f"repeated prompt / new prompt, total wall time: {again['total_s'] / rows[0]['total_s']:.2f}")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"peak RSS {b['seconds']:g} s / {a['seconds']:g} s: {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}")
        per = [(r["generate_s"] - r["text_s"]) / r["seconds"] for r in rows]
        print(f"time per output second, longest / shortest: {per[-1] / per[0]:.2f}")


if __name__ == "__main__":
    main()
