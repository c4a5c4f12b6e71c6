"""Object maps from the simulator, the object probe's loss and the DiT's hidden_at."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinema.models.dit import DiT, DiTConfig
from kinema.models.objects import ObjectHead, object_loss
from kinema.world.labels import NUM_OBJECT_CLASSES, OBJECT_CLASSES, object_maps
from kinema.world.render import _scenery, ground_truth, object_masks, render
from kinema.world.sim import simulate
from kinema.world.spec import COLOURS, PALETTE, SHAPES, ObjectSpec, SceneSpec
from kinema.world.splits import sample_scene


def _clip(seed: int, seconds: float = 1.0):
    spec = sample_scene("id", seed, fps=16, seconds=seconds, width=128, height=96)
    traj = simulate(spec)
    return spec, traj, render(spec, traj), ground_truth(spec, traj)


@pytest.mark.parametrize("seed", [3, 11, 27])
def test_object_masks_composite_back_into_the_rendered_frame(seed):
    # alpha compositing: frame = scenery * (1 - sum_j m_j) + sum_j m_j * colour_j, exactly the renderer's blend
    spec, traj, frames, _ = _clip(seed)
    for i in (0, 7, 16):
        m = object_masks(spec, traj.positions[i], traj.angles[i], i)  # (N, H, W)
        assert m.min() >= 0 and m.sum(axis=0).max() <= 1 + 1e-6
        colours = np.array([PALETTE[o.colour] for o in spec.objects], dtype=np.float64)  # (N, 3)
        img = _scenery(spec, i) * (1 - m.sum(axis=0))[..., None] + np.einsum("nhw,nc->hwc", m, colours)
        assert np.abs(np.rint(img) - frames[i]).max() <= 1  # float rounding of the blend's order


def test_a_later_object_hides_an_earlier_one():
    objs = (ObjectSpec(shape="box", colour="red", size="small", position=(5.0, 4.0), velocity=(0.0, 0.0)),
            ObjectSpec(shape="ball", colour="blue", size="large", position=(5.0, 4.0), velocity=(0.0, 0.0)))
    spec = SceneSpec(objects=objs, width=64, height=64, fps=16, seconds=0.25)
    m = object_masks(spec, np.array([[5.0, 4.0], [5.0, 4.0]]), np.zeros(2), 0)
    assert m[0].max() < 1e-6 and m[1].max() == 1.0  # the small box sits wholly inside the large ball


def test_object_maps_pool_the_renders_onto_the_latent_grid():
    spec, traj, frames, truth = _clip(3)
    maps = object_maps(spec.to_dict(), truth, frames=17, spatial_factor=8, temporal_factor=4)
    assert maps.shape == (NUM_OBJECT_CLASSES, 5, 12, 16)
    nc = len(OBJECT_CLASSES["colour"])
    np.testing.assert_allclose(maps[:nc].sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(maps[nc:].sum(axis=0), 1.0, atol=1e-5)

    def cells(i):  # per-object coverage of pixel frame i pooled to 8x8 cells: (N, 12, 16)
        return object_masks(spec, traj.positions[i], traj.angles[i], i).reshape(-1, 12, 8, 16, 8).mean(axis=(2, 4))

    for j, obj in enumerate(spec.objects):  # scene 3 has three objects of distinct colours
        c = 1 + COLOURS.index(obj.colour)
        np.testing.assert_allclose(maps[c, 0], cells(0)[j], atol=1e-6)  # latent frame 0 = pixel frame 0
        np.testing.assert_allclose(maps[c, 2], np.mean([cells(i)[j] for i in range(5, 9)], axis=0), atol=1e-6)
        # pixels of exactly the object's colour (its interior) lie under its map, edges add at most a ring
        solid = (np.abs(frames[0].astype(int) - PALETTE[obj.colour]).sum(-1) == 0).reshape(12, 8, 16, 8).mean(axis=(1, 3))
        assert np.all(solid <= maps[c, 0] + 1e-6) and np.abs(solid - maps[c, 0]).max() < 0.2
    shapes = {o.shape for o in spec.objects}
    for k, name in enumerate(SHAPES, start=1):
        assert (maps[nc + k].max() > 0.5) == (name in shapes)
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        object_maps(spec.to_dict(), truth, frames=16, spatial_factor=8, temporal_factor=4)


def test_object_loss_is_zero_at_the_maps_and_ignores_frames_at_pure_noise():
    g = torch.Generator().manual_seed(0)
    raw = torch.rand(2, NUM_OBJECT_CLASSES, 3, 4, 4, generator=g)
    nc = len(OBJECT_CLASSES["colour"])
    maps = torch.cat([raw[:, :nc] / raw[:, :nc].sum(1, keepdim=True), raw[:, nc:] / raw[:, nc:].sum(1, keepdim=True)], 1)
    t = torch.tensor([[0.0, 0.5, 1.0], [0.2, 0.2, 0.2]])
    assert float(object_loss(maps.log(), maps, t)) == pytest.approx(0.0, abs=1e-6)
    uniform = object_loss(torch.zeros_like(maps), maps, t)
    assert float(uniform) > 0
    # a frame at t = 1 carries no weight: changing its logits changes nothing
    wrong = maps.log().clone()
    wrong[0, :, 2] = torch.randn(NUM_OBJECT_CLASSES, 4, 4, generator=g)
    assert float(object_loss(wrong, maps, t)) == pytest.approx(0.0, abs=1e-6)
    # one-hot maps, uniform logits: KL = log(classes) per group
    onehot = torch.zeros_like(maps)
    onehot[:, 0] = onehot[:, nc] = 1
    want = (np.log(nc) + np.log(NUM_OBJECT_CLASSES - nc)) / 2
    assert float(object_loss(torch.zeros_like(maps), onehot, t)) == pytest.approx(want, rel=1e-5)


def test_dit_hidden_at_returns_the_same_velocity_and_the_stream_after_that_block():
    cfg = DiTConfig(in_channels=4, hidden_size=32, depth=3, num_heads=2, text_dim=8, patch_size=(1, 2, 2))
    torch.manual_seed(0)
    dit = DiT(cfg)
    for p in dit.parameters():  # leave adaLN-Zero's zero init: blocks then change the stream
        torch.nn.init.normal_(p, std=0.05)
    x, t = torch.randn(2, 4, 3, 8, 6), torch.rand(2, 3)
    text, mask, fps = torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool), torch.full((2,), 16.0)
    v = dit(x, t, text, mask, fps)
    v1, h1 = dit(x, t, text, mask, fps, hidden_at=1)
    v3, h3 = dit(x, t, text, mask, fps, hidden_at=3)
    assert torch.equal(v, v1) and torch.equal(v, v3)
    assert h1.shape == (2, 3, 12, 32) and not torch.allclose(h1, h3)
    logits = ObjectHead(32, (1, 2, 2))(h1, (3, 4, 3))
    assert logits.shape == (2, NUM_OBJECT_CLASSES, 3, 8, 6)
    with pytest.raises(ValueError, match="hidden_at"):
        dit(x, t, text, mask, fps, hidden_at=4)
