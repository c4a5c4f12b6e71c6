"""The modules `kinema train` wraps in DDP: one trained forward per kind, with everything whose
gradients must be averaged together (a VAE and its critic; a DiT, its null text and its object
probe). kinema.train owns the loop around them; kinema.export reads DiT runs' weights through them.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn


class VAEStep(nn.Module):
    """What DDP wraps for the VAE: encode, reparameterise with the given noise, decode, and with a
    critic (`disc`, kinema.models.disc) score the frames.

    The noise comes in from outside so that it is keyed per clip (see clip_generator).
    x: (B, 3, T, H, W); eps: (B, C, t, h, w) -> {"x_hat", "mean", "logvar"}, and with a critic
    "d_real", "d_fake" (its logits on x and on a detached x_hat: the critic's loss) and "d_gen"
    (on x_hat through the critic's weights detached: the decoder's loss, which leaves the critic
    untouched). All in one forward, so DDP averages the critic's gradients with the VAE's.
    """

    def __init__(self, vae: nn.Module, *, freeze_encoder: bool = False, disc: nn.Module | None = None):
        super().__init__()
        self.vae, self.freeze_encoder, self.disc = vae, freeze_encoder, disc
        if freeze_encoder:
            vae.encoder.requires_grad_(False)  # only the decoder learns; the latents stay the source's

    @property
    def last_layer(self) -> torch.Tensor:
        """The weight of the decoder's output conv (where the adversarial term is balanced)."""
        dec = self.vae.decoder
        return (dec.refine.conv_out if dec.refine is not None else dec.conv_out).conv.weight

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad() if self.freeze_encoder else contextlib.nullcontext():  # a frozen encoder: no graph
            mean, logvar = self.vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * eps
        x_hat = self.vae.decode(z)
        out = {"x_hat": x_hat, "mean": mean, "logvar": logvar}
        if self.disc is not None:
            frozen = {k: v.detach() for k, v in self.disc.named_parameters()}
            out["d_real"] = self.disc(x)
            out["d_fake"] = self.disc(x_hat.detach())
            out["d_gen"] = torch.func.functional_call(self.disc, frozen, (x_hat,))
        return out


class DiTStep(nn.Module):
    """What DDP wraps for the DiT: the DiT and the learned null text, trained jointly.

    x_t: (B, C, T, H, W); t: (B, T); text: (B, L, D); text_mask: (B, L) bool;
    drop: (B,) bool rows that get the null text; fps: (B,) -> v (B, C, T, H, W).
    With an object head (TrainConfig.object_weight > 0) -> (v, object logits (B, K, T, H, W))
    read after block `object_block`; the head is trained only, never exported.
    """

    def __init__(self, dit: nn.Module, null_text: nn.Module, *, object_block: int = 0):
        super().__init__()
        self.dit, self.null_text = dit, null_text
        self.object_block = object_block
        if object_block:
            from kinema.models.objects import ObjectHead

            if object_block > dit.cfg.depth:
                raise ValueError(f"object_block={object_block} exceeds the DiT's depth {dit.cfg.depth}")
            self.object_head = ObjectHead(dit.cfg.hidden_size, dit.cfg.patch_size)

    def forward(self, x_t, t, text, text_mask, drop, fps):
        from kinema.models.text import drop_text

        text, text_mask = drop_text(text, text_mask, self.null_text, drop)  # null tokens always in the graph
        if not self.object_block:
            return self.dit(x_t, t, text, text_mask, fps)
        v, h = self.dit(x_t, t, text, text_mask, fps, hidden_at=self.object_block)
        _, ph, pw = self.dit.cfg.patch_size
        return v, self.object_head(h, (x_t.shape[2], x_t.shape[3] // ph, x_t.shape[4] // pw))
