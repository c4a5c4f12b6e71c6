"""How reliable is the evaluation's verdict on one generated video?

Scores every candidate a headroom run kept (`scripts/search_headroom.py --save-clips`) again
after two changes no viewer would notice: a shift by one pixel right and down (edges
repeated), and uniform noise of at most +-3 grey levels per pixel (seeded). A verdict that
moves under them measures the parser's luck on soft blobs, not the video; the search's
oracle, which picks the best candidate by the very score it is judged on, collects that luck
too. So the script also reports the oracle that picks by a perturbed copy's score and is judged
on the original's: what a verifier could reach that sees the video as well as the evaluation
does but not the parser's draw.

    python scripts/eval_reliability.py runs/headroom --out runs/reliability

Writes OUT/report.json and OUT/reliability.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from kinema.eval.evaluate import evaluate_video
from kinema.eval.stats import bootstrap_ci
from kinema.plots import pyplot, save_figure

NOISE_LEVELS = 3  # grey levels: below what 8-bit video coding already changes
ATTRIBUTES = ("colour", "shape", "count", "motion")


def shifted(clip: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) moved one pixel right and down, the first row and column repeated."""
    return np.pad(clip, ((0, 0), (1, 0), (1, 0), (0, 0)), mode="edge")[:, :-1, :-1]


def noised(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(T, H, W, 3) with uniform integer noise in [-NOISE_LEVELS, NOISE_LEVELS] per value."""
    n = rng.integers(-NOISE_LEVELS, NOISE_LEVELS + 1, clip.shape)
    return np.clip(clip.astype(np.int16) + n, 0, 255).astype(np.uint8)


def reliability(scores: np.ndarray) -> dict:
    """scores: (P, N, 2) overall of N candidates of P prompts, as evaluated and perturbed.

    Returns the within-prompt (centred per prompt) and raw correlations of the two, the share
    of videos whose overall changed and the mean absolute change, and the plain candidate, the
    oracle, and the oracle picking by the perturbed score (judged on the original), with that
    oracle's gain over the plain candidate and its 95% interval, paired by prompt."""
    a, b = scores[..., 0], scores[..., 1]
    ac, bc = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    pick = b.argmax(1)
    honest = a[np.arange(len(a)), pick]
    mean, lo, hi = bootstrap_ci(honest - a[:, 0])
    return {"within_prompt_r": float(np.corrcoef(ac.ravel(), bc.ravel())[0, 1]),
            "raw_r": float(np.corrcoef(a.ravel(), b.ravel())[0, 1]),
            "changed": float((a != b).mean()), "mean_abs_change": float(np.abs(a - b).mean()),
            "mean_change": float((b - a).mean()), "plain": float(a[:, 0].mean()),
            "oracle": float(a.max(1).mean()), "oracle_by_perturbed": float(honest.mean()),
            "oracle_by_perturbed_minus_plain": {"mean": mean, "ci95": [lo, hi]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a folder written by search_headroom.py --save-clips")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0, help="the noise's seed")
    args = ap.parse_args()
    run, out = Path(args.run), Path(args.out)
    if not (run / "clips").is_dir():
        ap.error(f"{run} has no clips/; rerun search_headroom.py with --save-clips")
    report = json.loads((run / "report.json").read_text())
    fps = report["settings"].get("fps", 16.0)  # runs before 2026-12-08 did not record it: the default model's
    rng, rows, flips, t0 = np.random.default_rng(args.seed), [], {}, time.monotonic()
    for r in tqdm(report["prompts"], desc="prompts", unit="prompt"):
        row = []
        for j, cand in enumerate(r["candidates"]):
            clip = np.load(run / "clips" / f"{r['index']:04d}_{j}.npy")
            scores = [evaluate_video(c, fps, r["prompt"])["adherence"] for c in (shifted(clip), noised(clip, rng))]
            row.append([cand["overall"], *(a["overall"] for a in scores)])
            for name, a in zip(("shift", "noise"), scores):  # which attributes the perturbation moved
                for k in ATTRIBUTES:
                    if cand.get(k) is not None and a.get(k) is not None:
                        flips.setdefault(name, {}).setdefault(k, []).append(a[k] != cand[k])
        rows.append(row)
    x = np.array(rows, dtype=float)  # (P, N, 3): as evaluated, shifted, noised
    summary = {name: reliability(x[..., [0, k]]) for k, name in ((1, "shift"), (2, "noise"))}
    for name, by in flips.items():
        summary[name]["changed_by_attribute"] = {k: float(np.mean(v)) for k, v in by.items()}
    summary["seconds"] = round(time.monotonic() - t0, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({"settings": {**vars(args), "noise_levels": NOISE_LEVELS},
                                                 "summary": summary, "overall": x.tolist()}, indent=1))
    plot(x, summary, out / "reliability.png", f"{x.shape[1]} candidates x {x.shape[0]} prompts of {run.name}")
    print(json.dumps(summary, indent=1))


def plot(x: np.ndarray, summary: dict, path: Path, title: str) -> None:
    """Each candidate's overall, centred per prompt, against its perturbed copy's; and the plain
    candidate, the oracle and the oracles picking by a perturbed copy."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    fig.subplots_adjust(wspace=0.35)
    c = x - x.mean(1, keepdims=True)
    rng = np.random.default_rng(0)
    for ax, k, name in ((axes[0], 1, "shift"), (axes[1], 2, "noise")):
        jitter = rng.uniform(-0.01, 0.01, (2, c[..., 0].size))  # many verdicts coincide
        ax.scatter(c[..., 0].ravel() + jitter[0], c[..., k].ravel() + jitter[1], s=8, alpha=0.5)
        ax.set_xlabel("overall - prompt mean, as evaluated")
        ax.set_ylabel(f"overall - prompt mean, {name}")
        s = summary[name]
        ax.set_title(f"{name}: r = {s['within_prompt_r']:.2f}, {100 * s['changed']:.0f}% changed")
    names = ["plain", "oracle", "oracle by\nshifted", "oracle by\nnoised"]
    values = [summary["shift"]["plain"], summary["shift"]["oracle"], summary["shift"]["oracle_by_perturbed"],
              summary["noise"]["oracle_by_perturbed"]]
    axes[2].bar(names, values, color=["gray", "tab:red", "tab:blue", "tab:blue"])
    for i, v in enumerate(values):
        axes[2].text(i, v + 0.005, f"{v:.3f}", ha="center")
    axes[2].set_ylim(min(values) - 0.1, max(values) + 0.05)
    axes[2].set_ylabel("overall adherence (as evaluated)")
    fig.suptitle(title)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
