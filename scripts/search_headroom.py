"""How much could a search over starting noise win, and does the verifier see it?

For each `id` prompt the model draws N candidates from N noises (seeded as `kinema eval` seeds
its videos, kinema.eval.run.noise_seed; --one-noise: every prompt at seed 0, as evaluations did
before 2026-12-07, so candidate j starts from the same noise for every prompt), the first being
the plain call's (KinemaPipeline with config.candidates = N, chosen after the last
step), and every candidate is scored twice: by the verifier (--verifier: the video-text model's
similarity to the prompt by default, or the attribute reader's expected adherence) and by the
evaluation (kinema.eval.evaluate_video).
Per prompt that gives the plain candidate, the verifier's pick, and the best candidate by the
evaluation's own overall adherence and by `main`: an oracle, the most any verifier could reach
at this N, not a sampler (it selects on the score it is judged by).

    python scripts/search_headroom.py --num 50 --candidates 4 --out docs/eval/search/headroom [--one-noise]

Writes report.json (every candidate's scores, and the summary) and headroom.png (within-prompt
verifier score against adherence: a verifier that sees adherence draws a rising cloud); with
--save-clips, every candidate's frames too (scripts/rescore_candidates.py judges other verifiers
on them).
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
from kinema.eval.run import EVAL_SECONDS, noise_seed
from kinema.pipeline import KinemaPipeline
from kinema.plots import pyplot, save_figure
from kinema.search import VERIFIERS
from kinema.world.splits import sample_prompt

SCORES = ("overall", "main", "colour", "shape", "count", "motion")
KEYS = (*SCORES, "verifier", "flicker")


def nanmean(values) -> float:
    """Mean of the scores that exist (an attribute the prompt does not ask for is None)."""
    return float(np.nanmean([np.nan if v is None else v for v in values]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped one)")
    ap.add_argument("--num", type=int, default=50, help="id prompts, from index --from-index")
    ap.add_argument("--from-index", type=int, default=0)
    ap.add_argument("--candidates", type=int, default=4)
    ap.add_argument("--one-noise", action="store_true",
                    help="every prompt at seed 0 (one noise per candidate index), as evaluations before 2026-12-07")
    ap.add_argument("--verifier", choices=sorted(VERIFIERS), default="clip", help="what scores the candidates")
    ap.add_argument("--out", required=True)
    ap.add_argument("--save-clips", action="store_true",
                    help="also write every candidate's frames to OUT/clips/INDEX_J.npy (uint8, (T, H, W, 3)), "
                         "so other verifiers can be judged on the same candidates without regenerating them")
    args = ap.parse_args()
    if args.num < 1 or args.candidates < 2:
        ap.error("need --num >= 1 and --candidates >= 2")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    pipe = KinemaPipeline.from_pretrained(args.model)
    pipe.config = pipe.config.override(candidates=args.candidates, select_step=0)
    verify, shown = VERIFIERS[args.verifier](), []

    def recording(clips, prompt):  # the verifier, keeping every candidate it judges
        scores = verify(clips, prompt)
        shown.append((list(clips), scores))
        return scores

    pipe.verifier = recording
    records, t0 = [], time.monotonic()
    for i in tqdm(range(args.from_index, args.from_index + args.num), desc="prompts", unit="prompt"):
        prompt = sample_prompt("id", i)
        shown.clear()
        pipe(prompt, seconds=EVAL_SECONDS, seed=0 if args.one_noise else noise_seed("id", i, 0))
        (clips, verifier_scores), = shown  # a 2-s clip is one window
        cands = []
        for j, (clip, v) in enumerate(zip(clips, verifier_scores)):
            if args.save_clips:
                (out / "clips").mkdir(exist_ok=True)
                np.save(out / "clips" / f"{i:04d}_{j}.npy", np.asarray(clip, dtype=np.uint8))
            r = evaluate_video(clip, pipe.config.fps, prompt)
            cands.append({"verifier": float(v), **{k: r["adherence"].get(k) for k in SCORES},
                          "flicker": r["consistency"]["flicker"]})
        records.append({"index": i, "prompt": prompt, "candidates": cands})

    summary = summarise(records, args.candidates)
    summary["seconds"] = round(time.monotonic() - t0, 1)
    (out / "report.json").write_text(json.dumps({"settings": {**vars(args), "fps": pipe.config.fps}, "summary": summary,
                                                 "prompts": records}, indent=1))
    plot_headroom(records, summary, out / "headroom.png", f"{args.candidates} candidates x {args.num} id prompts")
    print(json.dumps(summary, indent=1))


def pick(rec: dict, key: str) -> int:
    """The candidate with the highest `key` (None counts as -1; ties: the earliest)."""
    c = rec["candidates"]
    return max(range(len(c)), key=lambda j: (c[j][key] if c[j][key] is not None else -1, -j))


def centred(records: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate's verifier score, overall and main, each less its prompt's mean."""
    dv, do, dm = [], [], []
    for r in records:
        v = np.array([c["verifier"] for c in r["candidates"]])
        o = np.array([c["overall"] for c in r["candidates"]], float)
        m = np.array([np.nan if c["main"] is None else c["main"] for c in r["candidates"]], float)
        dv += list(v - v.mean()); do += list(o - o.mean()); dm += list(m - np.nanmean(m))
    return tuple(map(np.array, (dv, do, dm)))


