"""How much the VAE loses: reconstruction PSNR and the frame parser's floor on reconstructions.

Clips come from the world at seeds far past any training dataset's (datasets use seeds
0..N-1), so they are held out; each is encoded with the posterior mean and decoded. The
parser is scored on the reconstructions exactly as on the renders (parser.match_ground_truth):
what it misses there is the measurement floor every generated video inherits.
"""

from __future__ import annotations

import numpy as np
import torch

from kinema import precision
from kinema.eval.parser import match_ground_truth
from kinema.eval.report import aggregate
from kinema.eval.stats import bootstrap_ci
from kinema.models.vae import from_uint8_frames, to_uint8_frames

HELDOUT_SEED_OFFSET = 10_000_000  # world seeds no training dataset reaches


def _db(mse: np.ndarray) -> np.ndarray:
    """PSNR in dB of uint8-scale mean squared errors (inf where the error is 0)."""
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(mse == 0, np.inf, 10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-300)))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 arrays of one shape."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


@torch.no_grad()
def reconstruct(vae, frames: np.ndarray) -> np.ndarray:
    """Encode (posterior mean) and decode (T, H, W, 3) uint8 frames; T = 1 + 4k."""
    with precision.autocast("cpu"):
        mean, _ = vae.encode(from_uint8_frames(frames))  # (1, C, t, h, w)
        y = vae.decode(mean)
    return to_uint8_frames(y)[0]


def evaluate_vae(vae, *, num: int = 48, split: str = "id", seconds: float = 2.0, fps: float = 16,
                 progress: bool = True) -> dict:
    """PSNR (mean, 95% CI, worst) and the parser's found rate / centroid error on
    reconstructions of `num` held-out world clips over the three buckets, and the prompt
    adherence of those reconstructions to each clip's short caption beside the clips' own:
    the most a DiT that generates this VAE's latents can score in `kinema eval`.

    psnr_by_frame_db: PSNR of each frame index over all clips (their squared errors pooled),
    which shows whether the later latent frames of a clip decode worse than the first.
    """
    from tqdm import tqdm

    from kinema.eval.evaluate import score_video
    from kinema.world.dataset import bucket_for, make_world_clip

    vae.eval()
    psnrs, frame_mse, found, total, errors = [], [], 0, 0, []
    records: dict[str, list[dict]] = {"reconstructions": [], "renders": []}
    for i in tqdm(range(num), desc="vae reconstructions", disable=not progress):
        seed = HELDOUT_SEED_OFFSET + i
        width, height = bucket_for(seed)
        clip = make_world_clip(split, seed, fps=fps, seconds=seconds, width=width, height=height)
        rec = reconstruct(vae, clip.frames)
        psnrs.append(psnr(rec, clip.frames))
        frame_mse.append(np.mean((rec.astype(np.float64) - clip.frames.astype(np.float64)) ** 2, axis=(1, 2, 3)))
        f, t, e = match_ground_truth(rec, clip.truth)
        found, total, errors = found + f, total + t, errors + e
        caption = clip.captions["short"]
        for row, frames in (("reconstructions", rec), ("renders", clip.frames)):
            records[row].append({"prompt": caption, "scores": score_video(frames, fps, caption)})
    mean, lo, hi = bootstrap_ci(psnrs)
    errors_arr = np.asarray(errors) if errors else np.full(1, np.nan)
    return {
        "clips": num, "split": split, "psnr_db": mean, "psnr_ci": [lo, hi], "psnr_min_db": float(min(psnrs)),
        "psnr_by_frame_db": _db(np.mean(frame_mse, axis=0)).tolist(),
        "parser_found": found, "parser_total": total, "parser_found_rate": found / max(total, 1),
        "centroid_error_px_median": float(np.median(errors_arr)),
        "centroid_error_px_p99": float(np.percentile(errors_arr, 99)),
        "found_under_0.5px_rate": float(np.sum(errors_arr < 0.5) / max(total, 1)),
        **{f"adherence_{row}": _means(aggregate(v)) for row, v in records.items()},
    }


def _means(row: dict) -> dict[str, float]:
    """A report row (report.aggregate) -> mean adherence per attribute and mean object permanence."""
    cis = {k: row["adherence"].get(k) for k in ("overall", "colour", "shape", "count", "motion")}
    cis["permanence"] = row["consistency"].get("permanence")
    return {k: ci["mean"] if ci else float("nan") for k, ci in cis.items()}


def plot_psnr_by_frame(reports: dict[str, dict], path, *, temporal_factor: int = 4):
    """One line per VAE report (evaluate_vae's dict, named by its key): PSNR against frame
    index, with dotted lines where each latent frame's group of `temporal_factor` frames starts."""
    from kinema.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    n = 0
    for name, rep in reports.items():
        y = np.asarray(rep["psnr_by_frame_db"], dtype=float)
        n = max(n, len(y))
        ax.plot(np.arange(len(y)), y, marker=".", label=f"{name} (clip mean {rep['psnr_db']:.1f} dB)")
    for t in range(1, n, temporal_factor):
        ax.axvline(t - 0.5, color="0.85", lw=0.8, ls=":", zorder=0)
    ax.set_xlabel("frame (dotted: start of each latent frame's group)")
    ax.set_ylabel("PSNR, dB")
    ax.set_title(f"VAE reconstruction by frame, {next(iter(reports.values()))['clips']} held-out clips")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)
