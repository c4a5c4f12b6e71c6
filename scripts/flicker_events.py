"""Where do a model's objects appear and vanish? Every such event of an evaluation, classified.

`kinema eval` counts appearances and vanishings per clip (kinema.eval.consistency.permanence:
tracks that start after the first frame or end before the last while whole in the frame). This
reads the videos of an evaluation folder back, parses them as the evaluation did, and sorts each
event by what happened around it:

- flip: a track of another colour ends (for an appearance) or starts (for a vanishing) within
  two frames and near it: the same blob read as another colour, so its track broke;
- split: another track is present in the same frame and near it: a blob broke in two, or two merged;
- new / gone: nothing near it: a blob came from nowhere or went.

and by where it falls in the causal VAE's time grid: latent frame 0 decodes pixel frame 0, latent
frame k >= 1 pixel frames 4k-3 .. 4k. An event between pixel frames f-1 and f "crosses" a latent
boundary when they belong to different latent frames (8 of 32 transitions of a 33-frame clip); if
events came from latents that change abruptly they would pile up there, if from the decoder
rendering one latent frame unsteadily they would spread over all transitions.

    python scripts/flicker_events.py runs/eval-shipped [runs/eval-obj ...] [--vae 50]

--vae N also reconstructs the first N prompts' simulator clips through the shipped VAE (the
evaluation's "vae" row) and classifies their events, the reference of a decoder given real latents.
Writes flicker.json in each folder and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from kinema.eval.parser import parse_video
from kinema.video import read_video

NEAR_PX = 12.0  # centroids closer than this (px at 128x128) are "near"
GROUP = 4  # pixel frames per latent frame after the first


def crosses_latent(f: int) -> bool:
    """The transition from pixel frame f-1 to f joins two latent frames."""
    return f == 1 or (f - 1) % GROUP == 0


def _near(tracks, t: int, k: int, j: int) -> bool:
    a, b = tracks.centroids[t, k], tracks.centroids[t, j]
    return not (np.isnan(a[0]) or np.isnan(b[0])) and math.dist(a, b) <= NEAR_PX


def classify_events(tracks) -> list[dict]:
    """Every appearance and vanishing of permanence() with its kind, frame and latent position."""
    present = tracks.present()  # (T, K)
    T, K = present.shape
    events = []
    for k in range(K):
        seen = np.flatnonzero(present[:, k])
        first, last = int(seen[0]), int(seen[-1])
        for kind, f, inside in (("appear", first, first > 0), ("vanish", last, last < T - 1)):
            if not inside or tracks.clipped[f, k]:
                continue
            # the transition the event happens at: (f-1 -> f) for appearances, (f -> f+1) for vanishings
            edge = f if kind == "appear" else f + 1
            label = "new" if kind == "appear" else "gone"
            for j in range(K):
                if j == k or tracks.colours[j] == tracks.colours[k]:
                    continue
                other = np.flatnonzero(present[:, j])
                # appearance: j ended in f-2 .. f-1 near here; vanishing: j starts in f+1 .. f+2 near here
                e = int(other[-1]) if kind == "appear" else int(other[0])
                gap = f - e if kind == "appear" else e - f
                if 1 <= gap <= 2 and math.dist(tracks.centroids[e, j], tracks.centroids[f, k]) <= NEAR_PX:
                    label = "flip"
            if label in ("new", "gone") and any(_near(tracks, f, k, j) for j in range(K) if j != k):
                label = "split"
            events.append({"event": kind, "kind": label, "frame": f, "crosses": crosses_latent(edge),
                           "track_frames": len(seen)})
    return events


def summarise(events: list[dict], clips: int, frames: int) -> dict:
    n = len(events)
    kinds = Counter(e["kind"] for e in events)
    transitions = frames - 1
    crossing = sum(crosses_latent(f) for f in range(1, frames))
    return {
        "clips": clips,
        "events_per_clip": n / max(clips, 1),
        "kinds": {k: v / max(n, 1) for k, v in sorted(kinds.items())},
        "at_latent_boundary": sum(e["crosses"] for e in events) / max(n, 1),
        "at_latent_boundary_if_uniform": crossing / transitions,
        "from_tracks_under_5_frames": sum(e["track_frames"] < 5 for e in events) / max(n, 1),
    }


def model_events(folder: Path) -> tuple[list[dict], int, int]:
    report = json.loads((folder / "report.json").read_text())
    events, clips, frames = [], 0, 0
    for split in report["splits"].values():
        for rec in split["samples"]["model"]:
            video, _ = read_video(folder / rec["video"])
            events += classify_events(parse_video(video))
            clips, frames = clips + 1, len(video)
    return events, clips, frames


def vae_events(num: int) -> tuple[list[dict], int, int]:
    from kinema.eval.reconstruction import reconstruct
    from kinema.eval.run import _ceiling_clip
    from kinema.pipeline import KinemaPipeline
    from kinema.world.splits import sample_prompt

    pipe = KinemaPipeline.from_pretrained(None)
    cfg = pipe.config
    events, clips, frames = [], 0, 0
    for i in range(num):
        clip = _ceiling_clip(sample_prompt("id", i), 0, "id", cfg.fps, cfg.width, cfg.height)
        if clip is None:
            continue
        video = reconstruct(pipe.vae, clip)
        events += classify_events(parse_video(video))
        clips, frames = clips + 1, len(video)
    return events, clips, frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", type=Path, help="evaluation folders (kinema eval --out)")
    ap.add_argument("--vae", type=int, default=0, help="also the shipped VAE's round trip of N prompts' clips")
    args = ap.parse_args()
    rows = {}
    for folder in args.folders:
        rows[str(folder)] = summarise(*model_events(folder))
        (folder / "flicker.json").write_text(json.dumps(rows[str(folder)], indent=2) + "\n")
    if args.vae:
        rows[f"vae round trip ({args.vae})"] = summarise(*vae_events(args.vae))
    for name, r in rows.items():
        kinds = ", ".join(f"{k} {v:.0%}" for k, v in r["kinds"].items())
        print(f"{name}: {r['clips']} clips, {r['events_per_clip']:.1f} events/clip ({kinds}); "
              f"at a latent boundary {r['at_latent_boundary']:.0%} (uniform: {r['at_latent_boundary_if_uniform']:.0%}); "
              f"from tracks under 5 frames {r['from_tracks_under_5_frames']:.0%}")


if __name__ == "__main__":
    main()
