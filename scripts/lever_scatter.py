"""Where several sampling options land against one baseline: a table and a scatter.

Each argument is LABEL=DIR, DIR a folder written by `kinema eval --compare BASELINE OPTION
--out DIR` (comparison.json), all against the same baseline. Prints a markdown table of the
paired differences (bold where the 95% interval excludes 0) and draws each option at its
difference in --x and --y, with both intervals as error bars: options that trade one figure for
the other fall along a line through the origin; one that wins sits above it.

    python scripts/lever_scatter.py --x flicker --y overall --out docs/eval/per-video-levers/scatter.png \
        "guidance 3=runs/cmp-g3" "refine 0.9=runs/cmp-refine"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kinema.plots import pyplot, save_figure

COLUMNS = ("overall", "main", "colour", "shape", "count", "motion", "motion_strict",
           "appears", "vanishes", "flicker", "count_stability", "size_drift")
WITH_CI = ("overall", "main")


def load(spec: str) -> tuple[str, dict, int]:
    label, sep, folder = spec.partition("=")
    if not sep or not label or not folder:
        raise SystemExit(f"expected LABEL=DIR, got {spec!r}")
    path = Path(folder) / "comparison.json"
    if not path.is_file():
        raise SystemExit(f"{path} not found: write it with `kinema eval --compare BASELINE OPTION --out {folder}`")
    splits = json.loads(path.read_text())["splits"]
    if len(splits) != 1:
        raise SystemExit(f"{path} holds splits {sorted(splits)}; compare one split per folder")
    split = next(iter(splits.values()))
    return label, split["scores"], split["pairs"]


def cell(s: dict, ci: bool) -> str:
    bold = "**" if s["lo"] > 0 or s["hi"] < 0 else ""
    text = f"{s['diff']:+.3f}" + (f" [{s['lo']:+.3f}, {s['hi']:+.3f}]" if ci else "")
    return f"{bold}{text}{bold}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("options", nargs="+", help="LABEL=DIR, DIR holding a comparison.json")
    ap.add_argument("--x", default="flicker", choices=COLUMNS)
    ap.add_argument("--y", default="overall", choices=COLUMNS)
    ap.add_argument("--out", help="scatter PNG")
    args = ap.parse_args()

    rows = [load(spec) for spec in args.options]
    first = rows[0][1]
    print("| option (pairs) | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    print("| baseline's mean | " + " | ".join(f"{first[c]['mean_a']:.3f}" for c in COLUMNS) + " |")
    for label, scores, pairs in rows:
        if any(abs(scores[c]["mean_a"] - first[c]["mean_a"]) > 1e-9 for c in ("overall", "flicker")):
            print(f"note: {label!r} has another baseline mean than the first option's (other prompts or baseline)")
        print(f"| {label} ({pairs}) | " + " | ".join(cell(scores[c], c in WITH_CI) for c in COLUMNS) + " |")

    if args.out:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 5))
        ax.axhline(0, color="0.7", lw=0.8)
        ax.axvline(0, color="0.7", lw=0.8)
        for i, (label, s, _) in enumerate(rows):
            x, y = s[args.x], s[args.y]
            ax.errorbar(x["diff"], y["diff"], xerr=[[x["diff"] - x["lo"]], [x["hi"] - x["diff"]]],
                        yerr=[[y["diff"] - y["lo"]], [y["hi"] - y["diff"]]], fmt="o", capsize=3)
            ax.annotate(label, (x["diff"], y["diff"]), textcoords="offset points", xytext=(6, 6 if i % 2 else -12), fontsize=8)
        ax.set_xlabel(f"{args.x}: option - baseline (95% CI)")
        ax.set_ylabel(f"{args.y}: option - baseline (95% CI)")
        ax.set_title("sampling options, paired against the same baseline")
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        print(f"wrote {save_figure(fig, args.out)}")


if __name__ == "__main__":
    main()
