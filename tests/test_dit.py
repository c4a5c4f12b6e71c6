"""The diffusion transformer on tiny configs: patches, RoPE, masks, causality, cache, training."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from kinema import flow
from kinema.models.dit import (
    DIT_B,
    DIT_S,
    DIT_TINY,
    DiT,
    DiTConfig,
    KVCache,
    apply_rope,
    attention,
    patchify,
    rope_frequencies,
    unpatchify,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tiny(seed: int = 0, **overrides) -> DiT:
    """A tiny DiT with its zero-initialised layers perturbed, so every path carries signal."""
    torch.manual_seed(seed)
    model = DiT(dataclasses.replace(DIT_TINY, **overrides)).eval()
    g = _gen(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model


def _inputs(B=2, T=4, H=8, W=8, L=6, seed=1, action_dim=0):
    g = _gen(seed)
    cfg = DIT_TINY
    x = torch.randn(B, cfg.in_channels, T, H, W, generator=g)
    t = torch.rand(B, T, generator=g)
    text = torch.randn(B, L, cfg.text_dim, generator=g)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[1, L // 2:] = False  # second prompt is shorter
    fps = torch.tensor([8.0, 24.0])[:B]
    actions = torch.randn(B, T, action_dim, generator=g) if action_dim else None
    return x, t, text, mask, fps, actions


def test_patchify_unpatchify_inverse():
    x = torch.randn(2, 3, 4, 6, 8, generator=_gen())
    for patch in [(1, 2, 2), (1, 3, 4), (2, 2, 2)]:
        tok = patchify(x, patch)
        grid = (4 // patch[0], 6 // patch[1], 8 // patch[2])
        assert tok.shape == (2, grid[0] * grid[1] * grid[2], 3 * patch[0] * patch[1] * patch[2])
        assert torch.equal(unpatchify(tok, patch, grid, 3), x)
    # frame-major: the first h*w tokens are frame 0's
    tok = patchify(x, (1, 2, 2))
    assert torch.equal(tok[:, :12], patchify(x[:, :, :1], (1, 2, 2)))


@pytest.mark.parametrize("grid", [(1, 1, 1), (3, 4, 5), (6, 2, 8)])
def test_rope_grids(grid):
    hd = 16
    freqs = rope_frequencies(grid, hd)
    n = grid[0] * grid[1] * grid[2]
    assert freqs.shape == (n, hd // 2)
    q = torch.randn(2, n, hd, generator=_gen(), dtype=torch.float32)
    rq = apply_rope(q, freqs)
    assert rq.shape == q.shape
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1))  # rotations preserve norm


def test_rope_relative_positions():
    """<R(p) q, R(p') k> depends only on p - p', also across a frame offset."""
    hd = 24
    q, k = torch.randn(hd, generator=_gen(1)), torch.randn(hd, generator=_gen(2))
    grid = (4, 5, 6)

    def at(offset, idx):
        return rope_frequencies(grid, hd, frame_offset=offset)[idx]

    def index(t, h, w):
        return (t * grid[1] + h) * grid[2] + w

    def dot(off_q, pq, off_k, pk):
        return apply_rope(q, at(off_q, index(*pq))) @ apply_rope(k, at(off_k, index(*pk)))

    a = dot(0, (1, 2, 3), 0, (0, 1, 1))
    b = dot(0, (3, 4, 5), 0, (2, 3, 3))  # same differences (1, 1, 2)
    c = dot(7, (1, 2, 3), 7, (0, 1, 1))  # both shifted in time by a cache offset
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a, c, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a, dot(0, (1, 2, 3), 0, (0, 1, 2)))


def test_presets_and_config_validation():
    for cfg in (DIT_TINY, DIT_S, DIT_B):
        assert cfg.hidden_size % cfg.num_heads == 0
    with pytest.raises(ValueError, match="num_heads"):
        DiTConfig(hidden_size=100, num_heads=3)
    with pytest.raises(ValueError, match=r"try \(1, 2, 2\)"):
        DiTConfig(patch_size=(2, 2, 2))
    assert DiTConfig(patch_size=[1, 2, 2]).patch_size == (1, 2, 2)  # from JSON


def test_init_predicts_zero_and_shapes():
    model = DiT(DIT_TINY)
    x, t, text, mask, fps, _ = _inputs()
    v = model(x, t, text, mask, fps)
    assert v.shape == x.shape and v.dtype == torch.float32
    assert (v == 0).all()  # adaLN-Zero + zero final layer


def test_bad_sizes_raise():
    model = _tiny()
    x, t, text, mask, fps, _ = _inputs(H=9, W=8)
    with pytest.raises(ValueError, match="multiple of the patch size 2x2; crop or pad the latents to e.g. 8x8"):
        model(x, t, text, mask, fps)
    x, t, text, mask, fps, _ = _inputs()
    with pytest.raises(ValueError, match=r"t must be \(B, T\)"):
        model(x, t[:, :2], text, mask, fps)
    with pytest.raises(ValueError, match="action_dim"):
        model(x, t, text, mask, fps, actions=torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="frame_causal=True"):
        model(x, t, text, mask, fps, kv_cache=KVCache())


def test_text_mask_respected_and_empty_text_is_finite():
    model = _tiny()
    x, t, text, mask, fps, _ = _inputs()
    v = model(x, t, text, mask, fps)
    text2 = text.clone()
    text2[1, 3:] = 100 * torch.randn(3, text.shape[2], generator=_gen(5))  # padding of prompt 1
    torch.testing.assert_close(model(x, t, text2, mask, fps), v, atol=0, rtol=0)
    text2[1, 0] += 1.0  # a real token does matter
    assert not torch.allclose(model(x, t, text2, mask, fps)[1], v[1])

    empty = torch.zeros_like(mask)
    v_empty = model(x, t, text, empty, fps)
    assert torch.isfinite(v_empty).all()
    # "no text" ignores the token values entirely
    torch.testing.assert_close(model(x, t, torch.randn_like(text), empty, fps), v_empty, atol=0, rtol=0)
    with torch.autocast("cpu", torch.bfloat16):
        assert torch.isfinite(model(x, t, text, empty, fps)).all()


def test_per_frame_t_changes_per_frame_modulation():
    model = _tiny()
    x, t, text, mask, fps, _ = _inputs()
    c = model.condition(t, fps)
    t2 = t.clone()
    t2[:, 2] = 1 - t2[:, 2]
    c2 = model.condition(t2, fps)
    assert not torch.allclose(c2[:, 2], c[:, 2])
    torch.testing.assert_close(c2[:, [0, 1, 3]], c[:, [0, 1, 3]], atol=0, rtol=0)
    # the adaLN shift/scale/gate of block 0 differ for that frame only
    m, m2 = model.blocks[0].ada(c), model.blocks[0].ada(c2)
    assert not torch.allclose(m[:, 2], m2[:, 2]) and torch.equal(m[:, 0], m2[:, 0])
    # and in a frame-causal model the output of earlier frames is untouched
    causal = _tiny(frame_causal=True)
    v, v2 = causal(x, t, text, mask, fps), causal(x, t2, text, mask, fps)
    torch.testing.assert_close(v[:, :, :2], v2[:, :, :2], atol=0, rtol=0)
    assert not torch.allclose(v[:, :, 2], v2[:, :, 2])


def test_fps_and_actions_condition():
    model = _tiny(action_dim=3)
    x, t, text, mask, fps, actions = _inputs(action_dim=3)
    v = model(x, t, text, mask, fps, actions=actions)
    assert not torch.allclose(model(x, t, text, mask, fps * 2, actions=actions), v)
    a2 = actions.clone()
    a2[:, 1] += 1
    assert not torch.allclose(model(x, t, text, mask, fps, actions=a2), v)


def test_frame_causal_ignores_future_frames():
    model = _tiny(frame_causal=True)
    x, t, text, mask, fps, _ = _inputs(T=5)
    v = model(x, t, text, mask, fps)
    x2, t2 = x.clone(), t.clone()
    x2[:, :, 3:] = torch.randn(x2[:, :, 3:].shape, generator=_gen(7))
    t2[:, 3:] = 0.9
    v2 = model(x2, t2, text, mask, fps)
    torch.testing.assert_close(v2[:, :, :3], v[:, :, :3], atol=1e-6, rtol=1e-5)
    assert not torch.allclose(v2[:, :, 3:], v[:, :, 3:])
    # the non-causal model does look ahead
    full = _tiny()
    assert not torch.allclose(full(x2, t2, text, mask, fps)[:, :, :3], full(x, t, text, mask, fps)[:, :, :3])


@pytest.mark.parametrize("chunks", [[1, 1, 1, 1, 1], [2, 3], [1, 2, 2]])
def test_kv_cache_streaming_equals_full_causal(chunks):
    model = _tiny(frame_causal=True)
    x, t, text, mask, fps, _ = _inputs(T=5)
    full = model(x, t, text, mask, fps)
    cache, outs, start = KVCache(), [], 0
    for n in chunks:
        sl = slice(start, start + n)
        # a denoising call reads the cache without changing it ...
        model(x[:, :, sl], torch.rand(2, n, generator=_gen(start)), text, mask, fps, kv_cache=cache)
        # ... and the final call on the chunk writes it
        outs.append(model(x[:, :, sl], t[:, sl], text, mask, fps, kv_cache=cache, write_cache=True))
        start += n
    assert cache.num_frames == 5
    torch.testing.assert_close(torch.cat(outs, dim=2), full, atol=1e-5, rtol=1e-4)


def test_kv_cache_window_bounds_memory():
    model = _tiny(frame_causal=True)
    x, t, text, mask, fps, _ = _inputs(T=4)
    cache = KVCache(max_frames=2)
    for i in range(4):
        model(x[:, :, i:i + 1], t[:, i:i + 1], text, mask, fps, kv_cache=cache, write_cache=True)
    assert cache.num_frames == 4 and cache.cached_frames == 2
    assert cache.keys[0].shape[2] == 2 * 16


@pytest.mark.parametrize("kv, mask", [(6, None), (6, "causal"), (5, "rows")])
def test_training_attention_equals_sdpa_with_its_gradients(kv, mask):
    # CPU training takes the explicit softmax(q k^T / sqrt(d)) v; it must be SDPA's function and gradient
    g = _gen(3)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g, dtype=torch.float64) for n in (6, kv, kv))
    if mask == "causal":  # frame-causal blocks of 2 tokens
        f = torch.arange(6) // 2
        mask = f[:, None] >= f[None, :]
    elif mask == "rows":  # a text mask per batch row, (B, 1, 1, L), as cross-attention gets
        mask = torch.tensor([[True] * 5, [True, True, False, False, False]])[:, None, None, :]
    grad_out = torch.randn(2, 3, 6, 8, generator=g, dtype=torch.float64)
    mine, ref = [[a.clone().requires_grad_() for a in (q, k, v)] for _ in range(2)]
    out = attention(*mine, mask)  # autograd on, CPU: the explicit form
    want = F.scaled_dot_product_attention(*ref, attn_mask=mask)
    (out * grad_out).sum().backward()
    (want * grad_out).sum().backward()
    torch.testing.assert_close(out, want, rtol=1e-10, atol=1e-12)
    for a, b in zip(mine, ref):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-10)
    with torch.no_grad():  # inference takes SDPA itself
        torch.testing.assert_close(attention(q, k, v, mask), want.detach(), rtol=0, atol=0)


def test_tiny_dit_overfits_one_batch():
    torch.manual_seed(0)
    model = DiT(DIT_TINY)
    g = _gen(0)
    x0 = torch.randn(2, 8, 3, 8, 8, generator=g)
    eps = torch.randn(2, 8, 3, 8, 8, generator=g)
    t = flow.sample_frame_times(2, 3, g, p_independent=1.0)
    clean = flow.condition_mask(3, first=1).expand(2, 3)
    t = t.masked_fill(clean, 0.0)
    xt = flow.interpolate(x0, eps, t)
    text = torch.randn(2, 5, DIT_TINY.text_dim, generator=g)
    tmask = torch.ones(2, 5, dtype=torch.bool)
    fps = torch.tensor([8.0, 8.0])
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    losses = []
    for _ in range(300):  # stop once it has fallen 10x: it takes well under 100 steps
        with torch.autocast("cpu", torch.bfloat16):
            v = model(xt, t, text, tmask, fps)
        loss = flow.flow_loss(v, x0, eps, ~clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if losses[-1] < losses[0] / 10:
            break
    assert losses[-1] < losses[0] / 10, (len(losses), losses[0], losses[-1])


def test_bf16_autocast_close_to_fp32():
    model = _tiny()
    x, t, text, mask, fps, _ = _inputs()
    v32 = model(x, t, text, mask, fps)
    with torch.autocast("cpu", torch.bfloat16):
        v16 = model(x, t, text, mask, fps)
    assert v16.dtype == torch.float32
    assert (v16 - v32).abs().max() < 0.05 * v32.abs().max()


def test_grown_input_channels_predict_as_the_source():
    from kinema.models.dit import grow_in_channels

    torch.manual_seed(0)
    cfg = DiTConfig(in_channels=4, hidden_size=32, depth=1, num_heads=2, text_dim=8)
    src = DiT(cfg).eval()
    for p in src.parameters():  # trained: no zero-initialised path left
        torch.nn.init.normal_(p, std=0.1)
    big = grow_in_channels(src, dataclasses.replace(cfg, in_channels=6)).eval()
    x = torch.randn(2, 4, 3, 4, 4)
    t, fps = torch.rand(2, 3), torch.full((2,), 16.0)
    text, mask = torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)
    with torch.no_grad():
        want = src(x, t, text, mask, fps)
        got = big(torch.cat([x, torch.randn(2, 2, 3, 4, 4)], 1), t, text, mask, fps)
    torch.testing.assert_close(got[:, :4], want)
    assert not got[:, 4:].any()
    with pytest.raises(ValueError, match="same architecture"):
        grow_in_channels(src, dataclasses.replace(cfg, in_channels=6, depth=2))


def test_transplanted_body_keeps_everything_but_the_latent_io():
    from kinema.models.dit import LATENT_IO, transplant_body

    torch.manual_seed(0)
    cfg = DiTConfig(in_channels=4, hidden_size=32, depth=1, num_heads=2, text_dim=8)
    src = DiT(cfg)
    for p in src.parameters():  # trained: no zero-initialised path left
        torch.nn.init.normal_(p, std=0.1)
    new = transplant_body(src, dataclasses.replace(cfg, in_channels=3))
    old_state, new_state = src.state_dict(), new.state_dict()
    assert new.x_embed.weight.shape == (32, 3 * 4) and not new.final.linear.weight.any()
    for k in new_state:
        if k not in LATENT_IO:
            torch.testing.assert_close(new_state[k], old_state[k], rtol=0, atol=0)
    x = torch.randn(2, 3, 3, 4, 4)
    t, fps = torch.rand(2, 3), torch.full((2,), 16.0)
    text, mask = torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)
    with torch.no_grad():
        assert not new(x, t, text, mask, fps).any()  # zero output layer: starts at v = 0, as a fresh DiT
    with pytest.raises(ValueError, match="same architecture"):
        transplant_body(src, dataclasses.replace(cfg, in_channels=3, depth=2))


def test_grown_depth_predicts_as_the_source():
    from kinema.models.dit import grow_depth, grown_block_positions

    assert grown_block_positions(8, 12) == [0, 1, 3, 4, 6, 7, 9, 10]  # a new block after every two
    assert grown_block_positions(2, 2) == [0, 1]
    torch.manual_seed(0)
    cfg = DiTConfig(in_channels=4, hidden_size=32, depth=2, num_heads=2, text_dim=8)
    src = DiT(cfg).eval()
    for p in src.parameters():  # trained: no zero-initialised path left
        torch.nn.init.normal_(p, std=0.1)
    deep = grow_depth(src, dataclasses.replace(cfg, depth=4)).eval()  # src's blocks at 0 and 2
    assert len(deep.blocks) == 4
    torch.testing.assert_close(deep.blocks[0].mlp[0].weight, src.blocks[0].mlp[0].weight, rtol=0, atol=0)
    torch.testing.assert_close(deep.blocks[2].ada[1].weight, src.blocks[1].ada[1].weight, rtol=0, atol=0)
    for new in (1, 3):
        assert not deep.blocks[new].ada[1].weight.any() and not deep.blocks[new].cross.proj.weight.any()
    x = torch.randn(2, 4, 3, 4, 4)
    t, fps = torch.rand(2, 3), torch.full((2,), 16.0)
    text, mask = torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool)
    with torch.no_grad():
        torch.testing.assert_close(deep(x, t, text, mask, fps), src(x, t, text, mask, fps))
    # the new block is trainable: its gates get gradients and move the output away from src's
    deep.train()
    deep(x, t, text, mask, fps).square().mean().backward()
    assert deep.blocks[1].ada[1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same architecture"):
        grow_depth(src, dataclasses.replace(cfg, depth=4, hidden_size=64))
    with pytest.raises(ValueError, match="grow depth"):
        grow_depth(src, dataclasses.replace(cfg, depth=1))
