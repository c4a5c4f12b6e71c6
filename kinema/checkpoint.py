"""The on-disk formats shared by training and the pipeline.

A *part* (vae, dit, null_text, ...) is a folder with two files:

    config.json          the config dataclass's fields plus "class": its class name
    model.safetensors    the weights (safetensors: no pickle, memory-mappable)

A *model* is a folder of parts plus `model_index.json`, which names each part's subfolder
(or, for the text encoder, a path or package name) and its classes. A *training
checkpoint* is a folder holding everything `--resume` needs to continue bit-exactly:
weights, EMA weights, optimizer state, step, RNG states and the data sampler position.

Every write is atomic: files are written next to their target and moved into place with
`os.replace`, and a training checkpoint is built in `<folder>.tmp` and swapped in only when
complete, so a crash (or a NaN stop) never leaves a half-written checkpoint behind and the
previous good one survives until the new one exists.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "INDEX_NAME",
    "config_to_dict",
    "config_from_dict",
    "save_config",
    "load_config",
    "save_weights",
    "load_weights",
    "save_part",
    "load_part",
    "save_model_index",
    "read_model_index",
    "find_vae_part",
    "get_rng_states",
    "set_rng_states",
    "save_training_state",
    "load_training_state",
    "has_training_state",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model_index.json"
STATE_NAME = "state.json"  # training checkpoint: step, data position, config
OPTIMIZER_NAME = "optimizer.pt"
RNG_NAME = "rng.pt"
EMA_NAME = "ema.safetensors"


# ---------------------------------------------------------------------------------------
# small atomic-write helpers

def _replace_atomic(tmp: Path, target: Path) -> None:
    """fsync tmp, then move it over target in one step (os.replace is atomic on POSIX)."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    _replace_atomic(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


# ---------------------------------------------------------------------------------------
# configs

def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass -> JSON-able dict with its class name under "class"."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a config dataclass instance, got {type(config).__name__}")
    d = {"class": type(config).__name__}
    d.update(json.loads(json.dumps(dataclasses.asdict(config))))  # tuples -> lists, checks JSON-ability
    return d


def config_from_dict(d: dict[str, Any], config_cls: type, *, source: str = "config") -> Any:
    """Inverse of config_to_dict; errors name the class or keys that do not match."""
    d = dict(d)
    name = d.pop("class", config_cls.__name__)
    if name != config_cls.__name__:
        raise ValueError(f"{source} holds a {name}, not a {config_cls.__name__}; point at the right part folder")
    valid = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(d) - valid)
    if unknown:
        raise ValueError(
            f"{source} has keys {unknown} that {config_cls.__name__} does not know; "
            f"valid keys: {sorted(valid)} (was it written by a newer Kinema?)"
        )
    return config_cls(**d)


def save_config(folder: str | os.PathLike, config: Any) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_NAME
    _write_json(path, config_to_dict(config))
    return path


def load_config(folder: str | os.PathLike, config_cls: type) -> Any:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"missing {path}; a part folder needs {CONFIG_NAME} and {WEIGHTS_NAME} (written by save_part)"
        )
    return config_from_dict(json.loads(path.read_text()), config_cls, source=str(path))


# ---------------------------------------------------------------------------------------
# weights

def _state_to_save(state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors that share storage (tied weights, views)
    out = {}
    for k, v in state.items():
        v = v.detach().to("cpu")
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v.contiguous().clone()
    return out


def save_weights(path: str | os.PathLike, state: dict[str, torch.Tensor], *, dtype: torch.dtype | None = None) -> Path:
    """Write a state dict to a .safetensors file atomically; float tensors cast to dtype if given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(_state_to_save(state, dtype), str(tmp))
    _replace_atomic(tmp, path)
    return path


def load_weights(module: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a .safetensors file into module, with errors naming the file and first bad tensor.

    Tensors are cast to the module's own dtype (a bf16 export loads into an fp32 model).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing weights file {path}; save it with save_part / save_weights")
    state = load_file(str(path))
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(
            f"{path} does not match {type(module).__name__}: "
            f"{len(missing)} missing tensors (first: {missing[:3]}), "
            f"{len(unexpected)} unexpected (first: {unexpected[:3]}); "
            f"check that config.json describes the same model as the weights"
        )
    for k, v in own.items():
        if state[k].shape != v.shape:
            raise ValueError(
                f"{path}: tensor {k!r} has shape {tuple(state[k].shape)} in the file but "
                f"{tuple(v.shape)} in the model; the config does not match the weights "
                f"(first differing tensor shown)"
            )
    module.load_state_dict(state)  # copy_ casts to the parameter dtype
    return module


# ---------------------------------------------------------------------------------------
# parts and model index

def save_part(folder: str | os.PathLike, module: nn.Module, config: Any, *, dtype: torch.dtype | None = None) -> Path:
    """Write folder/config.json and folder/model.safetensors (each atomically).

    dtype: cast float weights for export (e.g. torch.bfloat16 halves the size).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder / WEIGHTS_NAME, module.state_dict(), dtype=dtype)
    save_config(folder, config)  # config last: a folder with config.json is complete
    return folder


