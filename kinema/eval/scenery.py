"""What the camera and the background do, from the pixels that are not objects.

Camera: a pan slides the world sideways (grid lines, walls), found by matching column
profiles of consecutive frames (objects masked) over small shifts with a sub-pixel
parabola; a zoom scales every object, found from the change of tracked object areas.
Background: the median colour of two bands of object-free rows (top, above the floor),
compared with each BACKGROUNDS entry's expected colours there.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from kinema.eval.parser import Tracks, palette_labels
from kinema.world.spec import BACKGROUNDS, WORLD_WIDTH

MAX_SHIFT_PX = 4  # largest per-frame pan searched, px (1.5 units/s at 16 fps is 1.2 px)
PAN_MIN_SPEED = 0.25  # units/s; slower counts as static (the world's pans are 0.5-1.5)
ZOOM_MIN_LOG_RATE = 0.05  # |d log scale / dt| per second; the world's zooms are 0.1-0.25
OBJECT_MARGIN_PX = 3  # object masks are grown by this before the scenery is read
MIN_PROFILE_STD = 1.0  # grey levels; a flatter column profile (black, gray, dusk) shows no pan


def object_masks(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) bool: pixels of palette-coloured objects, grown by OBJECT_MARGIN_PX."""
    core = palette_labels(frames) > 0
    out = core.copy()
    h, w = core.shape[1:]
    for s in range(1, OBJECT_MARGIN_PX + 1):  # separable square dilation, per frame
        out[:, :, s:] |= core[:, :, :w - s]
        out[:, :, :w - s] |= core[:, :, s:]
    grown = out.copy()
    for s in range(1, OBJECT_MARGIN_PX + 1):
        out[:, s:] |= grown[:, :h - s]
        out[:, :h - s] |= grown[:, s:]
    return out


def _profile_shift(a: np.ndarray, b: np.ndarray) -> float:
    """Shift s (px) that best maps column profile a onto b (b[x + s] ~ a[x]); NaN-aware."""
    w = len(a)
    if not np.nanstd(a) >= MIN_PROFILE_STD or not np.nanstd(b) >= MIN_PROFILE_STD:
        return 0.0  # a featureless background shows no pan
    errs = []
    for s in range(-MAX_SHIFT_PX, MAX_SHIFT_PX + 1):
        lo, hi = max(0, -s), min(w, w - s)
        d = b[lo + s:hi + s] - a[lo:hi]
        d = d[~np.isnan(d)]
        errs.append(float(np.mean(d * d)) + 1e-6 * abs(s) if len(d) > w // 2 else np.inf)
    errs = np.asarray(errs)
    k = int(np.argmin(errs))
    if not np.isfinite(errs[k]) or errs.max() - errs.min() < 1e-3:
        return 0.0  # a featureless background shows no pan
    s = float(k - MAX_SHIFT_PX)
    if 0 < k < len(errs) - 1 and np.isfinite(errs[k - 1]) and np.isfinite(errs[k + 1]):
        den = errs[k - 1] - 2 * errs[k] + errs[k + 1]
        if den > 0:
            s += 0.5 * (errs[k - 1] - errs[k + 1]) / den
    return s


def estimate_camera(frames: np.ndarray, fps: float, tracks: Tracks | None = None,
                    masks: np.ndarray | None = None) -> dict:
    """Camera motion of a clip.

    frames: (T, H, W, 3) uint8. tracks: parsed objects (for the zoom); masks: object_masks.
    Returns {"kind": one of kinema.world.spec.CAMERAS, "pan_speed": units/s (> 0: the
    camera moves right, so the world slides left), "zoom_rate": d log(scale)/dt per second}.
    """
    n_frames, h, w, _ = frames.shape
    masks = object_masks(frames) if masks is None else masks
    lum = frames.astype(np.float32).mean(-1)  # (T, H, W)
    lum[masks] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns hidden by objects in every row
        prof = np.nanmean(lum, axis=1)  # (T, W) column profiles
    shift = sum(_profile_shift(prof[t - 1], prof[t]) for t in range(1, n_frames))  # px, content moving right
    seconds = max(n_frames - 1, 1) / fps
    pan_speed = -shift / seconds * WORLD_WIDTH / w

    zoom_rate = 0.0
    if tracks is not None and len(tracks):
        logs = []
        for k in range(len(tracks)):
            ok = np.flatnonzero(tracks.present()[:, k] & ~tracks.clipped[:, k])
            if len(ok) >= 2 and ok[-1] - ok[0] >= max(2, n_frames // 4):
                a0, a1 = tracks.areas[ok[0], k], tracks.areas[ok[-1], k]
                logs.append(0.5 * math.log(a1 / a0) / ((ok[-1] - ok[0]) / fps))
        if logs:
            zoom_rate = float(np.median(logs))
    if abs(zoom_rate) >= ZOOM_MIN_LOG_RATE:
        kind = "zoom_in" if zoom_rate > 0 else "zoom_out"
    elif abs(pan_speed) >= PAN_MIN_SPEED:
        kind = "pan_right" if pan_speed > 0 else "pan_left"
    else:
        kind = "static"
    return {"kind": kind, "pan_speed": float(pan_speed), "zoom_rate": zoom_rate}


def _expected_band(name: str, rows: tuple[float, float], height: int) -> np.ndarray:
    """Expected median colour of a background over a band of rows (fractions of the height)."""
    bg = BACKGROUNDS[name]
    if bg["kind"] == "gradient":
        s = (rows[0] + rows[1]) / 2
        return (1 - s) * np.asarray(bg["top"], float) + s * np.asarray(bg["bottom"], float)
    return np.asarray(bg["colour"], float)  # a grid's lines are a minority: the median is the base colour


def classify_background(frames: np.ndarray, masks: np.ndarray | None = None, *, floor_row: float | None = None) -> str:
    """Name of the BACKGROUNDS entry whose colours best match two object-free bands of rows.

    frames: (T, H, W, 3) uint8 (the first frame is read). floor_row: pixel row of the floor
    line, above which the background is read (default: 85% of the height).
    """
    frame = frames[0].astype(np.float32)
    h = frame.shape[0]
    mask = (object_masks(frames[:1]) if masks is None else masks[:1])[0]
    floor_row = 0.85 * h if floor_row is None else floor_row
    bands = [(0.0, 0.1), (max(floor_row / h - 0.2, 0.1), max(floor_row / h - 0.05, 0.15))]
    seen, want = [], {name: [] for name in BACKGROUNDS}
    for lo, hi in bands:
        r0, r1 = int(lo * h), max(int(hi * h), int(lo * h) + 1)
        px = frame[r0:r1][~mask[r0:r1]]
        seen.append(np.median(px, axis=0) if len(px) else np.full(3, np.nan))
        for name in BACKGROUNDS:
            want[name].append(_expected_band(name, ((r0 + 0.5) / h, (r1 - 0.5) / h), h))
    seen = np.concatenate(seen)
    return min(BACKGROUNDS, key=lambda n: float(np.nansum((seen - np.concatenate(want[n])) ** 2)))
