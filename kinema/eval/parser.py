"""Find the world's objects in RGB frames alone, and track them over time.

The world's palette is fixed and far from every background (kinema.world.spec), so an
object is a connected blob of pixels near one palette colour. Per frame:

1. every pixel takes its nearest palette colour; pixels within `colour_tol` (RGB distance)
   of it are "core" pixels; connected components of core pixels (8-neighbourhood), per
   colour, are objects;
2. around each component, anti-aliased edge pixels are unmixed: a pixel p is modelled as
   alpha * c + (1 - alpha) * b, with c the palette colour and b the best-fitting colour of
   the ring of pixels just outside the object (so grid lines, the ground and gradients
   are each unmixed against their own colour); alpha is the pixel's coverage;
3. coverage-weighted moments give the area (px^2), the sub-pixel centroid and the shape:
   the normalised complex moments |sum a z^k| / sum a |z|^k (z: offset from the centroid
   as a complex number) vanish for k = 3, 4, 5 unless the shape has 3-, 4- or 5-fold
   symmetry, so they separate ball / triangle / box / pentagon without any fitting, at
   any rotation, and stay separated at a radius of 5 px (measured: 0.64 / 0.41 / 0.30 for
   triangle / box / pentagon against < 0.02 for a ball);
4. the radius (circumradius, px) follows from the area and the shape; the size word is the
   nearest of SIZES (in log radius) at zoom 1.

Tracking matches detections frame to frame with the Hungarian algorithm on distance,
only between detections of the same colour (scipy.optimize.linear_sum_assignment).

Pixel convention: pixel (row i, column j) covers [j, j + 1) x [i, i + 1), so its centre is
(j + 0.5, i + 0.5); x right, y down, as kinema.world.render.

Limits (documented, tested by exclusion): objects touching the frame border are flagged
`clipped` (their centroid and shape are those of the visible part); two touching objects
of the same colour merge into one detection (flagged by a low `solidity`); an object
partly hidden behind another keeps only its visible pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from kinema.world.spec import PALETTE, SHAPES, SIZES, WORLD_WIDTH

COLOUR_NAMES: tuple[str, ...] = tuple(PALETTE)
_PALETTE_RGB = np.array([PALETTE[c] for c in COLOUR_NAMES], dtype=np.float32)  # (P, 3)

COLOUR_TOL = 60.0  # RGB distance to a palette colour for a core pixel (palette pairs are >= 80 apart)
MIN_AREA = 4.0  # px^2 of coverage; smaller blobs are noise
RING = 2  # px of anti-aliased edge unmixed around each component

# Area / circumradius^2 of each shape (regular polygons, circumradius R): R = sqrt(area / k).
AREA_PER_R2: dict[str, float] = {
    "ball": math.pi,
    "triangle": 3 * math.sqrt(3) / 4,
    "box": 2.0,
    "pentagon": 2.5 * math.sin(2 * math.pi / 5),
}
# Normalised complex moments (k = 3, 4, 5) of each shape, measured on 8x supersampled
# rasterisations at radii 6-13 px; a detection takes the nearest signature.
SHAPE_SIGNATURES: dict[str, tuple[float, float, float]] = {
    "ball": (0.0, 0.0, 0.0),
    "triangle": (0.65, 0.0, 0.0),
    "box": (0.0, 0.42, 0.0),
    "pentagon": (0.0, 0.0, 0.30),
}
assert set(SHAPE_SIGNATURES) == set(SHAPES)
_SIDES = {"triangle": 3, "box": 4, "pentagon": 5}  # as kinema.world.sim.polygon_vertices


@dataclass(frozen=True)
class Detection:
    """One object found in one frame; pixels, x right, y down.

    centroid: (x, y) coverage-weighted centre. area: coverage sum, px^2.
    bbox: (x0, y0, x1, y1) of the pixels with coverage > 0 (x1, y1 exclusive).
    radius: circumradius, px, from the area and the shape. moments: (|m3|, |m4|, |m5|).
    clipped: the object touches the frame border (partly out of frame).
    orientation: body angle, radians, world convention (counter-clockwise, y up) as
        kinema.world.sim, modulo the shape's symmetry (2 pi / sides); 0 for a ball.
    rgb: mean colour of the core pixels (colour drift is measured on it).
    """

    colour: str
    shape: str
    centroid: tuple[float, float]
    area: float
    bbox: tuple[int, int, int, int]
    radius: float
    moments: tuple[float, float, float]
    clipped: bool
    orientation: float = 0.0
    rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)


def check_frames(frames) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames, or a ValueError naming the fix."""
    a = np.asarray(frames)
    if a.ndim == 3 and a.shape[-1] == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"frames must be shaped (T, H, W, 3) RGB, got {tuple(a.shape)}; "
                         "read a video with kinema.video.read_video(path)")
    if a.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 in [0, 255], got {a.dtype}; convert floats in [-1, 1] with "
                         "((x + 1) * 127.5).round().clip(0, 255).astype(np.uint8)")
    if a.shape[0] == 0 or a.shape[1] < 8 or a.shape[2] < 8:
        raise ValueError(f"frames {tuple(a.shape)} are empty or smaller than 8x8; the video has no usable frames")
    return a


