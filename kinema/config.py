"""Training configuration: one frozen dataclass (`TrainConfig`) read from a YAML recipe plus
`key=value` overrides, typed field by field, with errors that name the bad key and the valid ones.

    cfg = load_config("default-dit", ["lr=1e-4", "model_config.depth=4"], kind="dit")

Recipes live in `configs/` ("default-vae" -> configs/vae.yaml). `kinema.train` runs a config;
`kinema.eval.clip` reuses `coerce_field` and `parse_overrides` for its own config.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "KINDS",
    "TrainConfig",
    "coerce_field",
    "config_from_dict",
    "load_config",
    "parse_overrides",
    "resolve_recipe",
]

KINDS = ("vae", "dit")
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; saved inside every checkpoint.

    Batch size is global: under torchrun each of N ranks gets batch_size / N clips.
    Steps count optimizer updates. Intervals of 0 disable that event.
    """

    kind: str = "dit"  # "vae" | "dit"
    data: str = "data/world"  # dataset folder: manifest.jsonl + videos (kinema.data format)
    output_dir: str = "runs/dit"
    model: str = "s"  # preset: vae "tiny" | "base"; dit "tiny" | "s" | "b"
    model_config: dict[str, Any] | None = None  # fields over the preset, e.g. {depth: 8}

    # warm start (not with --resume): VAE: a VAE part or export folder; DiT: a model folder. Latent
    # channels may grow (vae.grow_latent_channels, dit.grow_in_channels), and a DiT's depth
    # (dit.grow_depth: new blocks start as the identity); the rest must match.
    init_from: str | None = None
    # VAE only, with init_from: train the decoder alone. The latents stay exactly those a DiT was
    # trained on, so a decoder improved this way (e.g. with a refine head) ships with that DiT.
    freeze_encoder: bool = False
    # DiT only, with init_from: keep the source's transformer body but start its patch embedding
    # and output layer afresh (dit.transplant_body), for a VAE whose latents are not a superset
    # of the source's, e.g. one trained from scratch.
    init_body_only: bool = False
    # VAE only: an adversarial term (kinema.models.disc, hinge PatchGAN on single frames) for
    # sharper edges. adv_weight scales it after the adaptive weight that matches its gradient at
    # the decoder's last layer to the reconstruction loss's (0 = no discriminator). The critic
    # trains from step 0; the decoder feels it from adv_start_step on.
    adv_weight: float = 0.0
    adv_start_step: int = 0
    disc_channels: tuple[int, ...] = (32, 64, 128)

    # DiT only: where latents come from and how text is read
    vae: str = "runs/vae/export"  # a VAE part folder or an export folder holding vae/
    latent_cache: str | None = None  # None: <output_dir>/latents
    text_encoder: str | None = None  # local Hugging Face folder; None: packaged all-MiniLM-L6-v2
    text_max_length: int = 64
    null_text_tokens: int = 1
    caption_dropout: float = 0.1  # empty caption -> learned null text (CFG, Ho & Salimans 2022)

    # data
    num_frames: int = 17  # VAE training window in video frames (1 + 4k); the DiT trains on whole cached clips
    crop_size: int = 0  # VAE only: train on random crop_size x crop_size windows (0 = whole frames)
    num_workers: int = 0

    # optimisation
    batch_size: int = 8
    lr: float = 3e-4
    min_lr: float = 0.0  # cosine decays to this; 0 = all the way down (best in our runs)
    warmup_steps: int = 200
    total_steps: int = 10000
    lr_cycle_start: int = 0  # warm restart: warmup + cosine count from this step (continue a finished run)
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 = no clipping (the norm is still logged)
    ema_decay: float = 0.999
    bf16: bool = True  # bf16 autocast where native (kinema.precision); weights, loss, AdamW state fp32

    # DiT training mixture (kinema.flow; DESIGN.md "per-frame noise levels")
    p_independent_t: float = 0.5  # per clip: independent t per frame, else one shared t
    p_image: float = 0.0  # per step: the batch's first latent frames alone (text -> image is a 1-frame video)
    object_weight: float = 0.0  # > 0: world data only; a probe after block object_block predicts the simulator's
    object_block: int = 3  # object maps per latent cell (kinema.models.objects), loss added with this weight
    cond_none: float = 0.6  # conditioning-mask mode probabilities (Open-Sora v1.2)
    cond_first: float = 0.15
    cond_last: float = 0.05
    cond_first_last: float = 0.1
    cond_random: float = 0.1
    timestep_shift: float = 1.0  # SD3 shift of the training (and sample) t
    logit_mean: float = 0.0  # logit-normal t (Esser et al. 2024)
    logit_std: float = 1.0
    noise_shared: float = 0.0  # share of the noise's variance common to all latent frames (flow.frame_noise)

    # logging, samples, checkpoints
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 1000
    checkpoint_minutes: float = 30.0
    num_samples: int = 4  # VAE: clips reconstructed; DiT: prompts sampled
    sample_prompts: tuple[str, ...] = (
        "a red ball bounces on the floor",
        "a blue box slides to the right",
        "a small green triangle falls",
        "a yellow ball rolls left and comes to rest",
    )
    sample_steps: int = 25
    sample_guidance: float = 3.0
    latent_stats_clips: int = 16  # VAE export: clips used to measure latent mean / std
    export_dtype: str = "bfloat16"  # "float32" | "bfloat16" for the exported EMA weights

    # run control
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:1" ...
    stop_at_step: int = 0  # end this run early (with a checkpoint) at this step; resume later
    debug_nan_step: int = 0  # test hook: make the loss NaN at this step (0 = off)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_prompts", tuple(self.sample_prompts))
        object.__setattr__(self, "disc_channels", tuple(int(c) for c in self.disc_channels))
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        presets = _presets(self.kind)
        if self.model not in presets:
            raise ValueError(f"model {self.model!r} is not a {self.kind} preset; choose from {sorted(presets)}")
        if self.model_config is not None:
            cls = type(presets[self.model])
            valid = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(self.model_config) - valid)
            if unknown:
                raise ValueError(f"model_config keys {unknown} are not {cls.__name__} fields; valid keys: {sorted(valid)}")
        positive = ("batch_size", "total_steps", "num_frames", "text_max_length", "null_text_tokens", "sample_steps")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        non_negative = ("warmup_steps", "num_workers", "weight_decay", "grad_clip", "log_every", "sample_every",
                        "checkpoint_every", "checkpoint_minutes", "num_samples", "latent_stats_clips",
                        "stop_at_step", "debug_nan_step", "min_lr", "adv_weight", "adv_start_step")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.crop_size < 0 or self.crop_size % 8:
            raise ValueError(f"crop_size={self.crop_size} must be 0 (whole frames) or a positive multiple of 8, e.g. 64")
        if (self.num_frames - 1) % 4:
            lo = 1 + (self.num_frames - 1) // 4 * 4
            raise ValueError(f"num_frames={self.num_frames} must be 1 + 4k for the causal VAE; try {lo} or {lo + 4}")
        if not 0 < self.lr or self.min_lr > self.lr:
            raise ValueError(f"need 0 < lr and min_lr <= lr, got lr={self.lr}, min_lr={self.min_lr}")
        if self.warmup_steps > self.total_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} exceeds total_steps={self.total_steps}; lower it")
        if not 0 <= self.lr_cycle_start <= self.total_steps - self.warmup_steps:
            raise ValueError(f"lr_cycle_start={self.lr_cycle_start} must be in [0, total_steps - warmup_steps] = "
                             f"[0, {self.total_steps - self.warmup_steps}]; raise total_steps for a longer cycle")
        for name in ("ema_decay", "beta1", "beta2", "caption_dropout", "p_independent_t", "p_image"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        probs = self.condition_probs
        if min(probs.values()) < 0 or sum(probs.values()) <= 0:
            raise ValueError(f"cond_* probabilities must be >= 0 with a positive sum, got {probs}")
        if not 0.0 <= self.noise_shared < 1.0:
            raise ValueError(f"noise_shared must be in [0, 1) (0 = iid noise per frame), got {self.noise_shared}")
        if self.timestep_shift <= 0 or self.logit_std <= 0:
            raise ValueError("timestep_shift and logit_std must be > 0 (timestep_shift 1.0 disables the shift)")
        if self.export_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"export_dtype must be 'float32' or 'bfloat16', got {self.export_dtype!r}")
        if self.init_body_only and (self.kind != "dit" or not self.init_from):
            raise ValueError("init_body_only keeps a trained DiT's body: it needs kind=dit and init_from=<a model folder>")
        if self.freeze_encoder and (self.kind != "vae" or not self.init_from):
            raise ValueError("freeze_encoder keeps a trained VAE's encoder: it needs kind=vae and init_from=<a VAE folder>")
        if self.object_weight < 0 or (self.object_weight and self.kind != "dit"):
            raise ValueError(f"object_weight={self.object_weight} is the DiT's object-map term: >= 0, and 0 for a VAE run")
        if self.object_weight and self.object_block < 1:
            raise ValueError(f"object_block={self.object_block} counts DiT blocks before the object probe: >= 1")
        if self.adv_weight and self.kind != "vae":
            raise ValueError("adv_weight is the VAE's adversarial term; set it to 0 for a DiT run")
        if self.adv_weight and (not self.disc_channels or min(self.disc_channels) < 1):
            raise ValueError(f"disc_channels must be positive widths, e.g. [32, 64, 128], got {list(self.disc_channels)}")
        if self.kind == "dit" and self.num_samples > 0 and not self.sample_prompts:
            raise ValueError("sample_prompts is empty; give at least one prompt or set num_samples=0")

    @property
    def condition_probs(self) -> dict[str, float]:
        return {"none": self.cond_none, "first": self.cond_first, "last": self.cond_last,
                "first_last": self.cond_first_last, "random": self.cond_random}

    def model_cfg(self) -> Any:
        """The VAEConfig / DiTConfig this run builds: the preset with model_config applied."""
        return dataclasses.replace(_presets(self.kind)[self.model], **(self.model_config or {}))