def summarise(records: list[dict], candidates: int) -> dict:
    """Mean figures of the plain candidate, the verifier's pick, the oracles and all candidates;
    per candidate index; the within-prompt correlation of the verifier with the evaluation; and
    the verifier's pick against the plain candidate, paired by prompt, with 95% intervals."""
    picks = {"plain": lambda r: 0, "verifier": lambda r: pick(r, "verifier"),
             "oracle_overall": lambda r: pick(r, "overall"), "oracle_main": lambda r: pick(r, "main")}
    summary = {}
    for name, fn in picks.items():
        chosen = [r["candidates"][fn(r)] for r in records]
        summary[name] = {k: nanmean(c[k] for c in chosen) for k in KEYS}
    summary["mean_candidate"] = {k: nanmean(c[k] for r in records for c in r["candidates"]) for k in KEYS}
    summary["by_candidate"] = [{k: nanmean(r["candidates"][j][k] for r in records) for k in KEYS}
                               for j in range(candidates)]
    dv, do, dm = centred(records)
    ok = ~np.isnan(dm)
    summary["within_prompt_correlation"] = {"overall": float(np.corrcoef(dv, do)[0, 1]),
                                            "main": float(np.corrcoef(dv[ok], dm[ok])[0, 1])}
    paired = {}
    for k in (*SCORES, "flicker"):
        d = [(r["candidates"][pick(r, "verifier")][k], r["candidates"][0][k]) for r in records]
        d = [a - b for a, b in d if a is not None and b is not None]
        if d:
            mean, lo, hi = bootstrap_ci(d)
            paired[k] = {"mean": mean, "ci95": [lo, hi], "n": len(d)}
    summary["verifier_minus_plain"] = paired
    summary["verifier_kept_plain"] = sum(pick(r, "verifier") == 0 for r in records)
    return summary


def plot_headroom(records: list[dict], summary: dict, path: Path, title: str) -> None:
    """Within-prompt verifier score against overall and main: a verifier that sees adherence
    draws a rising cloud."""
    dv, do, dm = centred(records)
    ok = ~np.isnan(dm)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, x, y, name in ((axes[0], dv, do, "overall"), (axes[1], dv[ok], dm[ok], "main")):
        ax.scatter(x, y, s=8, alpha=0.6)
        ax.axhline(0, color="gray", lw=0.5)
        ax.axvline(0, color="gray", lw=0.5)
        ax.set_xlabel("verifier score - prompt mean")
        ax.set_ylabel(f"{name} - prompt mean")
        ax.set_title(f"{name}: r = {summary['within_prompt_correlation'][name]:+.2f}")
    fig.suptitle(title)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
