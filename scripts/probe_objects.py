"""How much does each block of a DiT know about the objects of a clip? Probes on frozen features.

For every block k, an ObjectHead (kinema.models.objects) is trained on the frozen DiT's residual
stream after block k to predict the simulator's object maps (kinema.world.labels) of world clips
noised to a random t; then each probe is scored on held-out clips at fixed noise levels. The
score is object_loss without its 1 - t weighting: the KL (nats per latent cell, the mean of the
colour and shape groups) between the maps and the probe's prediction; 0 = every cell's colour
and shape read exactly, "uniform" = a probe that learnt only the class frequencies.

    python scripts/probe_objects.py --model kinema/assets/default --cache runs/latents4 --out runs/probe

The cache is a DiT run's latent cache with its object maps (`kinema train dit ... --set
object_weight=...` builds both; kinema.data.build_object_cache adds the maps to any cache of
world clips). Writes probe.json and probe.png (KL by block, one line per noise level).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from kinema import flow, precision
from kinema.data import LatentDataset, collate
from kinema.models.objects import ObjectHead, object_loss
from kinema.models.vae import latents_to_dit
from kinema.pipeline import KinemaPipeline
from kinema.plots import pyplot, save_figure

T_EVAL = (0.0, 0.25, 0.5, 0.75, 0.9)


def features(pipe, batch, t_value: float | None, gen: torch.Generator):
    """Frozen DiT features after every block for one batch: ([(B, T, S, D)] * depth, maps, grid)."""
    x0 = latents_to_dit(batch["latents"].float(), pipe.vae.cfg)
    B, C, T, H, W = x0.shape
    t = torch.rand(B, 1, generator=gen).expand(B, T) if t_value is None else torch.full((B, T), t_value)
    x_t = flow.interpolate(x0, torch.randn(x0.shape, generator=gen), t)
    text, mask = pipe.text_encoder.encode(list(batch["caption"]))
    fps = torch.as_tensor(batch["fps"], dtype=torch.float32)
    out = []
    hooks = [blk.register_forward_hook(lambda m, i, o: out.append(o[0].float())) for blk in pipe.dit.blocks]
    try:
        with torch.no_grad(), precision.autocast("cpu"):
            pipe.dit(x_t, t, text, mask, fps)
    finally:
        for h in hooks:
            h.remove()
    _, ph, pw = pipe.dit.cfg.patch_size
    return out, batch["objects"], t, (T, H // ph, W // pw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--cache", required=True, help="latent cache with object maps, made with this model's VAE")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=150, help="probe training steps (batch 8, one frozen forward each)")
    ap.add_argument("--held-out", type=int, default=48, help="clips kept out of probe training, scored at each t")
    args = ap.parse_args()

    pipe = KinemaPipeline.from_pretrained(args.model)
    pipe.dit.eval().requires_grad_(False)
    data = LatentDataset(args.cache, caption_dropout=0.0, objects=True)
    # one bucket (the 128x128 16-fps clips, the most common) so batches stack; the last clips held out
    key = max(set(data.bucket_keys), key=data.bucket_keys.count)
    idx = [i for i, k in enumerate(data.bucket_keys) if k == key]
    train_idx, test_idx = idx[: -args.held_out], idx[-args.held_out :]
    D, depth = pipe.dit.cfg.hidden_size, pipe.dit.cfg.depth
    heads = torch.nn.ModuleList(ObjectHead(D, pipe.dit.cfg.patch_size) for _ in range(depth))
    opt = torch.optim.AdamW(heads.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    t0 = time.monotonic()
    for step in range(args.steps):
        pick = torch.randint(len(train_idx), (8,), generator=gen).tolist()
        feats, maps, t, grid = features(pipe, collate([data[train_idx[i]] for i in pick]), None, gen)
        loss = sum(object_loss(head(f, grid), maps, t * 0) for head, f in zip(heads, feats))  # unweighted
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 25 == 0:
            print(f"step {step + 1}/{args.steps} | mean probe KL {loss.item() / depth:.3f} | "
                  f"{time.monotonic() - t0:.0f} s", flush=True)

    result = {"model": str(args.model or "shipped"), "cache": args.cache, "steps": args.steps,
              "held_out": len(test_idx), "bucket": list(key), "kl": {}}
    heads.eval()
    with torch.no_grad():
        for tv in T_EVAL:
            g = torch.Generator().manual_seed(1)
            sums = torch.zeros(depth)
            for s in range(0, len(test_idx), 8):
                feats, maps, t, grid = features(pipe, collate([data[i] for i in test_idx[s : s + 8]]), tv, g)
                n = maps.shape[0]
                sums += torch.tensor([float(object_loss(head(f, grid), maps, t * 0)) * n for head, f in zip(heads, feats)])
            result["kl"][str(tv)] = (sums / len(test_idx)).tolist()
            print(f"t={tv}: KL by block " + " ".join(f"{v:.3f}" for v in result["kl"][str(tv)]), flush=True)
        # the floor a probe without features reaches: the maps' class frequencies, everywhere
        maps = torch.stack([data[i]["objects"] for i in train_idx[:256]])
        prior = maps.mean(dim=(0, 2, 3, 4)).clamp_min(1e-6).log()[None, :, None, None, None]
        test = torch.stack([data[i]["objects"] for i in test_idx])
        result["uniform"] = float(object_loss(prior.expand_as(test), test, torch.zeros(test.shape[0], test.shape[2])))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps(result, indent=1))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for tv, kl in result["kl"].items():
        ax.plot(range(1, depth + 1), kl, marker="o", label=f"t = {tv}")
    ax.axhline(result["uniform"], color="gray", ls="--", label="class frequencies only")
    ax.set_xlabel("block")
    ax.set_ylabel("held-out KL, nats per latent cell")
    ax.set_title(f"object probes on frozen features: {result['model']}")
    ax.legend(fontsize=8, loc="center right")
    save_figure(fig, out / "probe.png")
    print(f"wrote {out / 'probe.json'} and {out / 'probe.png'}")


if __name__ == "__main__":
    main()
