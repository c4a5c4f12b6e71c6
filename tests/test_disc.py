"""The VAE's adversarial term: critic shapes, hinge losses and the adaptive weight on known values."""

import pytest
import torch

from kinema.models.disc import PatchDiscriminator, adaptive_weight, hinge_d_loss, hinge_g_loss


def test_patch_critic_scores_every_frame_as_a_grid_of_patches():
    d = PatchDiscriminator((8, 16, 32))
    logits = d(torch.randn(2, 3, 5, 32, 48))
    assert logits.shape == (10, 1, 4, 6)  # B*T frames, 3 stride-2 levels
    # frames are scored independently: changing frame 3 of clip 1 changes only its logits
    x = torch.randn(1, 3, 4, 32, 32)
    y = x.clone()
    y[:, :, 3] += 1.0
    a, b = d(x), d(y)
    assert torch.equal(a[:3], b[:3]) and not torch.equal(a[3], b[3])
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        d(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="channels"):
        PatchDiscriminator(())


def test_hinge_losses_on_known_logits():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
    # 0.5 * (mean(relu(1 - real)) + mean(relu(1 + fake))) = 0.5 * (0.25 + 0.5)
    assert hinge_d_loss(real, fake).item() == pytest.approx(0.375)
    assert hinge_d_loss(torch.full((3,), 1.5), torch.full((3,), -1.5)).item() == 0.0  # a confident critic: no loss
    assert hinge_g_loss(torch.tensor([1.0, -3.0])).item() == pytest.approx(1.0)
    assert hinge_d_loss(real.bfloat16(), fake.bfloat16()).dtype == torch.float32


def test_adaptive_weight_is_the_ratio_of_gradient_norms_at_the_last_layer():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    rec = 1.5 * (w ** 2).sum()  # gradient 3w = (3, 6): norm sqrt(45)
    g = (4.0 * w).sum()  # gradient (4, 4): norm sqrt(32)
    lam = adaptive_weight(rec, g, w)
    assert lam.item() == pytest.approx(45 ** 0.5 / (32 ** 0.5 + 1e-4), rel=1e-6)
    assert not lam.requires_grad
    (rec + lam * g).backward()  # the graphs are kept for the step's own backward
    torch.testing.assert_close(w.grad, torch.tensor([3.0, 6.0]) + lam * 4.0)
    assert adaptive_weight(1e6 * (w ** 2).sum(), 1e-9 * w.sum(), w).item() == 1e4  # clamped at max_weight
