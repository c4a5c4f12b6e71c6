"""How far from the model's own ODE solution does each sampler land, per DiT pass spent?

For the first NUM prompts of the evaluation's `id` split, each at its evaluation noise
(kinema.eval.run.noise_seed), generates the 2-s clip with a reference sampler at many steps (the
ODE the model defines, solved finely; Euler at 60 unless told) and with each sampler at each step count, and
reports the root-mean-square difference of the decoded frames from the reference in grey
levels, against the DiT passes each call spent (a heun step costs two). Guidance and the
schedule are the model's own. The error says how well a sampler solves the model's ODE, not
how good the video is: `kinema eval --sampler S --steps N` measures that.

    python scripts/solver_error.py --num 8 --out runs/solver-error [--model DIR]

Writes OUT/report.json and OUT/solver_error.png (error against DiT passes, one line per sampler).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from kinema.eval.run import EVAL_SECONDS, noise_seed
from kinema.plots import pyplot, save_figure
from kinema.world.splits import sample_prompt

SAMPLERS = {"euler": (8, 10, 12, 16, 20), "dpm++": (6, 8, 10, 12, 16), "heun": (5, 8, 10)}
PASSES_PER_STEP = {"euler": 1, "dpm++": 1, "heun": 2}


def passes(sampler: str, steps: int) -> int:
    """DiT calls (each a guided pair) of a sampler's run: heun's last step into t = 0 is one."""
    return steps * PASSES_PER_STEP[sampler] - (1 if sampler == "heun" else 0)


def plot(report: dict, path: Path) -> None:
    """Error against DiT passes, one line per sampler, both axes logarithmic."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for s in dict.fromkeys(r["sampler"] for r in report["rows"]):
        pts = [(r["passes"], r["rms_grey_levels"]) for r in report["rows"] if r["sampler"] == s]
        ax.plot(*zip(*pts), marker="o", label=s)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("DiT passes (guided pairs) per clip")
    ax.set_ylabel(f"RMS from {report['ref_sampler']}-{report['ref_steps']}, grey levels")
    ax.set_title(f"Solver error on the model's ODE ({report['num']} id prompts)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=8, help="prompts of the id split, from index 0")
    ap.add_argument("--ref-steps", type=int, default=60, help="steps of the reference solution")
    ap.add_argument("--ref-sampler", default="euler", choices=sorted(PASSES_PER_STEP),
                    help="sampler of the reference (its own error leans towards the samplers like it)")
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--replot", action="store_true", help="only draw OUT/solver_error.png again from OUT/report.json")
    args = ap.parse_args()
    if args.replot:
        plot(json.loads((args.out / "report.json").read_text()), args.out / "solver_error.png")
        return

    from kinema.pipeline import KinemaPipeline

    pipe = KinemaPipeline.from_pretrained(args.model)
    base = pipe.config
    runs = [(s, n) for s, counts in SAMPLERS.items() for n in counts]
    err = {f"{s}/{n}": [] for s, n in runs}
    start = time.perf_counter()
    for i in tqdm(range(args.num), desc="prompts", unit="prompt"):
        prompt = sample_prompt("id", i)
        seed = noise_seed("id", i, 0)

        def clip(sampler: str, steps: int) -> np.ndarray:
            pipe.config = base.override(sampler=sampler)
            return pipe(prompt, seconds=EVAL_SECONDS, seed=seed, num_inference_steps=steps).frames.astype(np.float64)

        ref = clip(args.ref_sampler, args.ref_steps)
        for s, n in runs:
            err[f"{s}/{n}"].append(float(np.sqrt(np.mean((clip(s, n) - ref) ** 2))))
    pipe.config = base

    rows = [{"sampler": s, "steps": n, "passes": passes(s, n), "rms_grey_levels": float(np.mean(err[f"{s}/{n}"])),
             "per_prompt": err[f"{s}/{n}"]} for s, n in runs]
    report = {"num": args.num, "ref_sampler": args.ref_sampler, "ref_steps": args.ref_steps, "shift": base.shift,
              "guidance_scale": base.guidance_scale, "model": args.model or "default",
              "wall_s": round(time.perf_counter() - start, 1), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")

    plot(report, args.out / "solver_error.png")
    for r in rows:
        print(f"{r['sampler']:>6} {r['steps']:3d} steps ({r['passes']:3d} passes): {r['rms_grey_levels']:.2f} grey levels")
    print(f"wrote {args.out / 'report.json'} and {args.out / 'solver_error.png'} in {report['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
