"""Judge another verifier on the candidates a headroom run kept, without regenerating them.

`scripts/search_headroom.py --save-clips` writes every candidate's frames and its evaluation;
this script scores the same candidates with another verifier, so the plain candidate, the
oracles and the evaluation's figures stay those of that run and only the verifier's pick
changes:

    python scripts/rescore_candidates.py runs/headroom --verifier attributes [--path runs/attributes] --out runs/x

Writes OUT/report.json (the headroom report with this verifier's scores and summary, including
its pick against the plain candidate paired by prompt) and OUT/headroom.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from search_headroom import plot_headroom, summarise
from tqdm.auto import tqdm

from kinema.search import VERIFIERS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a folder written by search_headroom.py --save-clips")
    ap.add_argument("--verifier", choices=sorted(VERIFIERS), required=True)
    ap.add_argument("--path", default=None, help="the verifier's model folder (default: the shipped one)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    run, out = Path(args.run), Path(args.out)
    report = json.loads((run / "report.json").read_text())
    if not (run / "clips").is_dir():
        ap.error(f"{run} has no clips/; rerun search_headroom.py with --save-clips")
    verify = VERIFIERS[args.verifier](args.path)
    records, t0 = report["prompts"], time.monotonic()
    for r in tqdm(records, desc="prompts", unit="prompt"):
        clips = [np.load(run / "clips" / f"{r['index']:04d}_{j}.npy") for j in range(len(r["candidates"]))]
        for c, v in zip(r["candidates"], verify(clips, r["prompt"])):
            c["verifier"] = float(v)
    n = len(records[0]["candidates"])
    summary = summarise(records, n)
    summary["seconds"] = round(time.monotonic() - t0, 1)
    out.mkdir(parents=True, exist_ok=True)
    settings = {**report["settings"], "verifier": args.verifier, "verifier_path": args.path, "candidates_from": str(run)}
    (out / "report.json").write_text(json.dumps({"settings": settings, "summary": summary, "prompts": records},
                                                indent=1))
    plot_headroom(records, summary, out / "headroom.png",
                  f"{args.verifier} verifier: {n} candidates x {len(records)} id prompts")
    print(json.dumps({k: summary[k] for k in ("plain", "verifier", "oracle_overall", "within_prompt_correlation",
                                                "verifier_minus_plain", "verifier_kept_plain")}, indent=1))


if __name__ == "__main__":
    main()
