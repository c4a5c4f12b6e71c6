"""Which motion verbs do a model's objects show? The share of parsed tracks carrying each verb.

Reads the videos of a `kinema eval` folder (its model row) and scores the simulator's own
videos of the same prompts beside them, so a model whose blobs fall, bounce and collide more
often than the world's objects do, or never roll, shows it at a glance:

    python scripts/motion_verbs.py runs/eval-a runs/eval-b [--num 200]

It reads the saved mp4s, whose H.264 round trip moves the parser's reading of soft blobs (a
model's adherence changes in about half of its videos), so its figures describe, they do not
reproduce the report's scores.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np

from kinema.eval.adherence import real_tracks, track_motions
from kinema.eval.parser import parse_video
from kinema.eval.run import _ceiling_clip
from kinema.video import read_video
from kinema.world.prompts import parse_prompt


def verb_shares(items) -> dict:
    """items: (prompt, frames, fps). Tracks per video, verbs per track, verbs the prompt did not
    ask for per track ("rests" aside: prompts rarely name it), and each verb's share of tracks."""
    videos, tracks, verbs, extra, shares = 0, 0, 0, [], collections.Counter()
    for prompt, frames, fps in items:
        videos += 1
        parsed = real_tracks(parse_video(frames))
        if not len(parsed):
            continue
        asked = {v for c in parse_prompt(prompt).objects for v in c.motions}
        for m in track_motions(parsed, fps):
            tracks, verbs = tracks + 1, verbs + len(m.verbs)
            shares.update(m.verbs)
            extra.append(len(set(m.verbs) - asked - {"rests"}))
    n = max(tracks, 1)
    return {"videos": videos, "tracks_per_video": round(tracks / max(videos, 1), 2),
            "verbs_per_track": round(verbs / n, 2), "unasked_verbs_per_track": round(float(np.mean(extra or [0])), 2),
            "share_of_tracks": {v: round(c / n, 2) for v, c in shares.most_common()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", help="kinema eval --out folders (split id, videos kept)")
    ap.add_argument("--num", type=int, default=200, help="first N videos of each")
    args = ap.parse_args()
    for folder in map(Path, args.folders):
        report = json.loads((folder / "report.json").read_text())
        fps = report["settings"]["fps"]
        samples = report["splits"]["id"]["samples"]["model"][: args.num]
        print(folder, verb_shares((s["prompt"], read_video(folder / s["video"])[0], fps) for s in samples), flush=True)
    w, h = map(int, report["settings"]["size"].split("x"))
    clips = ((s["prompt"], _ceiling_clip(s["prompt"], s["seed"], "id", fps, w, h), fps) for s in samples)
    print("simulator", verb_shares(c for c in clips if c[1] is not None))


if __name__ == "__main__":
    main()
