"""Variance guidance (FlowMo, Shaulov et al. 2025) on the first sampling steps, scored by `kinema eval`.

    python scripts/variance_guidance_probe.py --steps 3 --iters 3 --lr 0.005 --num 50 --out runs/vg
    kinema eval --compare runs/eval-shipped runs/vg --out runs/vg/vs-plain

The question it answers: the shipped model's objects flicker, and the flicker is born in the
first sampling steps (MODEL_CARD, "Where the flicker begins"); does nudging those steps' samples
towards a temporally coherent clean prediction steady the objects without costing adherence?
On each of the first `--steps` steps, before the step is taken, `--iters` Adam steps (learning
rate `--lr`) move the sample x_t down the gradient of FlowMo's incoherence: the clean prediction
x0 = x_t - t v(x_t) (guided velocity, as sampled), its frame-to-frame change |x0[f+1] - x0[f]|,
that change's variance over the latent frames, averaged over channels, at the latent position
where it is largest (`--score flowmo`), or a score blind to motion: how much each latent
frame's per-channel spatial mean and standard deviation drift over time (`--score moments`),
which an object that moves leaves alone and one that appears or vanishes does not. The step is
then taken from the moved sample with the velocity of the unmoved one, as FlowMo's code does.

An experiment, not a sampler setting: it wraps the pipeline's velocity for the duration of one
`evaluate_model` run (Euler only: the step is applied through the velocity that the solver
multiplies by dt). The report's settings name it (`variance_guidance`), so `--compare` shows it.
"""

from __future__ import annotations

import argparse
import contextlib

import torch

from kinema import flow
from kinema.eval.clip import DEFAULT_CLIP_DIR
from kinema.eval.report import write_report
from kinema.eval.run import evaluate_model
from kinema.pipeline import KinemaPipeline


def incoherence(x0: torch.Tensor) -> torch.Tensor:
    """FlowMo's score of a clean prediction (B, C, T, H, W), T >= 3: the largest, over latent
    positions (and the batch), of the channel-mean variance over time of |x0[t+1] - x0[t]|."""
    change = (x0[:, :, 1:] - x0[:, :, :-1]).abs()  # (B, C, T-1, H, W)
    return change.var(dim=2, unbiased=False).mean(dim=1).amax()


def moment_drift(x0: torch.Tensor) -> torch.Tensor:
    """A score blind to motion: the variance over time of each latent frame's per-channel spatial
    mean and standard deviation, summed over channels. An object that moves keeps its frame's
    moments (away from the edges); one that appears, vanishes or splits changes them."""
    mean, std = x0.mean(dim=(-2, -1)), x0.std(dim=(-2, -1))  # (B, C, T) each
    return (mean.var(dim=2, unbiased=False) + std.var(dim=2, unbiased=False)).sum(dim=1).mean()


SCORES = {"flowmo": incoherence, "moments": moment_drift}


@contextlib.contextmanager
def variance_guidance(steps: int, iters: int, lr: float, score=incoherence):
    """Within the block, every KinemaPipeline samples with variance guidance on its first steps."""
    plain = KinemaPipeline._velocity

    def guided(self: KinemaPipeline, req) -> flow.VelocityFn:
        velocity = plain(self, req)
        if self.config.sampler != "euler":
            raise ValueError("variance guidance is applied through the Euler step; use --sampler euler")
        self.dit.requires_grad_(False)  # gradients flow to the sample only
        ts = [float(t) for t in flow.timesteps(req.steps, shift=self.config.shift)]

        def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            level = float(t.max())  # exactly ts[i] at step i of a window drawn from noise
            if level not in ts[:steps] or x.shape[2] < 3:
                return velocity(x, t)
            i = ts.index(level)
            with torch.no_grad():
                v0 = velocity(x, t)
            moved = x.detach().clone().requires_grad_(True)
            opt = torch.optim.Adam([moved], lr=lr)
            with torch.enable_grad():
                for _ in range(iters):
                    opt.zero_grad()
                    x0 = moved - t[:, None, :, None, None] * velocity(moved, t)
                    score(x0).backward()
                    opt.step()
            # the Euler step x + dt v_eff lands where moved + dt v0 does
            return v0 + (moved.detach() - x) / (ts[i + 1] - ts[i])

        return v

    KinemaPipeline._velocity = guided
    try:
        yield
    finally:
        KinemaPipeline._velocity = plain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--split", default="id", choices=["id", "ood", "combo"])
    ap.add_argument("--num", type=int, default=50, help="prompts, from --from-index on")
    ap.add_argument("--from-index", type=int, default=0, help="first prompt index (50: a held-out check of 0-49)")
    ap.add_argument("--steps", type=int, default=3, help="guided steps, from the first")
    ap.add_argument("--iters", type=int, default=3, help="Adam steps on the sample per guided step")
    ap.add_argument("--lr", type=float, default=0.005, help="Adam learning rate")
    ap.add_argument("--score", default="flowmo", choices=sorted(SCORES),
                    help="flowmo: FlowMo's patch variance of frame changes; moments: drift of each frame's channel moments")
    ap.add_argument("--out", required=True, help="folder for the report and videos")
    args = ap.parse_args()
    clip = str(DEFAULT_CLIP_DIR) if DEFAULT_CLIP_DIR.is_dir() else None  # as `kinema eval`: video-text score, FVD
    with variance_guidance(args.steps, args.iters, args.lr, SCORES[args.score]):
        report = evaluate_model(args.model, args.out, split=args.split, num=args.num,
                                from_index=args.from_index, clip_model=clip)
    report["settings"]["variance_guidance"] = f"steps={args.steps} iters={args.iters} lr={args.lr:g}" + (
        "" if args.score == "flowmo" else f" score={args.score}")
    write_report(report, args.out)


if __name__ == "__main__":
    main()
