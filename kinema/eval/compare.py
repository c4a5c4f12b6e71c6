"""Is model B better than model A? Paired differences between two evaluation reports.

Two runs of `kinema eval` with the same split, prompts and seeds score the same (prompt, seed)
pairs, so their difference is measured per pair: the mean of B - A over pairs, with a paired
percentile bootstrap interval (the pairs are resampled, not the two runs separately). Pairing
removes the prompt-to-prompt spread that both runs share, which is most of it: two models
whose unpaired intervals overlap can still differ clearly.

    kinema eval --compare runs/eval-a runs/eval-b --out runs/a-vs-b
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from kinema.eval.report import ADHERENCE_KEYS, _table, objects_asked
from kinema.eval.stats import bootstrap_ci
from kinema.plots import pyplot, save_figure

# consistency scores compared beside adherence (higher is better for the first two, lower for the rest)
CONSISTENCY_KEYS = ("permanence", "count_stability", "appears", "vanishes", "size_drift", "flicker")


def paired_difference(a, b, *, num: int = 1000, alpha: float = 0.05, seed: int = 0) -> dict:
    """Mean of b - a over pairs and its paired percentile bootstrap (1 - alpha) interval.

    a, b: (N,) scores of the same N items; pairs where either is NaN are dropped. Resamples
    are drawn as in stats.bootstrap_ci, so the interval is reproducible.
    Returns {"mean_a", "mean_b", "diff", "lo", "hi", "n"}.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired scores need one value per pair on both sides, got {len(a)} and {len(b)}")
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) == 0:
        raise ValueError("no pair has a finite score on both sides")
    diff, lo, hi = bootstrap_ci(b - a, num=num, alpha=alpha, seed=seed)  # resampling pairs
    return {"mean_a": float(a.mean()), "mean_b": float(b.mean()), "diff": diff, "lo": lo, "hi": hi, "n": int(len(a))}


