"""BERT's encoder, in-repo: the default text encoder's forward without importing transformers.

all-MiniLM-L6-v2, the default text encoder, is a 6-layer BERT (Devlin et al. 2019). Its token
states need a few milliseconds per prompt, but importing transformers' BertModel costs ~4.5 s of
a 2-core CPU: most of a new prompt's cost, and half of the README's first command on a fresh
machine. This module holds that forward (embeddings, post-norm self-attention and GELU MLP
blocks) over the same `model.safetensors`, with the `tokenizers` library (what transformers'
fast tokenizer wraps; 0.1 s to import) reading the same `tokenizer.json`. Token ids equal
transformers' and token states match BertModel's to float32 rounding (tests/test_text.py).

`kinema.models.text.TextEncoder` uses it for every folder `plain_bert(path)` accepts (a BERT
config with absolute positions and exact GELU, `model.safetensors` and `tokenizer.json`) and
transformers for every other encoder (T5, CLIP, BERT variants).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BertConfig:
    """The fields of a Hugging Face BERT config.json that the forward uses."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"BERT hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
            )

    @classmethod
    def from_dict(cls, cfg: dict) -> "BertConfig":
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__ if k in cfg})


def plain_bert(path: Path) -> bool:
    """Whether the folder holds an encoder this module runs exactly: a BERT config.json with
    absolute position embeddings and exact GELU, weights in model.safetensors, tokenizer.json."""
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        cfg.get("model_type") == "bert"
        and cfg.get("hidden_act", "gelu") == "gelu"
        and cfg.get("position_embedding_type", "absolute") == "absolute"
        and (path / "model.safetensors").is_file()
        and (path / "tokenizer.json").is_file()
    )


class BertLayer(nn.Module):
    """One post-norm block: x = LN(x + attn(x)); x = LN(x + W2 gelu(W1 x))."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        D, eps = cfg.hidden_size, cfg.layer_norm_eps
        self.heads = cfg.num_attention_heads
        self.query, self.key, self.value = nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D)
        self.attn_out, self.attn_norm = nn.Linear(D, D), nn.LayerNorm(D, eps=eps)
        self.ffn_in, self.ffn_out = nn.Linear(D, cfg.intermediate_size), nn.Linear(cfg.intermediate_size, D)
        self.ffn_norm = nn.LayerNorm(D, eps=eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x: (B, L, D); keep: (B, 1, 1, L) bool, True where a key is a real token."""
        B, L, D = x.shape
        q, k, v = (proj(x).view(B, L, self.heads, D // self.heads).transpose(1, 2) for proj in (self.query, self.key, self.value))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # (B, heads, L, D / heads)
        x = self.attn_norm(x + self.attn_out(a.transpose(1, 2).reshape(B, L, D)))
        return self.ffn_norm(x + self.ffn_out(F.gelu(self.ffn_in(x))))


# transformers' parameter names (a "bert." prefix dropped first) -> this module's
_RENAMES = [
    (r"^embeddings\.word_embeddings\.", "word."),
    (r"^embeddings\.position_embeddings\.", "position."),
    (r"^embeddings\.token_type_embeddings\.", "token_type."),
    (r"^embeddings\.LayerNorm\.", "embed_norm."),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.", r"layers.\1.\2."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attn_out."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.attn_norm."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.ffn_in."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.ffn_out."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.ffn_norm."),
]


def _rename(name: str) -> str | None:
    name = name.removeprefix("bert.")
    for pattern, repl in _RENAMES:
        new, n = re.subn(pattern, repl, name)
        if n:
            return new
    return None  # the pooler, position_ids buffers, task heads: unused


class BertEncoder(nn.Module):
    """Token ids -> last hidden states, as BertModel(...).last_hidden_state.

    forward(input_ids (B, L) long, attention_mask (B, L) 0/1) -> (B, L, D) float32. Token type 0
    and positions 0..L-1 throughout, as a single-segment prompt has them.
    """

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        D = cfg.hidden_size
        self.word = nn.Embedding(cfg.vocab_size, D)
        self.position = nn.Embedding(cfg.max_position_embeddings, D)
        self.token_type = nn.Embedding(cfg.type_vocab_size, D)
        self.embed_norm = nn.LayerNorm(D, eps=cfg.layer_norm_eps)
        self.layers = nn.ModuleList(BertLayer(cfg) for _ in range(cfg.num_hidden_layers))

    @classmethod
    def from_folder(cls, path: Path) -> "BertEncoder":
        """Build from config.json and load model.safetensors; a weight missing, extra or of the wrong
        shape is an error naming the file and the weight."""
        from safetensors.torch import load_file

        cfg = BertConfig.from_dict(json.loads((path / "config.json").read_text(encoding="utf-8")))
        model = cls(cfg)  # (not on the meta device: that imports torch._dynamo, 1.8 s)
        state = {new: t.float() for name, t in load_file(str(path / "model.safetensors")).items() if (new := _rename(name))}
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as e:
            raise RuntimeError(f"{path}/model.safetensors does not hold the BERT of its config.json: {e}") from None
        return model.eval().requires_grad_(False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        B, L = input_ids.shape
        if L > self.config.max_position_embeddings:
            raise ValueError(f"{L} tokens exceed BERT's {self.config.max_position_embeddings} positions; truncate the prompt")
        positions = torch.arange(L, device=input_ids.device)
        x = self.word(input_ids) + self.token_type(torch.zeros_like(input_ids)) + self.position(positions)[None]
        x = self.embed_norm(x)  # (B, L, D)
        keep = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, L)
        for layer in self.layers:
            x = layer(x, keep)
        return x


class BertTokenizer:
    """tokenizer.json through the `tokenizers` library: prompt -> input ids (1, l), [CLS] and [SEP]
    included, truncated to max_length tokens. model_max_length: tokenizer_config.json's limit."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.no_padding()  # the file may pad to a fixed length; prompts are encoded one by one
        try:
            limit = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8")).get("model_max_length")
        except (OSError, ValueError):
            limit = None
        self.model_max_length = int(limit) if isinstance(limit, (int, float)) and math.isfinite(limit) else None

    def __call__(self, prompt: str, max_length: int) -> torch.Tensor:
        self._tok.enable_truncation(max_length)  # special tokens count towards it, as in transformers
        return torch.tensor([self._tok.encode(prompt).ids])  # (1, l)
