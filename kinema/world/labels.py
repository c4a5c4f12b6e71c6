"""Object maps: what the simulator knows about every latent cell of a clip.

A world clip's sidecar holds each object's state per frame; `object_maps` re-draws the objects'
coverage exactly as the renderer blends them (occlusion included, `render.object_masks`) and
pools it onto the VAE's latent grid: per latent frame and cell, the fraction covered by each
colour and by each shape, class 0 ("none") being the rest. Frame pooling follows the causal
VAE: latent frame 0 is pixel frame 0, latent frame k >= 1 the mean of pixel frames
f(k-1)+1 .. fk (f = temporal factor). DiT training can use them as an auxiliary target
(`TrainConfig.object_weight`): the residual stream is asked to say which object sits where.
"""

from __future__ import annotations

import numpy as np

from .render import object_masks
from .spec import COLOURS, SHAPES, SceneSpec

# the classes of each map, in channel order; "none" = no object in that part of the cell
OBJECT_CLASSES: dict[str, tuple[str, ...]] = {"colour": ("none",) + COLOURS, "shape": ("none",) + SHAPES}
NUM_OBJECT_CLASSES = sum(map(len, OBJECT_CLASSES.values()))


def object_maps(scene: dict, truth: dict, *, frames: int, spatial_factor: int, temporal_factor: int) -> np.ndarray:
    """(NUM_OBJECT_CLASSES, t, h, w) float32: the colour classes then the shape classes of
    OBJECT_CLASSES; each group sums to 1 per cell. scene: the clip's SceneSpec dict; truth: its
    ground truth (`render.ground_truth`); frames: the 1 + f*k first frames that were encoded.
    """
    spec = SceneSpec.from_dict(scene)
    s, f = spatial_factor, temporal_factor
    if frames < 1 or (frames - 1) % f or frames > len(truth["frames"]):
        raise ValueError(f"frames={frames} must be 1 + {f}k and at most the clip's {len(truth['frames'])}")
    if spec.height % s or spec.width % s:
        raise ValueError(f"size {spec.width}x{spec.height} is not a multiple of the spatial factor {s}")
    h, w = spec.height // s, spec.width // s
    colour_of = np.array([COLOURS.index(o.colour) + 1 for o in spec.objects], dtype=np.int64)
    shape_of = np.array([SHAPES.index(o.shape) + 1 for o in spec.objects], dtype=np.int64)
    n_colour = len(OBJECT_CLASSES["colour"])

    per_frame = np.zeros((frames, NUM_OBJECT_CLASSES, h, w), dtype=np.float32)
    for i in range(frames):
        state = truth["frames"][i]["objects"]
        pos = np.array([o["position_world"] for o in state], dtype=np.float64).reshape(-1, 2)
        ang = np.array([o["angle"] for o in state], dtype=np.float64)
        cells = object_masks(spec, pos, ang, i).reshape(len(state), h, s, w, s).mean(axis=(2, 4))  # (N, h, w)
        np.add.at(per_frame[i], colour_of, cells)
        np.add.at(per_frame[i], n_colour + shape_of, cells)
        covered = cells.sum(axis=0)
        per_frame[i, 0] = 1.0 - covered
        per_frame[i, n_colour] = 1.0 - covered
    # causal frame pooling, as the VAE folds frames: [0], [1..f], [f+1..2f], ...
    first, rest = per_frame[:1], per_frame[1:]
    if len(rest):
        rest = rest.reshape(-1, f, *rest.shape[1:]).mean(axis=1)
    out = np.concatenate([first, rest], axis=0)  # (t, K, h, w)
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3)).clip(0.0, 1.0)