def _presets(kind: str) -> dict[str, Any]:
    if kind == "vae":
        from kinema.models.vae import VAE_PRESETS
        return dict(VAE_PRESETS)
    from kinema.models.dit import DIT_B, DIT_S, DIT_TINY
    return {"tiny": DIT_TINY, "s": DIT_S, "b": DIT_B}


def coerce_field(name: str, value: Any, typ: Any) -> Any:
    """A YAML or command-line value -> the field's type, or a ValueError naming both."""
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~")):
            return None
        (typ,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(typ), typing.get_args(typ)
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
                return value.lower() in ("true", "yes", "on", "1")
            raise ValueError
        if typ is int:
            if isinstance(value, bool):
                raise ValueError
            f = float(value)
            if not f.is_integer():
                raise ValueError
            return int(f)
        if typ is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)  # also "1e-3", which YAML 1.1 reads as a string
        if typ is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            return str(value)
        if origin is tuple:
            if isinstance(value, str):
                import yaml
                value = yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            elem = args[0] if args else str
            return tuple(coerce_field(name, v, elem) for v in value)
        if origin is dict:
            if isinstance(value, str):
                import yaml
                value = yaml.safe_load(value)
            if not isinstance(value, dict):
                raise ValueError
            return dict(value)
    except (TypeError, ValueError):
        pass
    else:
        raise TypeError(f"unsupported field type {typ} for {name}")
    raise ValueError(f"{name}={value!r} is not a valid {getattr(typ, '__name__', typ)}")


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """["lr=1e-3", "model_config.depth=4"] -> {"lr": "1e-3", "model_config": {"depth": 4}} (typed later)."""
    import yaml

    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value, e.g. lr=1e-4")
        key, value = item.split("=", 1)
        key = key.strip().removeprefix("--")
        if "." in key:  # model_config.depth=4: one field of the model config
            outer, inner = key.split(".", 1)
            if outer != "model_config":
                raise ValueError(f"override {item!r}: only model_config.<field>=value may use a dot")
            out.setdefault("model_config", {})
            if not isinstance(out["model_config"], dict):
                raise ValueError("give model_config either whole or by field, not both")
            out["model_config"][inner] = yaml.safe_load(value)
        else:
            out[key] = value
    return out


