"""Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself") on
the shipped model, scored by `kinema eval`: a one-off experiment, not a pipeline option.

Each step's velocity is the model's classifier-free guided one plus `weight` times the
difference between its conditional velocity and a weaker DiT's on the same latents (an earlier
version of the same model):

    v = v_uncond + g (v_cond - v_uncond) + weight (v_cond - v_bad_cond)

a third DiT pass per step. Run:
    python docs/eval/autoguidance/autoguidance_eval.py --bad runs/model-second --weight 1 \
        --out runs/eval-ag1 [--t-min 0.0] [--num 200]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from kinema import flow
from kinema.eval.clip import DEFAULT_CLIP_DIR
from kinema.eval.run import evaluate_model
from kinema.export import same_latents
from kinema.pipeline import KinemaPipeline


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bad", required=True, help="model folder whose DiT is the weaker guide (same latents)")
    p.add_argument("--weight", type=float, default=1.0, help="autoguidance weight (0: plain sampling)")
    p.add_argument("--t-min", type=float, default=0.0, help="autoguide only steps that start above this t")
    p.add_argument("--model", default=None, help="the model to sample (default: the shipped one)")
    p.add_argument("--out", required=True)
    p.add_argument("--num", type=int, default=200)
    p.add_argument("--split", default="id")
    a = p.parse_args()

    bad = KinemaPipeline.from_pretrained(a.bad)
    if not same_latents(bad.vae, KinemaPipeline.from_pretrained(a.model).vae):
        raise SystemExit(f"{a.bad} was trained on other latents")

    def velocity_with_autoguidance(self, req):
        text, mask = self._guidance_text(req, self.null_text)
        fps = torch.full((2,), req.fps)

        def velocity(x, t):
            with self._autocast():
                v = self.dit(torch.cat([x, x]), torch.cat([t, t]), text, mask, fps).float()
            guided = flow.guided_velocity(v[:1], v[1:], req.guidance)
            if a.weight == 0 or float(t.max()) <= a.t_min:
                return guided
            with self._autocast():
                v_bad = bad.dit(x, t, text[:1], mask[:1], fps[:1]).float()
            return guided + a.weight * (v[:1] - v_bad)

        return velocity

    KinemaPipeline._velocity = velocity_with_autoguidance
    clip = DEFAULT_CLIP_DIR if DEFAULT_CLIP_DIR.is_dir() else None  # as `kinema eval`: FVD and video-text
    evaluate_model(a.model, a.out, split=a.split, num=a.num, clip_model=clip)
    path = Path(a.out) / "report.json"  # the settings name the guide, so `kinema eval --compare` shows it
    report = json.loads(path.read_text())
    report["settings"]["autoguidance"] = {"bad": a.bad, "weight": a.weight, "t_min": a.t_min}
    path.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
