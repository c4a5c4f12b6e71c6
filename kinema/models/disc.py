"""A patch discriminator and the hinge GAN losses for sharpening the VAE's decoder.

L1 / MSE / SSIM losses reward the mean of what a latent may hold, so edges and corners
that 8x compression leaves uncertain come back soft. An adversarial term rewards outputs a
critic cannot tell from real frames (Esser et al. 2021, VQGAN; Rombach et al. 2022, the
latent-diffusion autoencoders), weighted adaptively against the reconstruction loss at the
decoder's last layer so neither swamps the other.

The critic sees single frames: video (B, 3, T, H, W) is scored as B*T images, each as a
grid of patch logits (PatchGAN, Isola et al. 2017) whose receptive field is a few objects wide.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["PatchDiscriminator", "hinge_d_loss", "hinge_g_loss", "adaptive_weight"]


class PatchDiscriminator(nn.Module):
    """Per-frame PatchGAN: (B, 3, T, H, W) in [-1, 1] -> logits (B*T, 1, H / 2^n, W / 2^n).

    n = len(channels) stride-2 4x4 convs (GroupNorm and LeakyReLU after all but the first),
    then a 3x3 conv to one logit per patch.
    """

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128), in_channels: int = 3):
        super().__init__()
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty tuple of positive widths, got {channels}")
        layers: list[nn.Module] = []
        cin = in_channels
        for i, c in enumerate(channels):
            layers.append(nn.Conv2d(cin, c, 4, stride=2, padding=1))
            if i:
                layers.append(nn.GroupNorm(min(8, c), c))
            layers.append(nn.LeakyReLU(0.2))
            cin = c
        layers.append(nn.Conv2d(cin, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.02)  # DCGAN's initialisation
                nn.init.zeros_(m.bias)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(f"video must be (B, 3, T, H, W), got {tuple(video.shape)}")
        B, C, T, H, W = video.shape
        return self.net(video.transpose(1, 2).reshape(B * T, C, H, W))


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The critic's hinge loss: mean relu(1 - real) + mean relu(1 + fake), halved; fp32 scalar."""
    return 0.5 * (F.relu(1.0 - real_logits.float()).mean() + F.relu(1.0 + fake_logits.float()).mean())


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side: -mean(critic logits on its output); fp32 scalar."""
    return -fake_logits.float().mean()


def adaptive_weight(rec_loss: torch.Tensor, g_loss: torch.Tensor, last_weight: torch.Tensor,
                    *, max_weight: float = 1e4) -> torch.Tensor:
    """||d rec / d W|| / ||d g / d W|| at the decoder's last layer W (VQGAN's lambda), detached.

    The adversarial gradient reaching the decoder is then as large as the reconstruction's,
    times the configured weight, whatever the two losses' scales.
    """
    g_rec = torch.autograd.grad(rec_loss, last_weight, retain_graph=True)[0]
    g_adv = torch.autograd.grad(g_loss, last_weight, retain_graph=True)[0]
    return (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0.0, max_weight).detach()
