"""Per-video scores -> the evaluation report: aggregates with bootstrap intervals, the
per-value bias audit, Markdown tables and plots.

A "row" is one source of videos scored against the same prompts: the model, the vae row
(the ceiling's video encoded and decoded by the model's VAE), the ceiling (the simulator's
own video of each prompt) and the baseline (an unrelated world clip per prompt). A record is
one scored video: {"prompt", "split", "seed", "scores": evaluate_video output or
{"error": str}, optionally "clip_score"}.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np

from kinema.eval.stats import bootstrap_ci
from kinema.plots import pyplot, save_figure
from kinema.world.prompts import parse_prompt

ADHERENCE_KEYS = ("overall", "count", "colour", "shape", "size", "motion", "direction", "camera", "background",
                  "motion_strict", "main")  # motion_strict and main are not part of overall (score_adherence)
AUDITED = ("colour", "shape", "size")  # attributes whose every value should be equally well rendered
BIAS_TARGET = 0.05  # every value's accuracy within 5 points of the attribute's mean
ROWS = ("model", "vae", "ceiling", "baseline")


def _ci(values) -> dict | None:
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return None
    mean, lo, hi = bootstrap_ci(v)
    return {"mean": mean, "lo": lo, "hi": hi, "n": int(len(v))}


def _numeric(section: dict) -> dict[str, float]:
    return {k: float(v) for k, v in section.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def per_value_accuracy(records: list[dict]) -> dict:
    """The bias audit: accuracy of each colour / shape / size value named in the prompts.

    A video's attribute score (the fraction of its prompt's objects that got it right) counts
    once for every value of that attribute its prompt names, so in a two-object prompt both
    values share the video's score. Returns {attr: {"values": {value: {"mean", "n"}}, "mean",
    "best", "worst", "spread", "max_gap", "within_target"}} with max_gap the largest
    |value - mean| and within_target max_gap <= BIAS_TARGET.
    """
    buckets: dict[str, dict[str, list[float]]] = {a: {} for a in AUDITED}
    for r in records:
        adh = r["scores"].get("adherence", {})
        for c in parse_prompt(r["prompt"]).objects:
            for a in AUDITED:
                value = getattr(c, a)
                if value is not None and a in adh:
                    buckets[a].setdefault(value, []).append(adh[a])
    out = {}
    for a, by_value in buckets.items():
        if not by_value:
            continue
        values = {v: {"mean": float(np.mean(s)), "n": len(s)} for v, s in sorted(by_value.items())}
        means = {v: d["mean"] for v, d in values.items()}
        overall = float(np.mean([x for s in by_value.values() for x in s]))
        best, worst = max(means, key=means.get), min(means, key=means.get)
        gap = max(abs(m - overall) for m in means.values())
        out[a] = {"values": values, "mean": overall, "best": best, "worst": worst,
                  "spread": means[best] - means[worst], "max_gap": gap, "within_target": gap <= BIAS_TARGET}
    return out


def objects_asked(prompt: str) -> int | None:
    """How many objects a prompt asks for ("two red balls and a box": 3); None if it parses to none."""
    with warnings.catch_warnings():  # unknown words were reported when the prompt was scored
        warnings.simplefilter("ignore")
        try:
            return sum(c.count for c in parse_prompt(prompt).objects) or None
        except ValueError:
            return None


def count_by_objects(records: list[dict]) -> dict:
    """Object count accuracy split by how many objects each prompt asks for.

    Returns {k: {"n", "count": ci, "tracks": median objects tracked}} with k the number asked
    (as a string, the report's JSON key). The median beside the accuracy tells the two ways a
    count fails apart: extra blobs (tracks above k) or objects lost or merged (below it).
    """
    groups: dict[int, list[dict]] = {}
    for r in records:
        k = objects_asked(r["prompt"])
        if k is not None and "count" in r["scores"].get("adherence", {}):
            groups.setdefault(k, []).append(r)
    out = {}
    for k, recs in sorted(groups.items()):
        tracks = [r["scores"]["num_tracks"] for r in recs if "num_tracks" in r["scores"]]
        out[str(k)] = {"n": len(recs), "count": _ci([r["scores"]["adherence"]["count"] for r in recs]),
                       "tracks": float(np.median(tracks)) if tracks else None}
    return out


def aggregate(records: list[dict]) -> dict:
    """Records of one row -> {"num", "errors", "adherence": {attr: ci}, "physics": {key: ci},
    "consistency": {key: ci}, "per_value": per_value_accuracy, "by_objects": count_by_objects,
    "clip_score": ci | None}.
    A ci is {"mean", "lo", "hi", "n"} (95% percentile bootstrap over videos)."""
    ok = [r for r in records if "error" not in r["scores"]]
    out: dict = {"num": len(records), "errors": len(records) - len(ok)}
    for section in ("adherence", "physics", "consistency"):
        keys = sorted({k for r in ok for k in _numeric(r["scores"][section])},
                      key=lambda k: (ADHERENCE_KEYS.index(k) if k in ADHERENCE_KEYS else 99, k))
        out[section] = {k: _ci([_numeric(r["scores"][section]).get(k) for r in ok]) for k in keys}
    # a video that could not be scored fails every attribute its prompt asks for
    if out["errors"]:
        fails = [0.0] * out["errors"]
        out["adherence"]["overall"] = _ci([r["scores"]["adherence"].get("overall") for r in ok] + fails)
    out["per_value"] = per_value_accuracy(ok)
    out["by_objects"] = count_by_objects(ok)
    out["clip_score"] = _ci([r.get("clip_score") for r in records])
    return out


# ----------------------------------------------------------------------------- text

def _fmt(ci: dict | None, digits: int = 3) -> str:
    if ci is None or not np.isfinite(ci["mean"]):
        return "–"
    return f"{ci['mean']:.{digits}f} [{ci['lo']:.{digits}f}, {ci['hi']:.{digits}f}]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def scores_table(scores: dict) -> str:
    """One video's evaluate_video output as an aligned plain-text table (for the terminal)."""
    lines = []
    for section in ("adherence", "physics", "consistency"):
        vals = _numeric(scores.get(section, {}))
        if not vals:
            continue
        lines.append(f"{section}:")
        for k, v in vals.items():
            lines.append(f"  {k:<22} {v:8.3f}" if math.isfinite(v) else f"  {k:<22} {'n/a':>8}")
    cam = scores.get("camera", {})
    lines.append(f"camera: {cam.get('kind', '?')}   background: {scores.get('background', '?')}   "
                 f"objects tracked: {scores.get('num_tracks', '?')}")
    return "\n".join(lines)


def split_markdown(split: str, rows: dict, extra: dict) -> str:
    """The Markdown section of one split: adherence, bias audit, physics, consistency, CLIP."""
    names = [r for r in ROWS if r in rows]
    md = [f"## Split `{split}`", ""]
    samples = next(iter((extra.get("samples") or {}).values()), [])
    if samples:
        asked = {r["index"]: r["prompt"] for r in samples}
        distinct = len(set(asked.values()))
        md += [f"{len(asked)} prompts, all distinct." if distinct == len(asked) else
               f"{len(asked)} prompts, {distinct} distinct: a prompt drawn again weighs in each mean as often "
               "as it was drawn (the model's videos of it start from other noise; the ceiling's is the same "
               "scene).", ""]
    attrs = [a for a in ADHERENCE_KEYS if any(a in rows[r]["adherence"] for r in names)]
    md += ["### Prompt adherence (mean [95% CI] over videos)", "",
           _table(["attribute"] + names, [[a] + [_fmt(rows[r]["adherence"].get(a)) for r in names] for a in attrs]),
           "", f"![adherence](adherence_{split}.png)", ""]
    counts = [[r, k, str(d["n"]), _fmt(d["count"]), "–" if d["tracks"] is None else f"{d['tracks']:g}"]
              for r in names for k, d in rows[r].get("by_objects", {}).items()]
    if counts:
        md += ["### Object count by the number of objects asked", "",
               _table(["row", "objects asked", "prompts", "count accuracy", "objects tracked (median)"], counts), ""]
    md += ["### Bias audit: accuracy per value (target: every value within "
           f"{BIAS_TARGET * 100:.0f} points of the attribute's mean)", ""]
    table = []
    for r in names:
        for a, d in rows[r]["per_value"].items():
            table.append([r, a, f"{d['mean']:.3f}", f"{d['best']} {d['values'][d['best']]['mean']:.2f}",
                          f"{d['worst']} {d['values'][d['worst']]['mean']:.2f}", f"{d['spread'] * 100:.1f}",
                          f"{d['max_gap'] * 100:.1f}", "yes" if d["within_target"] else "**no**"])
    md += [_table(["row", "attribute", "mean", "best", "worst", "spread (pts)", "max gap (pts)", "within target"],
                  table), "", f"![per-value accuracy](per_value_{split}.png)", ""]
    for section in ("physics", "consistency"):
        keys = sorted({k for r in names for k in rows[r][section]})
        md += [f"### {section.capitalize()}", "",
               _table(["metric"] + names, [[k] + [_fmt(rows[r][section].get(k)) for r in names] for k in keys]), ""]
    if any(rows[r].get("clip_score") for r in names) or extra.get("fvd"):
        md += ["### Video-text model", ""]
        fvd = extra.get("fvd", {})
        md += [_table(["row", "video-text score", f"FVD vs world clips (N={fvd.get('n', '–')})"],
                      [[r, _fmt(rows[r].get("clip_score")),
                        f"{fvd[r]:.2f}" if r in fvd else "–"] for r in names]), ""]
        if "floor" in fvd:
            md += [f"Real-vs-real floor (two disjoint sets of {fvd['n']} world clips): **{fvd['floor']:.2f}**.", ""]
    md += [f"Best samples of the model: ![best](best_{split}.png)", "",
           f"Worst samples of the model: ![worst](worst_{split}.png)", ""]
    return "\n".join(md)


# ----------------------------------------------------------------------------- plots

def plot_adherence(rows: dict, path: Path, title: str) -> None:
    """Grouped bars per attribute, one per row, with 95% CI whiskers."""
    plt = pyplot()
    names = [r for r in ROWS if r in rows]
    attrs = [a for a in ADHERENCE_KEYS if any(rows[r]["adherence"].get(a) for r in names)]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(attrs) + 2), 4))
    w = 0.8 / max(1, len(names))
    for j, r in enumerate(names):
        cis = [rows[r]["adherence"].get(a) for a in attrs]
        m = np.array([c["mean"] if c else np.nan for c in cis])
        err = np.array([[c["mean"] - c["lo"], c["hi"] - c["mean"]] if c else [0, 0] for c in cis]).T
        ax.bar(np.arange(len(attrs)) + (j - (len(names) - 1) / 2) * w, m, w, yerr=err, capsize=3, label=r)
    ax.set_xticks(np.arange(len(attrs)), attrs)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def plot_per_value(rows: dict, path: Path, title: str) -> None:
    """Per-value accuracy of each audited attribute (model, vae and ceiling), dashed: the model's mean."""
    plt = pyplot()
    names = [r for r in ("model", "vae", "ceiling") if r in rows]
    attrs = [a for a in AUDITED if any(a in rows[r]["per_value"] for r in names)]
    fig, axes = plt.subplots(1, max(1, len(attrs)), figsize=(4 * max(1, len(attrs)), 3.5), squeeze=False)
    for ax, a in zip(axes[0], attrs):
        values = sorted({v for r in names for v in rows[r]["per_value"].get(a, {}).get("values", {})})
        w = 0.8 / len(names)
        for j, r in enumerate(names):
            d = rows[r]["per_value"].get(a, {"values": {}})
            ax.bar(np.arange(len(values)) + (j - (len(names) - 1) / 2) * w,
                   [d["values"].get(v, {"mean": np.nan})["mean"] for v in values], w, label=r)
        if "model" in rows and a in rows["model"]["per_value"]:
            ax.axhline(rows["model"]["per_value"][a]["mean"], ls="--", c="k", lw=1)
        ax.set_xticks(np.arange(len(values)), values, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(a)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def write_report(report: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write out_dir/report.json and out_dir/report.md (+ the per-split plots); returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = ["# Kinema evaluation report", "",
          f"Model: `{report['model']}`. Settings: "
          + ", ".join(f"{k}={v}" for k, v in report["settings"].items()) + ".", "",
          "Rows: **model** (generated videos), **vae** (the ceiling's video encoded and decoded by the model's "
          "VAE: the best a DiT over these latents can score), **ceiling** (the simulator's own video of each "
          "prompt: what a perfect model would score under this parser), **baseline** (an unrelated world clip per prompt: "
          "what ignoring the prompt scores).", ""]
    for split, res in report["splits"].items():
        plot_adherence(res["rows"], out / f"adherence_{split}.png", f"prompt adherence, split {split}")
        plot_per_value(res["rows"], out / f"per_value_{split}.png", f"accuracy per value, split {split}")
        md.append(split_markdown(split, res["rows"], res))
    json_path, md_path = out / "report.json", out / "report.md"
    for path, text in ((json_path, json.dumps(report, indent=1, default=_json_default) + "\n"), (md_path, "\n".join(md))):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return json_path, md_path


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")
