"""Object supervision for DiT training: a probe on the residual stream, trained on object maps.

REPA (Yu et al. 2024) speeds up diffusion transformers by aligning an early block's tokens with
a pretrained image encoder's features. Kinema's world has no such encoder, but it has what the
encoder would be a proxy for: the simulator knows which object covers every latent cell
(`kinema.world.labels.object_maps`). `ObjectHead` reads the residual stream after block
`object_block` and predicts, per latent cell, the colour and shape classes covering it;
`object_loss` is the KL divergence to the maps, weighted per frame by 1 - t (a frame at pure
noise carries no layout to read; a clean conditioning frame carries all of it). Used only in
training (`TrainConfig.object_weight`); the exported DiT has no head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kinema.models.dit import unpatchify
from kinema.world.labels import NUM_OBJECT_CLASSES, OBJECT_CLASSES


class ObjectHead(nn.Module):
    """(B, T, S, D) tokens -> (B, NUM_OBJECT_CLASSES, T, H, W) logits per latent cell."""

    def __init__(self, hidden_size: int, patch_size: tuple[int, int, int]):
        super().__init__()
        if patch_size[0] != 1:
            raise ValueError(f"ObjectHead needs a temporal patch of 1 (latent frames map to tokens), got {patch_size}")
        self.patch_size = tuple(patch_size)
        self.norm = nn.LayerNorm(hidden_size, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.GELU(approximate="tanh"),
                                 nn.Linear(hidden_size, patch_size[1] * patch_size[2] * NUM_OBJECT_CLASSES))

    def forward(self, h: Tensor, grid: tuple[int, int, int]) -> Tensor:
        B, T, S, _ = h.shape
        out = self.mlp(self.norm(h.float())).float().reshape(B, T * S, -1)
        return unpatchify(out, self.patch_size, grid, NUM_OBJECT_CLASSES)


def object_loss(logits: Tensor, maps: Tensor, t: Tensor) -> Tensor:
    """Mean over class groups of KL(maps || softmax(logits)) per cell, averaged with frame weights 1 - t.

    logits, maps: (B, K, T, H, W), maps' groups (OBJECT_CLASSES) each summing to 1 per cell;
    t: (B, T) noise levels. 0 when the head predicts the maps exactly.
    """
    w = (1.0 - t.float()).clamp_min(0.0)  # (B, T)
    total, start = logits.new_zeros(()), 0
    for names in OBJECT_CLASSES.values():
        sl = slice(start, start + len(names))
        target = maps[:, sl].float()
        target = target / target.sum(dim=1, keepdim=True).clamp_min(1e-6)
        logp = F.log_softmax(logits[:, sl].float(), dim=1)
        kl = (torch.xlogy(target, target) - target * logp).sum(dim=1)  # (B, T, H, W)
        total = total + (kl.mean(dim=(2, 3)) * w).sum() / w.sum().clamp_min(1e-6)
        start += len(names)
    return total / len(OBJECT_CLASSES)
