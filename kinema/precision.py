"""Which compute precision to run in: bf16 autocast where the hardware has it, fp32 elsewhere.

Kinema keeps weights, losses and optimizer state in fp32 and runs matmuls and convolutions
under `torch.autocast(..., torch.bfloat16)`, but only where bf16 is native: a CPU with
avx512_bf16 or AMX, or a CUDA GPU that supports bf16. Elsewhere (an AVX2-only CPU, e.g.
most AMD EPYC and older Intel parts) torch emulates bf16 and is slower than fp32 by far:
measured on a 2-core AVX2 EPYC, one DiT training step took 41 s under bf16 autocast and
1.9 s in fp32, and a VAE encode of 4 clips 203 s against 0.6 s. fp16 is never used on CPU.

KINEMA_BF16=1 or 0 in the environment overrides the choice (e.g. to compare precisions).
"""

from __future__ import annotations

import contextlib
import os

import torch

__all__ = ["autocast", "bf16_is_fast"]


def bf16_is_fast(device: torch.device | str = "cpu") -> bool:
    """True when bf16 matmuls run natively on `device` (honours KINEMA_BF16=0/1)."""
    forced = os.environ.get("KINEMA_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if forced:
        raise ValueError(f"KINEMA_BF16 must be 0 or 1, got {forced!r}; unset it to choose by hardware")
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


def autocast(device: torch.device | str = "cpu", enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` when `enabled` and bf16 is native there; otherwise fp32 (a no-op)."""
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=enabled and bf16_is_fast(kind))
