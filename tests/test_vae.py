"""Behaviour of the causal video VAE on a tiny config, in fp32."""

import dataclasses

import pytest
import torch

from kinema.models.vae import (
    add_encoder_stem,
    add_refine_head,
    grow_latent_channels,
    VAE_BASE,
    VAE_FAST,
    VAE_FAST2,
    VAE_TINY,
    VAEConfig,
    VideoVAE,
    latent_shape,
    latents_from_dit,
    latents_to_dit,
    vae_loss,
)


@pytest.fixture(scope="module")
def vae() -> VideoVAE:
    """Tiny VAE with every weight perturbed, so zero-initialised paths also carry signal."""
    torch.manual_seed(0)
    model = VideoVAE(VAE_TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def video(b: int, t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, t, h, w, generator=g) * 2 - 1


@torch.no_grad()
def test_image_round_trip_shapes(vae):
    x = video(2, 1, 16, 24)
    mean, logvar = vae.encode(x)
    assert mean.shape == logvar.shape == (2, VAE_TINY.latent_channels, 1, 2, 3)
    assert vae.decode(mean).shape == x.shape


@torch.no_grad()
def test_video_round_trip_shapes(vae):
    x = video(1, 9, 16, 16)
    mean, _ = vae.encode(x)
    assert mean.shape == (1, VAE_TINY.latent_channels, 3, 2, 2)
    assert mean.shape[1:] == latent_shape(VAE_TINY, 9, 16, 16)
    assert vae.decode(mean).shape == x.shape


@torch.no_grad()
def test_encode_is_causal(vae):
    x = video(1, 13, 16, 16)
    full, _ = vae.encode(x)  # (1, C, 4, 2, 2)
    for t in (1, 5, 9):
        prefix, _ = vae.encode(x[:, :, :t])
        torch.testing.assert_close(prefix, full[:, :, : prefix.shape[2]], rtol=0, atol=1e-5)


@torch.no_grad()
def test_decode_is_causal(vae):
    z = torch.randn(1, VAE_TINY.latent_channels, 4, 2, 2, generator=torch.Generator().manual_seed(1))
    full = vae.decode(z)  # (1, 3, 13, 16, 16)
    prefix = vae.decode(z[:, :, :2])  # (1, 3, 5, 16, 16)
    torch.testing.assert_close(prefix, full[:, :, :5], rtol=0, atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("chunk", [4, 8])
def test_chunked_encode_matches_one_pass(vae, chunk):
    x = video(1, 17, 16, 16)
    mean, logvar = vae.encode(x)
    mean_c, logvar_c = vae.encode(x, chunk_frames=chunk)
    torch.testing.assert_close(mean_c, mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logvar_c, logvar, rtol=1e-5, atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_decode_matches_one_pass(vae, chunk):
    z = torch.randn(1, VAE_TINY.latent_channels, 5, 2, 2, generator=torch.Generator().manual_seed(2))
    x_hat = vae.decode(z)
    torch.testing.assert_close(vae.decode(z, chunk_frames=chunk), x_hat, rtol=1e-5, atol=1e-5)
    parts = list(vae.decode_stream(z, chunk_frames=2))
    assert [p.shape[2] for p in parts] == [5, 8, 4]  # 1 + 4(n-1), then 4n frames
    torch.testing.assert_close(torch.cat(parts, dim=2), x_hat, rtol=1e-5, atol=1e-5)


def test_bad_shapes_name_the_fix(vae):
    with pytest.raises(ValueError, match=r"got 30 frames; use 1\+4k frames, e.g. 29 or 33"):
        vae.encode(video(1, 30, 16, 16))
    with pytest.raises(ValueError, match=r"not a multiple of 8; try 16x16"):
        vae.encode(video(1, 5, 15, 16))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        vae.encode(video(1, 5, 16, 16)[0])
    with pytest.raises(ValueError, match=r"multiple of 4"):
        vae.encode(video(1, 9, 16, 16), chunk_frames=3)
    with pytest.raises(ValueError, match=r"latents"):
        vae.decode(torch.zeros(1, 3, 2, 2, 2))


def test_config_validation():
    with pytest.raises(ValueError, match="one bool per level"):
        VAEConfig(channel_mults=(1, 2), temporal_downsample=(True, True, False))
    with pytest.raises(ValueError, match="norm_groups"):
        VAEConfig(base_channels=12, norm_groups=8)
    from_json = VAEConfig(**json_round_trip(dataclasses.asdict(VAE_BASE)))
    assert from_json == VAE_BASE and hash(from_json) == hash(VAE_BASE)


def json_round_trip(d: dict) -> dict:
    import json

    return json.loads(json.dumps(d))


def test_sampling_is_deterministic(vae):
    mean = torch.zeros(1, 4, 2, 2, 2)
    logvar = torch.zeros_like(mean)
    a = vae.sample(mean, logvar, generator=torch.Generator().manual_seed(7))
    b = vae.sample(mean, logvar, generator=torch.Generator().manual_seed(7))
    c = vae.sample(mean, logvar, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_dit_normalisation_round_trips():
    cfg = dataclasses.replace(VAE_TINY, latent_mean=0.3, latent_std=2.5)
    z = torch.randn(1, 4, 2, 2, 2)
    torch.testing.assert_close(latents_from_dit(latents_to_dit(z, cfg), cfg), z)


def test_loss_is_zero_for_perfect_reconstruction():
    x = video(1, 5, 16, 16)
    mean, logvar = torch.zeros(1, 4, 2, 2, 2), torch.zeros(1, 4, 2, 2, 2)
    parts = vae_loss(x, x.clone(), mean, logvar, VAE_TINY)
    assert set(parts) == {"total", "l1", "ssim", "grad", "mse", "kl"}
    assert parts["total"].item() == pytest.approx(0.0, abs=1e-5)


def test_tiny_vae_overfits_one_clip():
    torch.manual_seed(0)
    model = VideoVAE(VAE_TINY)
    # a flat red square sliding over a grey background, like the synthetic world
    x = torch.full((1, 3, 5, 32, 32), -0.2)
    for t in range(5):
        x[0, :, t, 8:20, 4 + 3 * t : 16 + 3 * t] = torch.tensor([0.9, -0.8, -0.8])[:, None, None]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(120):
        x_hat, mean, logvar = model(x, generator=gen)
        loss = vae_loss(x, x_hat, mean, logvar, VAE_TINY)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], (losses[0], losses[-1])


# A tiny config with the pixel/frame folding stem of VAE_FAST.
PATCHED = VAEConfig(patch_size=2, patch_frames=4, latent_channels=4, base_channels=8,
                    channel_mults=(1,), temporal_downsample=(False,), norm_groups=4)
# ... and with the 2-frame fold plus a temporal downsample of VAE_FAST2: same factors.
PATCHED2 = dataclasses.replace(PATCHED, patch_frames=2, temporal_downsample=(True,))
# ... and a finer first level without a time downsample, time halved in the second (the layout
# screened as vE in MODEL_CARD.md, "The VAE").
PATCHED3 = dataclasses.replace(PATCHED2, patch_size=1, channel_mults=(1, 2), temporal_downsample=(False, True))


@pytest.mark.parametrize("cfg", [PATCHED, PATCHED2, PATCHED3], ids=["fold4", "fold2-down2", "fold2-fine"])
def test_patched_stem_shapes_causality_and_chunking(cfg):
    torch.manual_seed(0)
    vae = VideoVAE(cfg).eval()
    assert cfg.spatial_factor == 4 and cfg.temporal_factor == 4
    x = torch.rand(1, 3, 17, 16, 24, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        mean, _ = vae.encode(x)
        assert mean.shape == (1, 4, 5, 4, 6)
        image_mean, _ = vae.encode(x[:, :, :1])
        assert image_mean.shape == (1, 4, 1, 4, 6) and vae.decode(image_mean).shape == (1, 3, 1, 16, 24)
        prefix, _ = vae.encode(x[:, :, :9])
        assert torch.allclose(prefix, mean[:, :, :3], atol=1e-5)
        chunked, _ = vae.encode(x, chunk_frames=4)
        assert torch.allclose(chunked, mean, atol=1e-5)
        y = vae.decode(mean)
        assert y.shape == x.shape
        assert torch.allclose(vae.decode(mean, chunk_frames=2), y, atol=1e-5)
        assert torch.allclose(vae.decode(mean[:, :, :3]), y[:, :, :9], atol=1e-5)


def test_fast_preset_geometry():
    assert VAE_FAST.spatial_factor == 8 and VAE_FAST.temporal_factor == 4
    assert latent_shape(VAE_FAST, 33, 96, 160) == (8, 9, 12, 20)
    # FAST2 trades FAST's 4-frame stem fold for 2 frames and a downsample: the same latent grid
    assert (VAE_FAST2.spatial_factor, VAE_FAST2.temporal_factor) == (8, 4)
    assert latent_shape(VAE_FAST2, 33, 96, 160) == (32, 9, 12, 20)


def test_foreground_weighted_mse_counts_salient_pixels_more():
    cfg = dataclasses.replace(VAE_TINY, mse_weight=1.0, fg_weight=20.0)
    x = -torch.ones(1, 3, 1, 8, 8)
    x[..., 2:4, 2:4] = 1.0  # a small bright object on a dark frame
    mean = logvar = torch.zeros(1, 4, 1, 1, 1)
    miss_object = x.clone()
    miss_object[..., 2:4, 2:4] = 0.0  # error 1 on 4 object pixels
    miss_background = x.clone()
    miss_background[..., 6:8, 6:8] = 0.0  # error 1 on 4 background pixels
    obj = vae_loss(x, miss_object, mean, logvar, cfg)["mse"]
    bg = vae_loss(x, miss_background, mean, logvar, cfg)["mse"]
    assert float(bg) == pytest.approx(4 * 3 / (3 * 64))  # weight 1 on background
    assert float(obj) == pytest.approx(11 * float(bg))  # weight 1 + 20 * 0.5 on the object


def trained_patched_vae() -> VideoVAE:
    """A tiny VAE with a 2x2x4 stem fold whose every weight is non-zero, as a trained one's."""
    torch.manual_seed(0)
    src = VideoVAE(dataclasses.replace(VAE_TINY, patch_size=2, patch_frames=4, channel_mults=(1, 2),
                                       temporal_downsample=(False, False)))
    for p in src.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return src


def test_grown_latent_channels_reconstruct_as_the_source():
    src = trained_patched_vae()
    big = grow_latent_channels(src, dataclasses.replace(src.cfg, latent_channels=7, kl_weight=1e-3))
    x = torch.rand(1, 3, 9, 16, 16) * 2 - 1
    with torch.no_grad():
        m_old, lv_old = src.encode(x)
        m_new, lv_new = big.encode(x)
        assert m_new.shape[1] == 7
        torch.testing.assert_close(m_new[:, :4], m_old)
        torch.testing.assert_close(lv_new[:, :4], lv_old)
        assert m_new[:, 4:].abs().sum() > 0  # the new channels carry a projection of the features
        assert torch.allclose(lv_new[:, 4:], lv_old.new_tensor(float(src.encoder.conv_out.conv.bias[4:].mean())))
        extra = torch.randn_like(m_new[:, 4:])
        torch.testing.assert_close(big.decode(torch.cat([m_old, extra], 1)), src.decode(m_old))
    with pytest.raises(ValueError, match="base_channels"):
        grow_latent_channels(src, dataclasses.replace(src.cfg, base_channels=16, latent_channels=8))
    with pytest.raises(ValueError, match="latent_channels"):
        grow_latent_channels(src, dataclasses.replace(src.cfg, latent_channels=2))


def test_refine_head_starts_as_a_no_op_then_stays_causal_and_streams():
    src = trained_patched_vae()
    vae = add_refine_head(src, dataclasses.replace(src.cfg, refine_channels=(8, 4)))
    x = torch.rand(1, 3, 13, 16, 16) * 2 - 1
    with torch.no_grad():
        z, _ = vae.encode(x)
        torch.testing.assert_close(z, src.encode(x)[0])  # the encoder is the source's
        torch.testing.assert_close(vae.decode(z), src.decode(z))  # the head's output conv starts at zero
        for p in vae.decoder.refine.parameters():  # a trained head
            torch.nn.init.normal_(p, std=0.1)
        full = vae.decode(z)
        assert full.shape == x.shape and (full - src.decode(z)).abs().max() > 1e-3
        torch.testing.assert_close(vae.decode(z, chunk_frames=1), full)
        torch.testing.assert_close(vae.decode(z[:, :, :2]), full[:, :, :5])  # frames never see later latents
    with pytest.raises(ValueError, match="divisible by 4"):
        dataclasses.replace(src.cfg, refine_channels=(8, 4, 4))  # a third level would unfold 2x2 of p=2 twice
    with pytest.raises(ValueError, match="norm_groups"):
        dataclasses.replace(src.cfg, refine_channels=(6,))
    with pytest.raises(ValueError, match="base_channels"):
        add_refine_head(src, dataclasses.replace(src.cfg, base_channels=16, refine_channels=(8,)))
    with pytest.raises(ValueError, match="refine_channels"):
        add_refine_head(vae, vae.cfg)  # it already has one


def test_encoder_stem_starts_as_the_source_then_stays_causal_and_streams():
    src = trained_patched_vae()
    vae = add_encoder_stem(src, dataclasses.replace(src.cfg, stem_channels=(4,)))
    x = torch.rand(1, 3, 13, 16, 16) * 2 - 1
    with torch.no_grad():
        z, lv = vae.encode(x)
        torch.testing.assert_close(z, src.encode(x)[0])  # the stem's input weights start at zero
        torch.testing.assert_close(lv, src.encode(x)[1])
        for p in vae.encoder.stem.parameters():  # a trained stem
            torch.nn.init.normal_(p, std=0.1)
        torch.nn.init.normal_(vae.encoder.conv_in.conv.weight, std=0.1)
        full, _ = vae.encode(x)
        assert full.shape == src.encode(x)[0].shape and (full - z).abs().max() > 1e-3
        torch.testing.assert_close(vae.encode(x, chunk_frames=4)[0], full)  # streams chunk by chunk
        torch.testing.assert_close(vae.encode(x[:, :, :5])[0], full[:, :, :2])  # causal: a prefix encodes alone
        image, _ = vae.encode(x[:, :, :1])  # an image is a one-frame video
        torch.testing.assert_close(image, full[:, :, :1])
        assert vae.decode(full).shape == x.shape
    assert vae.encoder.stem.out_channels == 4 * 4 * 4  # 4 channels, 2x2 fold, then 4 frames at q = 1
    with pytest.raises(ValueError, match="divisible by 4"):
        dataclasses.replace(src.cfg, stem_channels=(4, 4))  # two 2x2 folds need patch_size 4
    with pytest.raises(ValueError, match="norm_groups"):
        dataclasses.replace(src.cfg, stem_channels=(6,))
    with pytest.raises(ValueError, match="base_channels"):
        add_encoder_stem(src, dataclasses.replace(src.cfg, base_channels=16, stem_channels=(4,)))
    with pytest.raises(ValueError, match="stem_channels"):
        add_encoder_stem(vae, vae.cfg)  # it already has one
    grown = grow_latent_channels(vae, dataclasses.replace(vae.cfg, latent_channels=6))  # keeps the stem
    with torch.no_grad():
        torch.testing.assert_close(grown.encode(x)[0][:, :4], full)
