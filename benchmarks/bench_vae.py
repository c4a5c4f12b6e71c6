"""Speed and memory of the default video VAE on CPU (bf16 autocast where native, else fp32).

Run: python benchmarks/bench_vae.py [--preset base|tiny] [--frames 17] [--seconds 60]

Prints encode and decode frames/s at 128x128, the parameter count, and the peak RSS of a
chunked, streamed decode of a 60 s 16 fps clip (961 frames, 241 latent frames). The long
decode runs last because peak RSS (getrusage) only ever grows.
"""

import argparse
import resource
import sys
import time

import torch

from kinema import precision
from kinema.models.vae import VAE_PRESETS, VideoVAE, latent_shape


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    scale = 1 / 2**20 if sys.platform == "darwin" else 1 / 2**10
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="base", choices=sorted(VAE_PRESETS))
    p.add_argument("--frames", type=int, default=17, help="clip length for the speed runs (1+4k)")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seconds", type=float, default=60.0, help="length of the streamed decode")
    p.add_argument("--fps", type=int, default=16)
    p.add_argument("--chunk", type=int, default=8, help="latent frames per decode chunk")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    torch.manual_seed(0)
    cfg = VAE_PRESETS[args.preset]
    vae = VideoVAE(cfg).eval()
    n_params = sum(p.numel() for p in vae.parameters())
    n_enc = sum(p.numel() for p in vae.encoder.parameters())
    print(f"preset {args.preset}: {n_params / 1e6:.2f}M params "
          f"(encoder {n_enc / 1e6:.2f}M, decoder {(n_params - n_enc) / 1e6:.2f}M); "
          f"torch threads {torch.get_num_threads()}, {'bf16 autocast' if precision.bf16_is_fast() else 'fp32'}")

    s = args.size
    x = torch.rand(1, 3, args.frames, s, s) * 2 - 1
    with torch.inference_mode(), precision.autocast("cpu"):
        mean, _ = vae.encode(x)  # warm-up: oneDNN picks kernels on first call
        vae.decode(mean)
        t_enc = t_dec = float("inf")
        for _ in range(args.repeats):  # best of n: other processes share the cores
            t0 = time.perf_counter()
            mean, _ = vae.encode(x)
            t1 = time.perf_counter()
            vae.decode(mean)
            t2 = time.perf_counter()
            t_enc, t_dec = min(t_enc, t1 - t0), min(t_dec, t2 - t1)
    print(f"encode {args.frames}x{s}x{s}: {args.frames / t_enc:.1f} frames/s ({t_enc:.2f} s)")
    print(f"decode {args.frames}x{s}x{s}: {args.frames / t_dec:.1f} frames/s ({t_dec:.2f} s)")

    frames = 1 + round(args.seconds * args.fps / 4) * 4
    C, t, h, w = latent_shape(cfg, frames, s, s)
    z = torch.randn(1, C, t, h, w)
    rss_before = peak_rss_mb()
    t0 = time.perf_counter()
    n_out = 0
    with torch.inference_mode(), precision.autocast("cpu"):
        for chunk in vae.decode_stream(z, chunk_frames=args.chunk):
            n_out += chunk.shape[2]  # a caller would hand the chunk to an mp4 writer here
    dt = time.perf_counter() - t0
    print(f"streamed decode of {frames} frames ({t} latent frames, chunk {args.chunk}): "
          f"{dt:.1f} s, {n_out / dt:.1f} frames/s; peak RSS {peak_rss_mb():.0f} MB "
          f"(before the long decode {rss_before:.0f} MB)")


if __name__ == "__main__":
    main()