def config_from_dict(values: dict[str, Any], *, source: str = "config") -> TrainConfig:
    """Typed TrainConfig from a mapping; unknown keys are an error that lists the valid ones."""
    hints = typing.get_type_hints(TrainConfig)
    valid = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown}; valid keys are: {', '.join(valid)}")
    return TrainConfig(**{k: coerce_field(k, v, hints[k]) for k, v in values.items()})


def resolve_recipe(name: str) -> Path:
    """A YAML path, or a named recipe: "default-vae" -> configs/vae.yaml, "tiny-dit" -> configs/tiny-dit.yaml."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        return path
    stem = name.removeprefix("default-")
    for folder in (CONFIG_DIR, Path.cwd() / "configs"):
        if (folder / f"{stem}.yaml").is_file():
            return folder / f"{stem}.yaml"
    known = sorted({p.stem for d in (CONFIG_DIR, Path.cwd() / "configs") if d.is_dir() for p in d.glob("*.yaml")})
    names = [f"default-{k}" if k in KINDS else k for k in known]
    raise FileNotFoundError(f"no config file or recipe named {name!r}; recipes: {', '.join(names) or 'none found'}")


def load_config(config: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = (),
                *, kind: str | None = None) -> TrainConfig:
    """YAML file or recipe name (None: the default recipe of kind) + key=value overrides."""
    import yaml

    values: dict[str, Any] = {}
    source = "defaults"
    if config is None and kind is not None:
        try:
            config = resolve_recipe(f"default-{kind}")
        except FileNotFoundError:
            config = None  # installed without configs/: the dataclass defaults
    if config is not None:
        path = resolve_recipe(str(config))
        source = str(path)
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path} must be a mapping of TrainConfig fields, got {type(values).__name__}")
    extra = parse_overrides(overrides)
    if isinstance(extra.get("model_config"), dict) and isinstance(values.get("model_config"), dict):
        extra["model_config"] = {**values["model_config"], **extra["model_config"]}
    values.update(extra)
    if kind is not None:
        if values.get("kind", kind) != kind:
            raise ValueError(f"{source} is a {values['kind']!r} recipe but you asked to train {kind!r}; "
                             f"use `kinema train {values['kind']}` or a {kind} recipe")
        values["kind"] = kind
    return config_from_dict(values, source=source)


def flat_config_from_dict(cls: type, kind: str, values: dict[str, Any], *, source: str = "config") -> Any:
    """A flat frozen dataclass (the video-text model's ClipConfig, the attribute reader's
    AttributeConfig) from a mapping; unknown keys are an error that lists the valid ones, and a
    recipe of another kind is refused."""
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(valid) - {"kind"})
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown}; valid keys are: {', '.join(valid)}")
    if values.get("kind", kind) != kind:
        raise ValueError(f"{source} is a {values['kind']!r} recipe; use `kinema train {values['kind']}` or a {kind} recipe")
    return cls(**{k: coerce_field(k, v, hints[k]) for k, v in values.items() if k != "kind"})


def load_flat_config(cls: type, kind: str, config: str | None, overrides: list[str] | tuple[str, ...]) -> Any:
    """`kinema train KIND [--config FILE|RECIPE] [--set key=value ...]` for a flat config: the
    recipe (None: default-KIND, or the dataclass defaults when installed without configs/) plus
    the overrides, through flat_config_from_dict."""
    import yaml

    values: dict[str, Any] = {}
    source = "defaults"
    try:
        path = resolve_recipe(config or f"default-{kind}")
    except FileNotFoundError:
        if config is not None:
            raise
        path = None
    if path is not None:
        source = str(path)
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path} must be a mapping of {cls.__name__} fields, got {type(values).__name__}")
    extra = parse_overrides(overrides)
    if any(isinstance(v, dict) for v in extra.values()):
        raise ValueError(f"{cls.__name__} has no nested fields; override as key=value, e.g. lr=1e-3")
    values.update(extra)
    return flat_config_from_dict(cls, kind, values, source=source)