def load_report(path: str | os.PathLike) -> dict:
    """A report.json, or the folder `kinema eval --out` wrote it into."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    if not p.is_file():
        raise FileNotFoundError(f"no evaluation report at {p}; pass a report.json or the --out folder of `kinema eval`")
    return json.loads(p.read_text())


def _score(rec: dict, key: str) -> float:
    s = rec["scores"]
    if "error" in s:
        return math.nan
    section = s.get("adherence", {}) if key in ADHERENCE_KEYS else s.get("consistency", {})
    v = section.get(key)
    return math.nan if v is None else float(v)


def _where(where: str) -> tuple[str, bool]:
    """compare_reports' prompt filter -> (text, keep): keep the prompts that contain text when
    keep is True, those that do not when a leading "!" made it False."""
    return (where[1:], False) if where.startswith("!") else (where, True)


def compare_reports(report_a: dict, report_b: dict, *, row: str = "model", where: str | None = None,
                    from_index: int = 0, objects: int | None = None) -> dict:
    """Paired differences B - A of one row (model, vae, ceiling, baseline) of two reports.

    Samples are paired by (index, seed) within each split both reports hold; a pair whose
    prompts differ means the reports were not made with the same prompts, an error, and so is a
    model row whose starting noise the two reports seeded differently (settings "noise").
    where: keep only the pairs whose prompt contains this text (case-insensitive), or with a
    leading "!" only those whose prompt does not ("camera", "!camera": prompts that name the
    camera and those that do not). from_index: keep only prompts from this index on, e.g. the
    second half of 200 when the first 100 chose the settings being compared (a held-out check).
    objects: keep only the prompts that ask for this many objects (report.objects_asked).
    Returns {"a", "b", "row", "where", "from_index", "objects", "settings", "splits": {split:
    {"pairs": n, "scores": {key: paired_difference}}}} for every adherence key and the
    CONSISTENCY_KEYS that have at least one finite pair.
    """
    noise = [(rep.get("settings") or {}).get("noise", "one per seed") for rep in (report_a, report_b)]
    if row == "model" and noise[0] != noise[1]:
        raise ValueError(f"the reports drew the model's starting noise differently ({noise[0]} in A, {noise[1]} "
                         "in B), so a pair shares its prompt but not its noise; evaluate both with the same "
                         "version of `kinema eval` (reports before 2026-12-07 gave every prompt one noise per seed)")
    common = [s for s in report_a["splits"] if s in report_b["splits"]]
    if not common:
        raise ValueError(f"the reports share no split: {sorted(report_a['splits'])} vs {sorted(report_b['splits'])}")
    out = {"a": report_a.get("model"), "b": report_b.get("model"), "row": row, "where": where, "from_index": from_index,
           "objects": objects,
           "settings": {"a": report_a.get("settings"), "b": report_b.get("settings")}, "splits": {}}
    for s in common:
        recs = []
        for rep in (report_a, report_b):
            samples = rep["splits"][s]["samples"]
            if row not in samples:
                raise ValueError(f"row {row!r} is not in the reports; choose one of {', '.join(samples)}")
            recs.append({(r["index"], r["seed"]): r for r in samples[row]})
        keys = sorted(set(recs[0]) & set(recs[1]))
        if not keys:
            raise ValueError(f"split {s}: no (prompt index, seed) in both reports")
        for k in keys:
            if recs[0][k]["prompt"] != recs[1][k]["prompt"]:
                raise ValueError(f"split {s}, prompt {k[0]} seed {k[1]}: the reports scored different prompts "
                                 f"({recs[0][k]['prompt']!r} vs {recs[1][k]['prompt']!r})")
        keys = [k for k in keys if k[0] >= from_index]
        if not keys:
            raise ValueError(f"split {s}: no prompt index is at least {from_index}")
        if where:
            text, keep = _where(where)
            keys = [k for k in keys if (text.lower() in recs[0][k]["prompt"].lower()) == keep]
            if not keys:
                raise ValueError(f"split {s}: no pair's prompt {'lacks' if not keep else 'contains'} {text!r}")
        if objects is not None:
            keys = [k for k in keys if objects_asked(recs[0][k]["prompt"]) == objects]
            if not keys:
                raise ValueError(f"split {s}: no pair's prompt asks for {objects} object(s)")
        scores = {}
        for key in (*ADHERENCE_KEYS, *CONSISTENCY_KEYS):
            a = [_score(recs[0][k], key) for k in keys]
            b = [_score(recs[1][k], key) for k in keys]
            if any(math.isfinite(x) and math.isfinite(y) for x, y in zip(a, b)):
                scores[key] = paired_difference(a, b)
        out["splits"][s] = {"pairs": len(keys), "distinct_prompts": len({recs[0][k]["prompt"] for k in keys}),
                            "scores": scores}
    return out


def comparison_markdown(result: dict) -> str:
    subset = ""
    if result.get("where"):
        text, keep = _where(result["where"])
        subset = f", prompts {'with' if keep else 'without'} {text!r}"
    if result.get("from_index"):
        subset += f", prompts from index {result['from_index']} on"
    if result.get("objects") is not None:
        subset += f", prompts asking for {result['objects']} object(s)"
    lines = [f"# {result['b']} (B) vs {result['a']} (A), row {result['row']}{subset}", "",
             "Paired over the same (prompt, seed): B - A with a 95% paired bootstrap interval. "
             "An interval that excludes 0 is a difference; one that holds it is a tie at this N.", ""]
    differ = settings_that_differ(result.get("settings") or {})
    if differ:
        lines += ["Settings that differ: " + "; ".join(f"{k} {a} (A), {b} (B)" for k, (a, b) in differ.items())
                  + ".", ""]
    for s, res in result["splits"].items():
        rows = [[key, f"{d['mean_a']:.3f}", f"{d['mean_b']:.3f}", f"{d['diff']:+.3f}",
                 f"[{d['lo']:+.3f}, {d['hi']:+.3f}]", str(d["n"])] for key, d in res["scores"].items()]
        distinct = res["distinct_prompts"]
        heading = f"## {s} ({res['pairs']} pairs" + (f", {distinct} distinct prompts)" if distinct < res["pairs"] else ")")
        lines += [heading, "", _table(["score", "A", "B", "B - A", "95% CI", "n"], rows), ""]
    return "\n".join(lines)


def settings_that_differ(settings: dict) -> dict:
    """{key: (value in A, value in B)} for each report setting the two runs differ in ("-" where
    one has none), leaving out the wall time."""
    a, b = settings.get("a") or {}, settings.get("b") or {}
    return {k: (a.get(k, "-"), b.get(k, "-")) for k in sorted(set(a) | set(b))
            if k != "seconds_taken" and a.get(k, "-") != b.get(k, "-")}


def plot_comparison(result: dict, path: str | os.PathLike) -> Path:
    """B - A per adherence score and split, with its interval: green when B is better beyond
    the interval, red when worse, grey for a tie."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    splits = list(result["splits"])
    fig, axes = plt.subplots(1, len(splits), figsize=(5 * len(splits), 4), squeeze=False)
    for ax, s in zip(axes[0], splits):
        scores = {k: v for k, v in result["splits"][s]["scores"].items() if k in ADHERENCE_KEYS}
        names = list(scores)[::-1]
        y = np.arange(len(names))
        for i, k in enumerate(names):
            d = scores[k]
            colour = "tab:green" if d["lo"] > 0 else "tab:red" if d["hi"] < 0 else "tab:grey"
            ax.errorbar(d["diff"], i, xerr=[[d["diff"] - d["lo"]], [d["hi"] - d["diff"]]], fmt="o", color=colour, capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, names)
        ax.xaxis.set_major_locator(MaxNLocator(5))  # few enough ticks that their labels never overlap
        ax.set_xlabel("B - A (adherence)")
        ax.set_title(f"{s}: {result['splits'][s]['pairs']} pairs")
    differ = settings_that_differ(result.get("settings") or {})
    title = f"B: {result['b']}  vs  A: {result['a']}"
    if differ:  # two runs of one model differ only here
        title += "\n" + "; ".join(f"{k} {b} (B), {a} (A)" for k, (a, b) in differ.items())
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def write_comparison(result: dict, out_dir: str | os.PathLike) -> tuple[Path, Path, Path]:
    """comparison.json, comparison.md and comparison.png in out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    j, m = out / "comparison.json", out / "comparison.md"
    j.write_text(json.dumps(result, indent=2))
    m.write_text(comparison_markdown(result))
    return j, m, plot_comparison(result, out / "comparison.png")
