"""The diffusion transformer over spacetime patches (Sora; DiT, Peebles & Xie 2023).

Latents (B, C, T, H, W) are cut into patches of (1, ph, pw): each latent frame keeps its
own tokens and so its own noise level t (Diffusion Forcing, Chen et al. 2024). Tokens are
ordered frame-major (t, h, w), so a frame's tokens are contiguous: that makes per-frame
modulation a reshape and frame-causal attention a block mask.

Each block: adaLN-Zero self-attention (3D RoPE, QK-norm) -> cross-attention to text tokens
-> adaLN-Zero MLP. The adaLN conditioning is per latent frame: embed(t_i) + embed(fps)
(+ embed(action_i)), broadcast to that frame's tokens.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "DiTConfig",
    "DIT_TINY",
    "DIT_S",
    "DIT_B",
    "DiT",
    "KVCache",
    "patchify",
    "unpatchify",
    "rope_frequencies",
    "apply_rope",
    "timestep_embedding",
    "modulate",
    "attention",
    "grow_depth",
    "grow_in_channels",
    "transplant_body",
]


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of the DiT; saved inside every checkpoint."""

    in_channels: int = 8  # latent channels of the VAE
    patch_size: tuple[int, int, int] = (1, 2, 2)  # (pt, ph, pw); pt must be 1 (per-frame t)
    hidden_size: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    text_dim: int = 384  # token-state width of the text encoder (all-MiniLM-L6-v2: 384)
    qk_norm: bool = True
    frame_causal: bool = False  # block-causal self-attention: frame i sees frames <= i
    action_dim: int = 0  # 0 = no action embedding
    max_fps: float = 60.0  # fps is embedded as fps / max_fps in [0, 1]
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "patch_size", tuple(int(p) for p in self.patch_size))  # JSON gives lists
        if len(self.patch_size) != 3 or min(self.patch_size) < 1:
            raise ValueError(f"patch_size must be three positive ints (pt, ph, pw), got {self.patch_size}")
        if self.patch_size[0] != 1:
            raise ValueError(
                f"patch_size[0] (temporal) must be 1 so each latent frame has its own noise level, "
                f"got {self.patch_size}; try (1, {self.patch_size[1]}, {self.patch_size[2]})"
            )
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}; "
                f"try num_heads={self.hidden_size // 64 or 1}"
            )
        if self.head_dim % 2 or self.head_dim < 6:
            raise ValueError(
                f"head_dim {self.head_dim} must be even and >= 6 for 3D RoPE; change hidden_size or num_heads"
            )
        for name in ("in_channels", "depth", "text_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.mlp_ratio <= 0 or self.max_fps <= 0 or self.action_dim < 0:
            raise ValueError("mlp_ratio and max_fps must be > 0 and action_dim >= 0")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def patch_dim(self) -> int:
        pt, ph, pw = self.patch_size
        return self.in_channels * pt * ph * pw


# Presets. Parameter counts (text_dim 384, in_channels 8, action_dim 0):
DIT_TINY = DiTConfig(hidden_size=64, depth=2, num_heads=4)  # 0.27 M, for tests
DIT_S = DiTConfig(hidden_size=384, depth=12, num_heads=6)  # 40.1 M
DIT_B = DiTConfig(hidden_size=768, depth=12, num_heads=12)  # 159.6 M


# ----------------------------------------------------------------------------- patches

def patchify(x: Tensor, patch_size: tuple[int, int, int]) -> Tensor:
    """Cut latents into spacetime patches, frame-major.

    x: (B, C, T, H, W) with T, H, W divisible by (pt, ph, pw).
    Returns (B, N, C*pt*ph*pw) with N = (T/pt)(H/ph)(W/pw), ordered (t, h, w).
    """
    B, C, T, H, W = x.shape
    pt, ph, pw = patch_size
    x = x.reshape(B, C, T // pt, pt, H // ph, ph, W // pw, pw)
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)  # (B, t, h, w, C, pt, ph, pw)
    return x.reshape(B, (T // pt) * (H // ph) * (W // pw), C * pt * ph * pw)


def unpatchify(tokens: Tensor, patch_size: tuple[int, int, int], grid: tuple[int, int, int], channels: int) -> Tensor:
    """Inverse of patchify: tokens (B, N, C*pt*ph*pw) on grid (t, h, w) -> (B, C, T, H, W)."""
    B = tokens.shape[0]
    pt, ph, pw = patch_size
    t, h, w = grid
    x = tokens.reshape(B, t, h, w, channels, pt, ph, pw)
    x = x.permute(0, 4, 1, 5, 2, 6, 3, 7)  # (B, C, t, pt, h, ph, w, pw)
    return x.reshape(B, channels, t * pt, h * ph, w * pw)


# ----------------------------------------------------------------------------- 3D RoPE

def _rope_split(head_dim: int) -> tuple[int, int, int]:
    """Head dims for the (t, h, w) axes: h and w equal, t takes the rest (all even)."""
    d_hw = 2 * (head_dim // 6)
    return head_dim - 2 * d_hw, d_hw, d_hw


def rope_frequencies(
    grid: tuple[int, int, int],
    head_dim: int,
    *,
    frame_offset: int = 0,
    theta: float = 10000.0,
    device: torch.device | str | None = None,
) -> Tensor:
    """Unit complex rotations e^{i angle} for a (t, h, w) token grid, (N, head_dim/2) complex64.

    The head dim is split into t/h/w parts, each rotated by its own axis position
    (RoFormer, Su et al. 2021, extended to 3D as in Wan / Open-Sora 2). Any grid works, so
    resolution and duration vary freely; frame_offset shifts the time positions for
    streaming with a KV cache.
    """
    dims = _rope_split(head_dim)
    t, h, w = grid
    pos = torch.stack(
        torch.meshgrid(
            torch.arange(frame_offset, frame_offset + t, device=device, dtype=torch.float64),
            torch.arange(h, device=device, dtype=torch.float64),
            torch.arange(w, device=device, dtype=torch.float64),
            indexing="ij",
        ),
        dim=-1,
    ).reshape(-1, 3)  # (N, 3)
    angles = []
    for axis, d in enumerate(dims):
        inv_freq = theta ** (-torch.arange(0, d, 2, device=device, dtype=torch.float64) / d)  # (d/2,)
        angles.append(pos[:, axis, None] * inv_freq)  # (N, d/2)
    ang = torch.cat(angles, dim=-1)  # (N, head_dim/2)
    return torch.polar(torch.ones_like(ang), ang).to(torch.complex64)


def apply_rope(x: Tensor, freqs: Tensor) -> Tensor:
    """Rotate consecutive pairs (x[..., 2i], x[..., 2i+1]) by freqs; x (..., N, D), freqs (N, D/2).

    One complex multiply in fp32 (fewer passes over memory than the real-valued form), the
    result back in x's dtype.
    """
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))  # (..., N, D/2)
    return torch.view_as_real(xc * freqs).flatten(-2).to(x.dtype)


# ----------------------------------------------------------------------------- conditioning

def timestep_embedding(t: Tensor, dim: int, *, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of t in [0, 1] scaled by 1000 (as DiT's integer steps): (...,) -> (..., dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = 1000.0 * t.float()[..., None] * freqs
    emb = torch.cat((args.cos(), args.sin()), dim=-1)
    return F.pad(emb, (0, dim % 2))


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN modulation per frame: x (B, T, S, D), shift/scale (B, T, D) -> x (1 + scale) + shift."""
    return torch.addcmul(shift[:, :, None], x, 1 + scale[:, :, None])  # one fused pass


class _Embed(nn.Module):
    """Sinusoid -> MLP, as DiT's TimestepEmbedder."""

    def __init__(self, hidden: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, s: Tensor) -> Tensor:  # (...,) in [0, 1] -> (..., hidden)
        return self.mlp(timestep_embedding(s, self.freq_dim))


# ----------------------------------------------------------------------------- KV cache

@dataclass
class KVCache:
    """Keys and values of frames already generated, per block, for frame-causal streaming.

    Keys are stored after QK-norm and RoPE (absolute positions), so new frames attend to
    them unchanged. max_frames bounds memory for long videos: older frames are dropped
    (a sliding window; RoPE is relative, so positions keep counting).
    """

    max_frames: int | None = None
    keys: list[Tensor] = field(default_factory=list)  # per block (B, heads, n_cached, head_dim)
    values: list[Tensor] = field(default_factory=list)
    num_frames: int = 0  # frames written so far (the RoPE offset of the next chunk)
    cached_frames: int = 0  # frames currently held (<= max_frames)
    tokens_per_frame: int = 0

    def reset(self) -> None:
        self.keys, self.values = [], []
        self.num_frames = self.cached_frames = self.tokens_per_frame = 0


# ----------------------------------------------------------------------------- blocks

def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """softmax(q k^T / sqrt(d)) v for q (B, H, N, d), k and v (B, H, N_kv, d); mask: bool,
    broadcastable to (B, H, N, N_kv), True = attend (every row must attend somewhere).

    `scaled_dot_product_attention` everywhere except when training on CPU: there the explicit
    form, whose backward is three matmuls and a softmax, trains the DiT faster than the CPU
    flash kernel, whose backward is about 3x slower than its forward (measured at DiT sizes by
    benchmarks/bench_dit.py, which prints both). Inference keeps SDPA, whose forward is the faster.
    """
    if not (q.device.type == "cpu" and torch.is_grad_enabled() and q.requires_grad):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)  # (B, H, N, N_kv)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


class QKNorm(nn.Module):
    """RMSNorm over the head dim, run in the input's dtype so bf16 stays on the fused kernel."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:  # (..., head_dim)
        return F.rms_norm(x, self.weight.shape, self.weight.to(x.dtype), self.eps)


class SelfAttention(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)  # fused: one GEMM
        self.proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        norm = (lambda: QKNorm(cfg.head_dim)) if cfg.qk_norm else nn.Identity
        self.q_norm, self.k_norm = norm(), norm()  # QK-norm keeps logits bounded (Dehghani et al. 2023)

    def forward(
        self,
        x: Tensor,  # (B, N, D)
        freqs: Tensor,  # (N, hd/2) complex
        mask: Tensor | None,  # (N, N_kv) bool, True = attend
        cache: tuple[Tensor, Tensor] | None,  # cached (B, H, n, hd) keys, values
    ) -> tuple[Tensor, Tensor, Tensor]:
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, self.head_dim).unbind(2)  # (B, N, H, hd) each
        q = apply_rope(self.q_norm(q).transpose(1, 2), freqs)  # (B, H, N, hd), contiguous
        k = apply_rope(self.k_norm(k).transpose(1, 2), freqs)
        v = v.transpose(1, 2)
        q, k = q.to(v.dtype), k.to(v.dtype)  # SDPA in the autocast dtype even if the norm ran in fp32
        k_all, v_all = k, v
        if cache is not None:
            k_all = torch.cat((cache[0].to(k.dtype), k), dim=2)
            v_all = torch.cat((cache[1].to(v.dtype), v), dim=2)
        out = attention(q, k_all, v_all.contiguous(), mask)  # (B, H, N, hd)
        return self.proj(out.transpose(1, 2).reshape(B, N, D)), k, v


class CrossAttention(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.q = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.kv = nn.Linear(cfg.hidden_size, 2 * cfg.hidden_size)
        self.proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        norm = (lambda: QKNorm(cfg.head_dim)) if cfg.qk_norm else nn.Identity
        self.q_norm, self.k_norm = norm(), norm()

    def forward(self, x: Tensor, y: Tensor, mask: Tensor) -> Tensor:
        """x (B, N, D) video tokens; y (B, L, D) text tokens; mask (B, 1, 1, L) bool, >= 1 True per row."""
        B, N, D = x.shape
        L = y.shape[1]
        q = self.q_norm(self.q(x).view(B, N, self.heads, self.head_dim)).transpose(1, 2)  # (B, H, N, hd)
        k, v = self.kv(y).view(B, L, 2, self.heads, self.head_dim).unbind(2)  # (B, L, H, hd)
        k = self.k_norm(k).transpose(1, 2)
        v = v.transpose(1, 2)
        q, k, v = (a.to(v.dtype).contiguous() for a in (q, k, v))
        out = attention(q, k, v, mask)  # (B, H, N, hd)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class DiTBlock(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        D = cfg.hidden_size
        self.norm1 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(cfg)
        self.norm2 = nn.LayerNorm(D, eps=1e-6)
        self.cross = CrossAttention(cfg)
        self.norm3 = nn.LayerNorm(D, elementwise_affine=False, eps=1e-6)
        hidden = int(D * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(D, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, D))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))  # adaLN-Zero, per frame

    def forward(self, x, c, y, y_mask, freqs, attn_mask, cache):
        """x (B, T, S, D) tokens per frame (fp32 residual); c (B, T, D) per-frame conditioning."""
        B, T, S, D = x.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).float().chunk(6, dim=-1)  # (B, T, D) each
        h = modulate(self.norm1(x), shift1, scale1).reshape(B, T * S, D)
        a, k, v = self.attn(h, freqs, attn_mask, cache)
        x = torch.addcmul(x, gate1[:, :, None], a.view(B, T, S, D))  # x + gate * branch
        x = x + self.cross(self.norm2(x).reshape(B, T * S, D), y, y_mask).view(B, T, S, D)
        h = modulate(self.norm3(x), shift2, scale2)
        x = torch.addcmul(x, gate2[:, :, None], self.mlp(h))
        return x, k, v


class FinalLayer(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.hidden_size, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cfg.hidden_size, 2 * cfg.hidden_size))
        self.linear = nn.Linear(cfg.hidden_size, cfg.patch_dim)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:  # (B, T, S, D), (B, T, D) -> (B, T, S, patch_dim)
        shift, scale = self.ada(c).float().chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


# ----------------------------------------------------------------------------- model

class DiT(nn.Module):
    """Diffusion transformer predicting the rectified-flow velocity v = eps - x0 (see kinema.flow)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.hidden_size
        self.x_embed = nn.Linear(cfg.patch_dim, D)  # a patch conv with stride = kernel is this linear
        self.t_embed = _Embed(D)
        self.fps_embed = _Embed(D)
        self.action_embed = (
            nn.Sequential(nn.Linear(cfg.action_dim, D), nn.SiLU(), nn.Linear(D, D)) if cfg.action_dim else None
        )
        self.y_embed = nn.Sequential(nn.Linear(cfg.text_dim, D), nn.GELU(approximate="tanh"), nn.Linear(D, D))
        self.blocks = nn.ModuleList(DiTBlock(cfg) for _ in range(cfg.depth))
        self.final = FinalLayer(cfg)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """All initialisation in one place (DiT, Peebles & Xie 2023, sec. 3.2)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for emb in (self.t_embed, self.fps_embed):
            for lin in (emb.mlp[0], emb.mlp[2]):
                nn.init.normal_(lin.weight, std=0.02)
        # adaLN-Zero: every residual branch and the output start at zero, so each block
        # begins as the identity and the model predicts v = 0.
        for blk in self.blocks:
            nn.init.zeros_(blk.ada[-1].weight)
            nn.init.zeros_(blk.ada[-1].bias)
            nn.init.zeros_(blk.cross.proj.weight)  # unmodulated branch: zero its output instead (PixArt-a)
        nn.init.zeros_(self.final.ada[-1].weight)
        nn.init.zeros_(self.final.ada[-1].bias)
        nn.init.zeros_(self.final.linear.weight)
        nn.init.zeros_(self.final.linear.bias)
        if self.action_embed is not None:  # adding actions to a trained model starts as a no-op
            nn.init.zeros_(self.action_embed[-1].weight)

    def condition(self, t: Tensor, fps: Tensor, actions: Tensor | None = None) -> Tensor:
        """Per-frame conditioning vector c: t (B, T), fps (B,), actions (B, T, A) -> (B, T, D)."""
        c = self.t_embed(t) + self.fps_embed(fps / self.cfg.max_fps)[:, None]
        if actions is not None:
            c = c + self.action_embed(actions)
        return c

    def _check(self, x, t, text, text_mask, fps, actions, kv_cache) -> None:
        cfg = self.cfg
        if x.ndim != 5 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"x must be (B, {cfg.in_channels}, T, H, W) latents, got {tuple(x.shape)}")
        B, _, T, H, W = x.shape
        _, ph, pw = cfg.patch_size
        if H % ph or W % pw:
            fix = f"{H - H % ph}x{W - W % pw}" if H >= ph and W >= pw else f"{ph}x{pw}"
            raise ValueError(
                f"latent size {H}x{W} (HxW) is not a multiple of the patch size {ph}x{pw}; "
                f"crop or pad the latents to e.g. {fix}"
            )
        if t.shape != (B, T):
            raise ValueError(f"t must be (B, T) = {(B, T)} noise levels per latent frame, got {tuple(t.shape)}")
        if text.ndim != 3 or text.shape[0] != B or text.shape[2] != cfg.text_dim:
            raise ValueError(f"text must be (B, L, {cfg.text_dim}) with B = {B}, got {tuple(text.shape)}")
        if text_mask.shape != text.shape[:2] or text_mask.dtype != torch.bool:
            raise ValueError(f"text_mask must be bool {tuple(text.shape[:2])}, got {text_mask.dtype} {tuple(text_mask.shape)}")
        if fps.shape != (B,):
            raise ValueError(f"fps must be (B,) = ({B},), got {tuple(fps.shape)}")
        if actions is not None:
            if not cfg.action_dim:
                raise ValueError("actions were given but this model has action_dim=0; build it with action_dim > 0")
            if actions.shape != (B, T, cfg.action_dim):
                raise ValueError(f"actions must be (B, T, A) = {(B, T, cfg.action_dim)}, got {tuple(actions.shape)}")
        if kv_cache is not None and not cfg.frame_causal:
            raise ValueError("kv_cache needs a frame-causal model; build it with DiTConfig(frame_causal=True)")

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        text: Tensor,
        text_mask: Tensor,
        fps: Tensor,
        *,
        actions: Tensor | None = None,
        kv_cache: KVCache | None = None,
        write_cache: bool = False,
        hidden_at: int | None = None,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Predict the velocity.

        x: (B, C, T, H, W) latents at noise levels t: (B, T) in [0, 1] (0 = clean frame);
        text: (B, L, text_dim) token states with text_mask: (B, L) bool (True = real token;
        an all-False row means "no text", as for the unconditional branch of CFG);
        fps: (B,) frames per second of the video; actions: (B, T, action_dim) or None.
        kv_cache: frame-causal streaming; x then holds only the new frames, which attend to
        the cached ones. write_cache=True appends this call's keys/values (call it once per
        chunk on the final, clean frames at t = 0, as in Diffusion Forcing / CausVid).
        Returns v: (B, C, T, H, W), float32; with hidden_at=k (1..depth) also the residual
        stream after block k, (B, T, S, D) with S = (H / ph) * (W / pw) tokens per frame (for
        training probes such as kinema.models.objects.ObjectHead).
        """
        self._check(x, t, text, text_mask, fps, actions, kv_cache)
        if hidden_at is not None and not 1 <= hidden_at <= self.cfg.depth:
            raise ValueError(f"hidden_at must be in 1..{self.cfg.depth} (a block count), got {hidden_at}")
        cfg = self.cfg
        B, C, T, H, W = x.shape
        _, ph, pw = cfg.patch_size
        grid = (T, H // ph, W // pw)
        S = grid[1] * grid[2]  # tokens per frame
        D = cfg.hidden_size

        offset = 0
        if kv_cache is not None and kv_cache.keys:
            if kv_cache.tokens_per_frame != S:
                raise ValueError(f"this chunk has {S} tokens per frame but the cache holds {kv_cache.tokens_per_frame}; keep H, W fixed while streaming")
            offset = kv_cache.num_frames
        freqs = rope_frequencies(grid, cfg.head_dim, frame_offset=offset, theta=cfg.rope_theta, device=x.device)

        attn_mask = None
        if cfg.frame_causal:
            n_past = kv_cache.cached_frames if kv_cache is not None and kv_cache.keys else 0
            q_frame = torch.arange(T, device=x.device).repeat_interleave(S) + n_past  # (N,)
            k_frame = torch.arange(n_past + T, device=x.device).repeat_interleave(S)  # (N_kv,)
            attn_mask = q_frame[:, None] >= k_frame[None, :]  # block-causal (N, N_kv)

        # A row with no valid text token would softmax over nothing (NaN): let it attend to
        # token 0 and zero the result below, so "no text" is an exact zero contribution.
        has_text = text_mask.any(dim=1)  # (B,)
        y_mask = text_mask.clone()
        y_mask[:, 0] |= ~has_text
        y_mask = y_mask[:, None, None, :]  # (B, 1, 1, L)
        y = self.y_embed(text) * has_text[:, None, None]  # (B, L, D)

        c = self.condition(t, fps, actions)  # (B, T, D)
        h = self.x_embed(patchify(x, cfg.patch_size)).float().view(B, T, S, D)  # fp32 residual stream

        new_k, new_v, probe = [], [], None
        for i, blk in enumerate(self.blocks):
            cache = (kv_cache.keys[i], kv_cache.values[i]) if kv_cache is not None and kv_cache.keys else None
            h, k, v = blk(h, c, y, y_mask, freqs, attn_mask, cache)
            new_k.append(k)
            new_v.append(v)
            if i + 1 == hidden_at:
                probe = h

        if kv_cache is not None and write_cache:
            self._append(kv_cache, new_k, new_v, T, S)
        out = self.final(h, c).reshape(B, T * S, cfg.patch_dim)
        v = unpatchify(out, cfg.patch_size, grid, C).float()
        return v if hidden_at is None else (v, probe)

    @staticmethod
    def _append(cache: KVCache, ks: list[Tensor], vs: list[Tensor], T: int, S: int) -> None:
        if not cache.keys:
            cache.keys, cache.values, cache.tokens_per_frame = [k.detach() for k in ks], [v.detach() for v in vs], S
        else:
            cache.keys = [torch.cat((a, k.detach()), dim=2) for a, k in zip(cache.keys, ks)]
            cache.values = [torch.cat((a, v.detach()), dim=2) for a, v in zip(cache.values, vs)]
        cache.num_frames += T
        cache.cached_frames += T
        if cache.max_frames is not None and cache.cached_frames > cache.max_frames:
            drop = (cache.cached_frames - cache.max_frames) * S
            cache.keys = [k[:, :, drop:] for k in cache.keys]
            cache.values = [v[:, :, drop:] for v in cache.values]
            cache.cached_frames = cache.max_frames


def _check_only_channels_differ(src: DiT, cfg: DiTConfig, what: str, grow: bool = False) -> None:
    """Raise unless cfg is src's architecture with other latent channels (more of them if grow)."""
    old, new = src.cfg.in_channels, cfg.in_channels
    if dataclasses.replace(src.cfg, in_channels=new) != cfg or (grow and new < old):
        raise ValueError(f"can only {what} ({old} -> {new}) on the same architecture; "
                         f"src is {src.cfg}, asked for {cfg}")


def grow_in_channels(src: DiT, cfg: DiTConfig) -> DiT:
    """A DiT of config cfg (more latent channels than src, otherwise equal) that predicts
    exactly src's velocity on src's channels and zero on the new ones, ignoring their input.

    Warm-starts a DiT for a VAE with more latent channels from one trained on the smaller
    latents: the transformer body (text, layout, motion) carries over, and the patch embedding
    and output layer learn the new channels. Patch vectors are channel-major (C, pt, ph, pw).
    """
    old, new = src.cfg.in_channels, cfg.in_channels
    _check_only_channels_differ(src, cfg, "add input channels", grow=True)
    dit = DiT(cfg)
    state = {k: v.clone() for k, v in src.state_dict().items()}
    per = math.prod(cfg.patch_size)  # patch values per channel
    w_in = torch.zeros_like(dit.x_embed.weight)  # (D, new * per)
    w_in[:, : old * per] = state.pop("x_embed.weight")
    w_out, b_out = torch.zeros_like(dit.final.linear.weight), torch.zeros_like(dit.final.linear.bias)
    w_out[: old * per], b_out[: old * per] = state.pop("final.linear.weight"), state.pop("final.linear.bias")
    state.update({"x_embed.weight": w_in, "final.linear.weight": w_out, "final.linear.bias": b_out})
    dit.load_state_dict(state)
    return dit


def grown_block_positions(old_depth: int, new_depth: int) -> list[int]:
    """Where src's blocks go in a DiT grown from old_depth to new_depth blocks: spread evenly, so
    the new blocks sit between them (8 -> 12: new blocks at 2, 5, 8, 11, one after every two)."""
    if not 0 < old_depth <= new_depth:
        raise ValueError(f"can only grow depth ({old_depth} -> {new_depth}): need 0 < old <= new")
    return [j * new_depth // old_depth for j in range(old_depth)]


def grow_depth(src: DiT, cfg: DiTConfig) -> DiT:
    """A DiT of config cfg (more blocks than src, otherwise equal) that predicts exactly src's
    velocity: src's blocks keep their weights at grown_block_positions and every new block starts
    as the identity (adaLN-Zero gates and the cross-attention output at zero, as in a fresh DiT).

    Adds capacity to a trained DiT without starting over (progressive stacking): training then
    opens the new blocks' gates from a model that already draws the world.
    """
    if dataclasses.replace(src.cfg, depth=cfg.depth) != cfg:
        raise ValueError(f"can only grow depth ({src.cfg.depth} -> {cfg.depth}) on the same architecture; "
                         f"src is {src.cfg}, asked for {cfg}")
    keep = grown_block_positions(src.cfg.depth, cfg.depth)
    dit = DiT(cfg)
    state = {k: v.clone() for k, v in src.state_dict().items() if not k.startswith("blocks.")}
    for old, new in enumerate(keep):
        state.update({f"blocks.{new}.{k}": v.clone() for k, v in src.blocks[old].state_dict().items()})
    for i in sorted(set(range(cfg.depth)) - set(keep)):
        state.update({f"blocks.{i}.{k}": v for k, v in dit.blocks[i].state_dict().items()})
    dit.load_state_dict(state)
    return dit


# The layers that read or write latent patches; everything else (text, time, fps, blocks) does not.
LATENT_IO = ("x_embed.weight", "x_embed.bias", "final.linear.weight", "final.linear.bias")


def transplant_body(src: DiT, cfg: DiTConfig) -> DiT:
    """A DiT of config cfg (any latent channels, otherwise equal to src) with src's transformer
    body and a fresh patch embedding and zero output layer, as a new DiT starts.

    For a VAE whose latents are unrelated to src's (one trained from scratch rather than grown
    with vae.grow_latent_channels): what the body learned about text, layout and motion carries
    over, while the latent patches are read and written anew.
    """
    _check_only_channels_differ(src, cfg, "change the latent channels")
    dit = DiT(cfg)
    state = {k: v.clone() for k, v in src.state_dict().items() if k not in LATENT_IO}
    state.update({k: v for k, v in dit.state_dict().items() if k in LATENT_IO})
    dit.load_state_dict(state)
    return dit