def load_part(
    folder: str | os.PathLike,
    module_cls: type[nn.Module],
    config_cls: type,
    *,
    device: torch.device | str = "cpu",
) -> nn.Module:
    """Build module_cls(config) from folder/config.json and load folder/model.safetensors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"part folder {folder} does not exist; train the part or fix the path")
    config = load_config(folder, config_cls)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"missing {weights}; the part folder has a config but no weights (interrupted export?)")
    module = module_cls(config)
    load_weights(module, weights)
    return module.to(device)


def save_model_index(folder: str | os.PathLike, parts: dict[str, Any]) -> Path:
    """Write folder/model_index.json: {"parts": {name: entry}}.

    An entry is a subfolder name ("vae"), or a dict such as
    {"path": "vae", "class": "VideoVAE", "config_class": "VAEConfig"} or, for a text
    encoder that lives outside the folder, {"name": "all-MiniLM-L6-v2", "dim": 384}.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / INDEX_NAME
    _write_json(path, {"format": "kinema", "version": 1, "parts": parts})
    return path


def read_model_index(folder: str | os.PathLike) -> dict[str, Any]:
    """Read folder/model_index.json and return its "parts" dict."""
    path = Path(folder) / INDEX_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"missing {path}; a Kinema model folder lists its parts there "
            f"(written by training's export or KinemaPipeline.save_pretrained)"
        )
    index = json.loads(path.read_text())
    if not isinstance(index, dict) or "parts" not in index:
        raise ValueError(f"{path} has no 'parts' entry; it was not written by save_model_index")
    return index["parts"]


def find_vae_part(path: str | os.PathLike) -> Path:
    """A VAE part folder, or an export folder whose model_index.json names one."""
    p = Path(path)
    if (p / CONFIG_NAME).is_file():
        return p
    if (p / INDEX_NAME).is_file():
        entry = read_model_index(p).get("vae")
        if entry is not None:
            return p / (entry["path"] if isinstance(entry, dict) else entry)
    if (p / "vae" / CONFIG_NAME).is_file():
        return p / "vae"
    raise FileNotFoundError(
        f"no trained VAE at {p}; train one first (`kinema train vae --config default-vae`) and set "
        f"vae=<its output_dir>/export, or point vae= at a VAE part folder (config.json + model.safetensors)"
    )



# ---------------------------------------------------------------------------------------
# RNG states