def classify_shape(moments: tuple[float, float, float]) -> str:
    """The shape whose SHAPE_SIGNATURES entry is nearest to (|m3|, |m4|, |m5|)."""
    m = np.asarray(moments)
    return min(SHAPE_SIGNATURES, key=lambda s: float(np.sum((m - SHAPE_SIGNATURES[s]) ** 2)))


def size_word(radius_px: float, width: int, *, zoom: float = 1.0) -> str:
    """Nearest size word (log-radius) for a circumradius in px, frame `width` px wide at `zoom`."""
    r = radius_px * WORLD_WIDTH / (width * zoom)
    return min(SIZES, key=lambda s: abs(math.log(max(r, 1e-6) / SIZES[s])))


def _unmix(patch: np.ndarray, colour: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Coverage of `colour` in each pixel of patch (n, 3), against the best of candidates (m, 3)."""
    d = colour[None] - candidates  # (m, 3) object minus background
    rel = patch[:, None, :] - candidates[None]  # (n, m, 3)
    alpha = np.clip((rel * d[None]).sum(-1) / np.maximum((d * d).sum(-1), 1.0)[None], 0.0, 1.0)  # (n, m)
    resid = ((rel - alpha[..., None] * d[None]) ** 2).sum(-1)  # (n, m)
    best = resid.argmin(axis=1)
    return alpha[np.arange(len(patch)), best]


# A palette colour has chroma (max - min channel) >= 135 and chroma is sqrt(2)-Lipschitz in
# RGB, so no pixel with chroma < 135 - sqrt(2) * tol can be within tol of the palette.
_MIN_PALETTE_CHROMA = min(max(c) - min(c) for c in PALETTE.values())


def palette_labels(frames: np.ndarray, *, colour_tol: float = COLOUR_TOL) -> np.ndarray:
    """(T, H, W) int8: 1 + index into COLOUR_NAMES of each core pixel's colour, 0 elsewhere."""
    r, g, b = frames[..., 0], frames[..., 1], frames[..., 2]
    chroma = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)  # (T, H, W) uint8
    cand = np.flatnonzero(chroma >= max(_MIN_PALETTE_CHROMA - math.sqrt(2) * colour_tol, 0))
    labels = np.zeros(frames.shape[:3], dtype=np.int8)
    if len(cand):
        px = frames.reshape(-1, 3)[cand].astype(np.float32)  # (n, 3)
        d2 = (px * px).sum(1)[:, None] - 2 * px @ _PALETTE_RGB.T + (_PALETTE_RGB ** 2).sum(1)[None]  # (n, P)
        near = d2.argmin(1)
        ok = d2[np.arange(len(cand)), near] < colour_tol ** 2
        labels.reshape(-1)[cand[ok]] = near[ok] + 1
    return labels


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Dilation of a (h, w) bool mask by a (2r+1)^2 square (r steps of 8-connectivity), separably."""
    h, w = mask.shape
    rows = mask.copy()
    for s in range(1, r + 1):
        rows[:, s:] |= mask[:, :w - s]
        rows[:, :w - s] |= mask[:, s:]
    out = rows.copy()
    for s in range(1, r + 1):
        out[s:] |= rows[:h - s]
        out[:h - s] |= rows[s:]
    return out


def _measure(img: np.ndarray, mask: np.ndarray, any_core: np.ndarray, p: int, x0: int, y0: int,
             touches: bool) -> Detection | None:
    """Detection from one component: img (h, w, 3) float32 window, mask (h, w) its core pixels."""
    grown = _dilate(mask, RING)
    ring = _dilate(mask, RING + 2) & ~grown & ~any_core
    support = grown & (mask | ~any_core)  # not another object's core
    if ring.any():
        q = img[ring].astype(np.int32)
        keys = np.unique((q[:, 0] << 16) | (q[:, 1] << 8) | q[:, 2])
        cand = np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], 1).astype(np.float32)
    else:  # the object fills its surroundings: unmix against black
        cand = np.zeros((1, 3), np.float32)
    alpha = np.zeros(mask.shape, np.float32)
    alpha[support] = _unmix(img[support], _PALETTE_RGB[p], cand)
    alpha[mask] = np.maximum(alpha[mask], 0.5)  # a core pixel is mostly object even if noisy
    area = float(alpha.sum())
    if area < MIN_AREA:
        return None
    xs = np.arange(x0, x0 + mask.shape[1], dtype=np.float64) + 0.5  # (w,) pixel centres
    ys = np.arange(y0, y0 + mask.shape[0], dtype=np.float64) + 0.5  # (h,)
    cx = float((alpha.sum(0) * xs).sum() / area)
    cy = float((alpha.sum(1) * ys).sum() / area)
    sel = alpha > 0
    a = alpha[sel].astype(np.float64)
    yy, xx = np.nonzero(sel)
    z = (xs[xx] - cx) + 1j * (ys[yy] - cy)
    r = np.abs(z)
    z2 = z * z
    zk = (z2 * z, z2 * z2, z2 * z2 * z)
    rk = (r ** 3, r ** 4, r ** 5)
    cm = [complex((a * zm).sum()) for zm in zk]
    moments = tuple(float(abs(c) / max(float((a * rm).sum()), 1e-9)) for c, rm in zip(cm, rk))
    shape = classify_shape(moments)
    orientation = 0.0
    if shape != "ball":
        n = _SIDES[shape]
        # pixel y points down, so the world-frame moment is the conjugate; its phase is n * (vertex direction)
        vertex = -math.atan2(cm[n - 3].imag, cm[n - 3].real) / n
        orientation = float((vertex - (math.pi / 4 if n == 4 else math.pi / 2)) % (2 * math.pi / n))
    vis = alpha > 0.02
    rows, cols = np.flatnonzero(vis.any(1)), np.flatnonzero(vis.any(0))
    return Detection(
        colour=COLOUR_NAMES[p], shape=shape, centroid=(cx, cy), area=area,
        bbox=(int(x0 + cols[0]), int(y0 + rows[0]), int(x0 + cols[-1] + 1), int(y0 + rows[-1] + 1)),
        radius=math.sqrt(area / AREA_PER_R2[shape]), moments=moments, clipped=touches,
        orientation=orientation, rgb=tuple(float(v) for v in img[mask].mean(0)),
    )


def detect_clip(frames, *, colour_tol: float = COLOUR_TOL, min_area: float = MIN_AREA) -> list[list[Detection]]:
    """Every object in every frame of (T, H, W, 3) uint8 RGB frames: one list per frame."""
    frames = check_frames(frames)
    n_frames, h, w, _ = frames.shape
    labels = palette_labels(frames, colour_tol=colour_tol)  # (T, H, W)
    any_core = labels > 0
    out: list[list[Detection]] = [[] for _ in range(n_frames)]
    flat = np.zeros((3, 3, 3), dtype=bool)
    flat[1] = True  # connect within a frame, never across frames
    pad = RING + 2
    for p in np.unique(labels[any_core]) - 1:
        comp, _ = ndimage.label(labels == p + 1, structure=flat)
        for k, sl in enumerate(ndimage.find_objects(comp)):
            if sl is None:
                continue
            t = sl[0].start
            y0, y1 = max(sl[1].start - pad, 0), min(sl[1].stop + pad, h)
            x0, x1 = max(sl[2].start - pad, 0), min(sl[2].stop + pad, w)
            touches = sl[1].start == 0 or sl[2].start == 0 or sl[1].stop == h or sl[2].stop == w
            mask = comp[t, y0:y1, x0:x1] == k + 1
            d = _measure(frames[t, y0:y1, x0:x1].astype(np.float32), mask, any_core[t, y0:y1, x0:x1],
                         int(p), x0, y0, bool(touches))
            if d is not None and d.area >= min_area:
                out[t].append(d)
    for dets in out:
        dets.sort(key=lambda d: (d.colour, d.centroid))
    return out


def detect_objects(frame: np.ndarray, *, colour_tol: float = COLOUR_TOL, min_area: float = MIN_AREA) -> list[Detection]:
    """Every object in one (H, W, 3) uint8 RGB frame."""
    return detect_clip(np.asarray(frame)[None], colour_tol=colour_tol, min_area=min_area)[0]


# ---------------------------------------------------------------- tracking


@dataclass(frozen=True)
class Tracks:
    """Objects tracked through a clip: K tracks over T frames of a W x H video (pixels, y down).

    colours, shapes, sizes: (K,) per-track words; shape and size are majority votes over the
        frames where the object is whole (not clipped), else over all its frames.
    radii: (K,) median circumradius, px. centroids: (T, K, 2) px, NaN where the track is absent.
    areas: (T, K) coverage, px^2, NaN where absent. bboxes: (T, K, 4) (x0, y0, x1, y1), NaN where absent.
    clipped: (T, K) bool, the object touches the frame border. detections: per frame, all detections.
    """

    colours: tuple[str, ...]
    shapes: tuple[str, ...]
    sizes: tuple[str, ...]
    radii: np.ndarray
    centroids: np.ndarray
    areas: np.ndarray
    bboxes: np.ndarray
    clipped: np.ndarray
    width: int
    height: int
    detections: tuple[tuple[Detection, ...], ...]

    @property
    def num_frames(self) -> int:
        return self.centroids.shape[0]

    def __len__(self) -> int:
        return len(self.colours)

    def present(self) -> np.ndarray:
        """(T, K) bool: the track was detected in the frame."""
        return ~np.isnan(self.centroids[..., 0])


NEAR_PX = 2.0  # an object within this of another's box is "touching" and not scored


def evaluable(obj: dict, others: list[dict], width: int, height: int) -> bool:
    """The scoring rule for a ground-truth object (a frame entry of render.ground_truth):
    wholly inside the frame by >= 1 px and no other object's box within NEAR_PX, since
    touching same-colour objects merge and clipped ones show only their visible part."""
    b = obj["bbox_px"]
    if b is None or obj["visible_fraction"] < 1 or b[0] < 1 or b[1] < 1 or b[2] > width - 1 or b[3] > height - 1:
        return False
    for p in others:
        c = p["bbox_px"]
        if p is not obj and c is not None and c[0] - NEAR_PX < b[2] and b[0] < c[2] + NEAR_PX \
                and c[1] - NEAR_PX < b[3] and b[1] < c[3] + NEAR_PX:
            return False
    return True


def match_ground_truth(frames: np.ndarray, truth: dict, *, frame_step: int = 4,
                       near_px: float = 3.0) -> tuple[int, int, list[float]]:
    """Detect objects in frames and match them to the renderer's ground truth.

    Returns (found, total, centroid errors px): an evaluable object counts as found when
    exactly one detection lies within near_px of it with the right colour and shape.
    Used to validate the parser on renders and to measure its floor on reconstructions.
    """
    found = total = 0
    errors: list[float] = []
    height, width = frames.shape[1:3]
    dets = detect_clip(frames[::frame_step])
    for fr, frame_dets in zip(truth["frames"][::frame_step], dets):
        for o in fr["objects"]:
            if not evaluable(o, fr["objects"], width, height):
                continue
            total += 1
            want = truth["objects"][o["index"]]
            p = np.asarray(o["position_px"])
            near = [d for d in frame_dets if math.dist(d.centroid, p) < near_px]
            if len(near) == 1 and near[0].colour == want["colour"] and near[0].shape == want["shape"]:
                errors.append(math.dist(near[0].centroid, p))
                found += 1
    return found, total, errors


def _vote(words: list[str]) -> str:
    return max(sorted(set(words)), key=words.count)


def track_objects(detections: list[list[Detection]], width: int, height: int, *,
                  max_jump: float | None = None, max_gap: int = 4) -> Tracks:
    """Link per-frame detections into tracks (Hungarian on centroid distance, same colour only).

    detections: per frame, the list from detect_objects. max_jump: largest frame-to-frame
    move (px) that continues a track, per frame of gap; None: the frame's diagonal, so that
    identity follows colour first and teleports stay visible as jumps rather than new tracks.
    max_gap: frames a track may be missing before it is closed.
    """
    n_frames = len(detections)
    if max_jump is None:
        max_jump = math.hypot(width, height)
    big = 1e9
    members: list[list[tuple[int, Detection]]] = []  # per track: (frame, detection)
    open_tracks: list[int] = []
    for t, dets in enumerate(detections):
        open_tracks = [k for k in open_tracks if t - members[k][-1][0] <= max_gap + 1]
        cost = np.full((len(open_tracks), len(dets)), big)
        for a, k in enumerate(open_tracks):
            last_t, last = members[k][-1]
            for b, d in enumerate(dets):
                if d.colour != last.colour:
                    continue
                dist = math.hypot(d.centroid[0] - last.centroid[0], d.centroid[1] - last.centroid[1])
                if dist <= max_jump * (t - last_t):
                    cost[a, b] = dist
        matched = set()
        if cost.size:
            rows, cols = linear_sum_assignment(cost)
            for a, b in zip(rows, cols):
                if cost[a, b] < big:
                    members[open_tracks[a]].append((t, dets[b]))
                    matched.add(b)
        for b, d in enumerate(dets):
            if b not in matched:
                members.append([(t, d)])
                open_tracks.append(len(members) - 1)

    k_tracks = len(members)
    centroids = np.full((n_frames, k_tracks, 2), np.nan)
    areas = np.full((n_frames, k_tracks), np.nan)
    bboxes = np.full((n_frames, k_tracks, 4), np.nan)
    clipped = np.zeros((n_frames, k_tracks), dtype=bool)
    colours, shapes, sizes, radii = [], [], [], []
    for k, mem in enumerate(members):
        whole = [d for _, d in mem if not d.clipped] or [d for _, d in mem]
        for t, d in mem:
            centroids[t, k] = d.centroid
            areas[t, k] = d.area
            bboxes[t, k] = d.bbox
            clipped[t, k] = d.clipped
        colours.append(mem[0][1].colour)
        shape = _vote([d.shape for d in whole])
        shapes.append(shape)
        r = float(np.median([math.sqrt(d.area / AREA_PER_R2[shape]) for d in whole]))
        radii.append(r)
        sizes.append(size_word(r, width))
    return Tracks(tuple(colours), tuple(shapes), tuple(sizes), np.asarray(radii, dtype=float),
                  centroids, areas, bboxes, clipped, width, height,
                  tuple(tuple(d) for d in detections))


def parse_video(frames, *, colour_tol: float = COLOUR_TOL, min_area: float = MIN_AREA,
                min_frames: int = 1) -> Tracks:
    """Detect and track every object in (T, H, W, 3) uint8 RGB frames.

    min_frames: drop tracks seen in fewer frames (1 keeps all; raise it to ignore flicker).
    """
    frames = check_frames(frames)
    _, h, w, _ = frames.shape
    dets = detect_clip(frames, colour_tol=colour_tol, min_area=min_area)
    tracks = track_objects(dets, w, h)
    if min_frames > 1:
        keep = np.flatnonzero(tracks.present().sum(0) >= min_frames)
        tracks = select_tracks(tracks, keep)
    return tracks


def select_tracks(tracks: Tracks, keep) -> Tracks:
    """The tracks with indices `keep`, in that order."""
    keep = [int(k) for k in keep]
    return Tracks(
        tuple(tracks.colours[k] for k in keep), tuple(tracks.shapes[k] for k in keep),
        tuple(tracks.sizes[k] for k in keep), tracks.radii[keep], tracks.centroids[:, keep],
        tracks.areas[:, keep], tracks.bboxes[:, keep], tracks.clipped[:, keep],
        tracks.width, tracks.height, tracks.detections,
    )
