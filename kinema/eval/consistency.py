"""Temporal consistency of a video: objects that persist and keep their size and colour,
a background that holds still, no flicker.

All scores are plain numbers with units in their names' docstrings; lower is better
except `permanence` and `count_stability` (fractions, 1 is best).
"""

from __future__ import annotations

import numpy as np

from kinema.eval.parser import PALETTE, Tracks

BORDER_PX = 4  # width of the frame band read for background stability


def permanence(tracks: Tracks) -> dict:
    """Object permanence from tracks.

    count_stability: fraction of frames whose number of visible tracks equals the most
    common number. vanishes / appears: tracks that end before the last frame (start after
    the first) while whole in the frame, i.e. not explained by leaving or entering it.
    permanence: 1 - (vanishes + appears) / tracks, floored at 0 (1 with no tracks).
    """
    present = tracks.present()  # (T, K)
    counts = present.sum(1)
    mode = np.bincount(counts).argmax() if len(counts) else 0
    vanish = appear = 0
    for k in range(len(tracks)):
        seen = np.flatnonzero(present[:, k])
        if seen[-1] < tracks.num_frames - 1 and not tracks.clipped[seen[-1], k]:
            vanish += 1
        if seen[0] > 0 and not tracks.clipped[seen[0], k]:
            appear += 1
    n = len(tracks)
    return {
        "count_stability": float((counts == mode).mean()) if len(counts) else 1.0,
        "vanishes": vanish,
        "appears": appear,
        "permanence": max(0.0, 1.0 - (vanish + appear) / n) if n else 1.0,
    }


def size_drift(tracks: Tracks) -> float:
    """Mean over tracks of the relative spread std/mean of the area over frames where the
    object is whole (a zooming camera changes sizes on purpose). NaN with no such track."""
    out = []
    for k in range(len(tracks)):
        a = tracks.areas[tracks.present()[:, k] & ~tracks.clipped[:, k], k]
        if len(a) >= 2:
            out.append(float(a.std() / a.mean()))
    return float(np.mean(out)) if out else float("nan")


def colour_drift(tracks: Tracks) -> dict:
    """colour_drift: mean over tracks of the mean RGB distance (0-255 units) of an object's
    per-frame core colour from its median; colour_error: mean distance from its PALETTE colour."""
    drift, err = [], []
    # each track's detection in frame t is the one of its colour at its centroid: index them once
    by_key = [{(d.colour, d.centroid): d for d in reversed(dets)} for dets in tracks.detections]
    for k in range(len(tracks)):
        c = tracks.centroids[:, k]
        rgb = np.array([by_key[t][key].rgb for t in range(tracks.num_frames) if not np.isnan(c[t, 0])
                        and (key := (tracks.colours[k], (c[t, 0], c[t, 1]))) in by_key[t]])
        if len(rgb) == 0:
            continue
        drift.append(float(np.linalg.norm(rgb - np.median(rgb, 0), axis=1).mean()))
        err.append(float(np.linalg.norm(rgb - np.asarray(PALETTE[tracks.colours[k]]), axis=1).mean()))
    nan = float("nan")
    return {"colour_drift": float(np.mean(drift)) if drift else nan,
            "colour_error": float(np.mean(err)) if err else nan}


def background_stability(frames: np.ndarray, masks: np.ndarray) -> float:
    """Mean |frame_t - frame_0| (0-255 units) over the BORDER_PX frame band, object pixels
    (masks (T, H, W), from scenery.object_masks) excluded. 0 for a static camera."""
    band = np.zeros(frames.shape[1:3], dtype=bool)
    band[:BORDER_PX] = band[-BORDER_PX:] = True
    band[:, :BORDER_PX] = band[:, -BORDER_PX:] = True
    ref = frames[0][band].astype(np.float32)  # (n, 3)
    diffs = []
    for t in range(1, len(frames)):
        ok = ~(masks[t][band] | masks[0][band])
        if ok.any():
            diffs.append(float(np.abs(frames[t][band][ok].astype(np.float32) - ref[ok]).mean()))
    return float(np.mean(diffs)) if diffs else 0.0


def flicker(frames: np.ndarray, masks: np.ndarray) -> float:
    """Mean |frame_t - frame_(t-1)| (0-255 units) over pixels free of objects in both frames."""
    f = frames.astype(np.int16)
    d = np.abs(f[1:] - f[:-1]).mean(-1)  # (T-1, H, W)
    ok = ~(masks[1:] | masks[:-1])
    return float(d[ok].mean()) if ok.any() else 0.0


def score_consistency(frames: np.ndarray, tracks: Tracks, masks: np.ndarray) -> dict:
    """All consistency scores of one video: frames (T, H, W, 3) uint8, its tracks and
    object masks (scenery.object_masks)."""
    out = dict(permanence(tracks))
    out["size_drift"] = size_drift(tracks)
    out.update(colour_drift(tracks))
    out["background_stability"] = background_stability(frames, masks)
    out["flicker"] = flicker(frames, masks)
    return out
