"""DiT training-step throughput on CPU, as a fraction of this machine's matmul peak.

    pip install -e ".[bench]"      # diffusers, for the Wan comparison (torch stays pinned)
    python benchmarks/bench_dit.py [--batch 4] [--steps 5] [--text-len 24] [--threads N]

Runs in the precision training uses here (kinema.precision: bf16 autocast where bf16 is
native, fp32 elsewhere; KINEMA_BF16=0/1 to compare). Measures, in one run: the matmul peak in
that dtype (4096^3 GEMMs), DiT_S forward+backward on
latents (8, 9, 16, 16) -> 576 tokens per clip, and, if diffusers is importable, diffusers'
WanTransformer3DModel of the same width, depth and token count, and our step again with
SDPA's CPU kernel in place of the explicit attention that CPU training uses. FLOPs are counted
analytically (6 * per-token params * tokens + attention), not by a profiler.

On a CPU shared with other jobs, --threads 1 can be several times faster than the default:
OpenMP threads that wait at barriers for a descheduled sibling stall every elementwise op.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from kinema import precision
from kinema.models import dit as dit_module
from kinema.models.dit import DIT_S, DiT, DiTConfig


def matmul_peak_gflops(n: int = 4096, reps: int = 4) -> float:
    """Best-of-reps GEMM rate in the dtype training runs in here, GFLOP/s."""
    dtype = torch.bfloat16 if precision.bf16_is_fast("cpu") else torch.float32
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    a @ b  # warm up (oneDNN picks its kernel)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def dit_train_flops(cfg: DiTConfig, batch: int, grid: tuple[int, int, int], text_len: int) -> float:
    """FLOPs of one forward+backward (backward = 2x forward), counted per matmul.

    Per video token and block: qkv 3D^2, out D^2, cross q + out 2D^2, MLP 2 r D^2 MACs; per
    text token and block: cross k/v 2D^2; attention: QK^T and AV, 2 N^2 D (self) and
    2 N L D (cross) MACs; patch embed and final layer: 2 patch_dim D per token. The
    per-frame adaLN and embedders act on B*T rows, not tokens, and are ignored (< 0.1%).
    """
    D, r = cfg.hidden_size, cfg.mlp_ratio
    n = grid[0] * grid[1] * grid[2]
    per_token = cfg.depth * (6 + 2 * r) * D * D + 2 * cfg.patch_dim * D
    per_text = cfg.depth * 2 * D * D
    attn = cfg.depth * (2 * n * n * D + 2 * n * text_len * D)
    macs = batch * (n * per_token + text_len * per_text + attn)
    return 3 * 2 * macs  # 2 FLOPs per MAC, forward + backward = 3 forwards


def time_steps(step, steps: int) -> float:
    """Median seconds of `steps` calls after two warm-ups (noisy shared CPUs: median, not mean)."""
    step()
    step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_kinema(cfg: DiTConfig, batch: int, latent: tuple[int, int, int, int], text_len: int, steps: int) -> float:
    g = torch.Generator().manual_seed(0)
    model = DiT(cfg).train()
    C, T, H, W = latent
    x = torch.randn(batch, C, T, H, W, generator=g)
    t = torch.rand(batch, T, generator=g)
    text = torch.randn(batch, text_len, cfg.text_dim, generator=g)
    mask = torch.ones(batch, text_len, dtype=torch.bool)
    fps = torch.full((batch,), 8.0)
    target = torch.randn(x.shape, generator=g)

    def step():
        with precision.autocast("cpu"):
            v = model(x, t, text, mask, fps)
        loss = (v - target).square().mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    return time_steps(step, steps)


def bench_wan(cfg: DiTConfig, batch: int, latent: tuple[int, int, int, int], text_len: int, steps: int) -> float | None:
    try:
        from diffusers import WanTransformer3DModel
    except ImportError:
        return None
    g = torch.Generator().manual_seed(0)
    model = WanTransformer3DModel(
        patch_size=cfg.patch_size,
        num_attention_heads=cfg.num_heads,
        attention_head_dim=cfg.head_dim,
        in_channels=cfg.in_channels,
        out_channels=cfg.in_channels,
        text_dim=cfg.text_dim,
        ffn_dim=int(cfg.hidden_size * cfg.mlp_ratio),
        num_layers=cfg.depth,
    ).train()
    x = torch.randn(batch, *latent, generator=g)
    timestep = torch.randint(0, 1000, (batch,), generator=g)
    text = torch.randn(batch, text_len, cfg.text_dim, generator=g)
    target = torch.randn(x.shape, generator=g)
    print(f"  Wan params: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M")

    def step():
        with precision.autocast("cpu"):
            v = model(x, timestep, text, return_dict=False)[0]
        loss = (v.float() - target).square().mean()
        loss.backward()
        model.zero_grad(set_to_none=True)

    return time_steps(step, steps)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--text-len", type=int, default=24)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    cfg, latent = DIT_S, (8, 9, 16, 16)
    grid = (latent[1], latent[2] // cfg.patch_size[1], latent[3] // cfg.patch_size[2])
    tokens = args.batch * grid[0] * grid[1] * grid[2]
    flops = dit_train_flops(cfg, args.batch, grid, args.text_len)
    n_params = sum(p.numel() for p in DiT(cfg).parameters())
    dtype = "bf16 autocast" if precision.bf16_is_fast("cpu") else "fp32 (bf16 is not native on this CPU)"
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {dtype}")
    print(f"DiT_S: {n_params / 1e6:.1f} M params, batch {args.batch} x {grid[0] * grid[1] * grid[2]} tokens, "
          f"text {args.text_len}, {flops / 1e9:.1f} GFLOP per training step")

    peak_before = matmul_peak_gflops()
    sec = bench_kinema(cfg, args.batch, latent, args.text_len, args.steps)
    peak_after = matmul_peak_gflops()
    peak = max(peak_before, peak_after)  # the CPU may be shared: take the better reading
    achieved = flops / sec / 1e9
    print(f"matmul peak: {peak:.0f} GFLOP/s (before {peak_before:.0f}, after {peak_after:.0f})")
    print(f"kinema DiT_S fwd+bwd: {sec * 1e3:.0f} ms/step, {tokens / sec:.0f} tokens/s, "
          f"{achieved:.0f} GFLOP/s = {achieved / peak:.0%} of peak")

    # the same step with SDPA's CPU flash kernel in training, which kinema.models.dit.attention replaces
    explicit = dit_module.attention
    dit_module.attention = lambda q, k, v, mask=None: F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    try:
        sdpa = bench_kinema(cfg, args.batch, latent, args.text_len, args.steps)
    finally:
        dit_module.attention = explicit
    print(f"  with SDPA's CPU kernel in training instead: {sdpa * 1e3:.0f} ms/step; "
          f"the explicit attention is {sdpa / sec:.2f}x its speed")

    wan = bench_wan(cfg, args.batch, latent, args.text_len, args.steps)
    if wan is None:
        print("diffusers WanTransformer3DModel: skipped (diffusers not importable; pip install -e \".[bench]\")")
    else:
        print(f"diffusers Wan (same width/depth/tokens) fwd+bwd: {wan * 1e3:.0f} ms/step, {tokens / wan:.0f} tokens/s; "
              f"kinema is {wan / sec:.2f}x its speed")


if __name__ == "__main__":
    main()