def get_rng_states(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Python, numpy, torch (CPU and CUDA) global RNG states plus named torch.Generators."""
    np_state = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        # numpy's state holds a uint32 array; store it as a tensor so torch.load(weights_only) works
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {k: g.get_state() for k, g in (generators or {}).items()},
    }
    return states


def set_rng_states(states: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> None:
    """Restore what get_rng_states captured (generators are restored in place)."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    name, key, *rest = states["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    saved = states.get("generators", {})
    for k, g in (generators or {}).items():
        if k not in saved:
            raise KeyError(f"checkpoint has no RNG state for generator {k!r}; it has {sorted(saved)}")
        g.set_state(saved[k])


# ---------------------------------------------------------------------------------------
# training checkpoints

def _state_dict(obj: nn.Module | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return obj.state_dict() if isinstance(obj, nn.Module) else obj


def has_training_state(folder: str | os.PathLike) -> bool:
    """True if a complete training checkpoint exists at folder (or its .old backup)."""
    folder = Path(folder)
    return (folder / STATE_NAME).is_file() or (folder.with_name(folder.name + ".old") / STATE_NAME).is_file()


def save_training_state(
    folder: str | os.PathLike,
    *,
    model: nn.Module | dict[str, torch.Tensor],
    ema: nn.Module | dict[str, torch.Tensor] | None,
    optimizer: torch.optim.Optimizer,
    step: int,
    rng_states: dict[str, Any],
    data_state: dict[str, Any],
    config: Any,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a complete training checkpoint to folder, atomically.

    Everything goes to `<folder>.tmp` first; then the old checkpoint is moved to
    `<folder>.old`, the new one renamed into place, and the old one deleted. At every
    instant either folder or folder.old is a complete checkpoint. model / ema: the
    unwrapped modules (not DDP) or their state dicts; weights stay fp32 for exact resume.
    """
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    old = folder.with_name(folder.name + ".old")
    if tmp.exists():
        shutil.rmtree(tmp)  # left by a crash mid-save: incomplete by construction
    tmp.mkdir(parents=True)

    save_weights(tmp / WEIGHTS_NAME, _state_dict(model))
    if ema is not None:
        save_weights(tmp / EMA_NAME, _state_dict(ema))
    torch.save(optimizer.state_dict(), tmp / OPTIMIZER_NAME)
    torch.save(rng_states, tmp / RNG_NAME)
    state = {
        "step": int(step),
        "data_state": data_state,
        "config": config_to_dict(config) if dataclasses.is_dataclass(config) else config,
        "extra": extra or {},
    }
    _write_json(tmp / STATE_NAME, state)  # written last: its presence marks a complete checkpoint

    if folder.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old.exists():
        shutil.rmtree(old)
    return folder


def slim_training_state(folder: str | os.PathLike, out: str | os.PathLike, *, dtype: torch.dtype = torch.bfloat16) -> Path:
    """A copy of a training checkpoint small enough to commit: the weights in `dtype`, step, data
    position, config and RNG states, without the EMA and the AdamW state (a quarter of the size in
    bf16). `load_training_state` resumes from it with the EMA restarted from the weights and Adam's
    moments fresh (`kinema train` re-warms the learning rate); the run is then no longer bit-exact.
    """
    folder, out = Path(folder), Path(out)
    if not (folder / STATE_NAME).is_file():
        raise FileNotFoundError(f"no training checkpoint at {folder} (missing {STATE_NAME})")
    if out.resolve() == folder.resolve():
        raise ValueError(f"out {out} is the checkpoint itself; write the slim copy elsewhere")
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.to(dtype) if v.is_floating_point() else v for k, v in load_file(str(folder / WEIGHTS_NAME)).items()}
    save_file(weights, str(out / WEIGHTS_NAME))
    for name in (STATE_NAME, RNG_NAME):
        shutil.copy2(folder / name, out / name)
    return out


def load_training_state(
    folder: str | os.PathLike,
    *,
    model: nn.Module,
    ema: nn.Module | None,
    optimizer: torch.optim.Optimizer | None,
) -> dict[str, Any]:
    """Load a checkpoint written by save_training_state into model, ema and optimizer.

    Returns {"step", "rng_states", "data_state", "config" (a dict), "extra", "optimizer_restored"
    (False when the checkpoint holds no optimizer state)}; the caller
    restores RNG states (set_rng_states) once everything else is built.
    """
    folder = Path(folder)
    if not (folder / STATE_NAME).is_file():
        old = folder.with_name(folder.name + ".old")
        if (old / STATE_NAME).is_file():  # crashed between the two renames of a save
            folder = old
        else:
            raise FileNotFoundError(
                f"no training checkpoint at {folder} (missing {STATE_NAME}); "
                f"start without --resume, or point output_dir at the run to continue"
            )
    state = json.loads((folder / STATE_NAME).read_text())
    load_weights(model, folder / WEIGHTS_NAME)
    if ema is not None:
        if (folder / EMA_NAME).is_file():
            load_weights(ema, folder / EMA_NAME)
        else:  # a slim checkpoint (slim_training_state): the average restarts from the weights
            ema.load_state_dict(model.state_dict())
            warnings.warn(f"{folder} has no {EMA_NAME}; the EMA restarts from the weights "
                          "(the run is no longer bit-exact with an uninterrupted one)", stacklevel=2)
    optimizer_restored = (folder / OPTIMIZER_NAME).is_file()
    if optimizer is not None:
        if optimizer_restored:
            optimizer.load_state_dict(torch.load(folder / OPTIMIZER_NAME, map_location="cpu", weights_only=True))
        else:  # a checkpoint shipped without its optimizer (half the size): Adam's moments restart
            warnings.warn(f"{folder} has no {OPTIMIZER_NAME}; continuing with a fresh optimizer state "
                          "(the run is no longer bit-exact with an uninterrupted one)", stacklevel=2)
    rng = torch.load(folder / RNG_NAME, map_location="cpu", weights_only=True)
    return {
        "step": state["step"],
        "rng_states": rng,
        "data_state": state["data_state"],
        "config": state["config"],
        "extra": state.get("extra", {}),
        "optimizer_restored": optimizer_restored,
    }

