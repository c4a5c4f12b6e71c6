"""VAE reconstruction figures: exact on a lossless stand-in, finite and lower on a random VAE."""

import math

import numpy as np
import torch

from kinema.eval.reconstruction import evaluate_vae, plot_psnr_by_frame, psnr, reconstruct
from kinema.models.vae import VAE_TINY, VideoVAE


class Lossless(torch.nn.Module):
    """encode/decode that return their input: reconstruction is exact up to uint8 rounding."""

    def encode(self, x):
        return x, torch.zeros_like(x)

    def decode(self, z):
        return z


def test_psnr_known_values():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    assert psnr(a, a) == math.inf
    b = a.copy()
    b[...] = 1  # mse 1 -> 20 log10(255) = 48.13 dB
    assert abs(psnr(a, b) - 20 * math.log10(255)) < 1e-9


def test_lossless_vae_scores_perfectly_and_parser_finds_everything():
    out = evaluate_vae(Lossless(), num=3, seconds=1.0, progress=False)
    assert out["psnr_db"] == math.inf
    assert out["psnr_by_frame_db"] == [math.inf] * 17  # 1 s at 16 fps: every frame exact
    assert out["parser_total"] > 0 and out["parser_found_rate"] >= 0.99
    assert out["adherence_reconstructions"] == out["adherence_renders"]  # lossless: scored as the clips
    assert out["adherence_renders"]["colour"] > 0.9


def test_random_vae_is_lossy(tmp_path):
    torch.manual_seed(0)
    vae = VideoVAE(VAE_TINY)
    frames = np.random.default_rng(0).integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    rec = reconstruct(vae, frames)
    assert rec.shape == frames.shape and rec.dtype == np.uint8
    out = evaluate_vae(vae, num=1, seconds=0.5, progress=False)
    assert out["psnr_db"] < 30
    by_frame = np.asarray(out["psnr_by_frame_db"])
    assert by_frame.shape == (9,) and np.all(np.isfinite(by_frame)) and by_frame.max() < 30
    # one clip: the pooled per-frame errors give back the clip's PSNR
    assert abs(-10 * np.log10(np.mean(10 ** (-by_frame / 10))) - out["psnr_db"]) < 1e-9
    png = plot_psnr_by_frame({"random": out, "again": out}, tmp_path / "by_frame.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["adherence_reconstructions"]["colour"] < out["adherence_renders"]["colour"]
