"""The on-disk formats: parts, model index, atomic training checkpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from kinema import checkpoint as ckpt


@dataclass(frozen=True)
class TinyConfig:
    dim: int = 4
    depth: int = 2
    widths: tuple[int, ...] = (3, 5)

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(self.widths))


class Tiny(nn.Module):
    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList(nn.Linear(cfg.dim, cfg.dim) for _ in range(cfg.depth))
        self.register_buffer("scale", torch.ones(cfg.dim))


def _model(seed: int = 0, **kw) -> Tiny:
    torch.manual_seed(seed)
    return Tiny(TinyConfig(**kw))


def test_part_round_trip(tmp_path):
    m = _model()
    ckpt.save_part(tmp_path / "p", m, m.cfg)
    cfg_json = json.loads((tmp_path / "p" / "config.json").read_text())
    assert cfg_json["class"] == "TinyConfig" and cfg_json["widths"] == [3, 5]
    m2 = ckpt.load_part(tmp_path / "p", Tiny, TinyConfig)
    assert m2.cfg == m.cfg
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    assert not list((tmp_path / "p").glob(".*tmp"))  # temp files were moved into place


def test_part_bf16_export_loads_into_fp32(tmp_path):
    m = _model()
    ckpt.save_part(tmp_path / "p", m, m.cfg, dtype=torch.bfloat16)
    m2 = ckpt.load_part(tmp_path / "p", Tiny, TinyConfig)
    w = m2.layers[0].weight
    assert w.dtype == torch.float32
    assert torch.equal(w, m.layers[0].weight.to(torch.bfloat16).float())


def test_part_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ckpt.load_part(tmp_path / "nope", Tiny, TinyConfig)
    m = _model()
    ckpt.save_part(tmp_path / "p", m, m.cfg)
    (tmp_path / "p" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        ckpt.load_part(tmp_path / "p", Tiny, TinyConfig)
    (tmp_path / "p" / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        ckpt.load_part(tmp_path / "p", Tiny, TinyConfig)


def test_part_shape_mismatch_names_tensor(tmp_path):
    m = _model(dim=4)
    ckpt.save_part(tmp_path / "p", m, m.cfg)
    # a config that disagrees with the weights: the first differing tensor is named
    ckpt.save_config(tmp_path / "p", TinyConfig(dim=6))
    with pytest.raises(ValueError, match=r"tensor 'scale' has shape \(4,\) in the file but \(6,\) in the model"):
        ckpt.load_part(tmp_path / "p", Tiny, TinyConfig)
    ckpt.save_config(tmp_path / "p", TinyConfig(dim=4, depth=3))
    with pytest.raises(ValueError, match="missing tensors.*layers.2"):
        ckpt.load_part(tmp_path / "p", Tiny, TinyConfig)


def test_config_errors(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "config.json").write_text(json.dumps({"class": "TinyConfig", "dim": 4, "wat": 1}))
    with pytest.raises(ValueError, match=r"\['wat'\].*valid keys.*depth"):
        ckpt.load_config(tmp_path / "p", TinyConfig)
    (tmp_path / "p" / "config.json").write_text(json.dumps({"class": "DiTConfig"}))
    with pytest.raises(ValueError, match="holds a DiTConfig, not a TinyConfig"):
        ckpt.load_config(tmp_path / "p", TinyConfig)


def test_model_index(tmp_path):
    parts = {"vae": {"path": "vae", "class": "VideoVAE"}, "dit": "dit", "text_encoder": {"name": "minilm", "dim": 384}}
    ckpt.save_model_index(tmp_path, parts)
    assert ckpt.read_model_index(tmp_path) == parts
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        ckpt.read_model_index(tmp_path / "missing")


def _train_state(tmp_path, m, step):
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    loss = sum(layer(torch.ones(1, 4)).sum() for layer in m.layers)
    loss.backward()
    opt.step()
    g = torch.Generator().manual_seed(5)
    ckpt.save_training_state(
        tmp_path / "checkpoint", model=m, ema=m.state_dict(), optimizer=opt, step=step,
        rng_states=ckpt.get_rng_states({"noise": g}), data_state={"epoch": 1, "batch": 7}, config=m.cfg,
    )
    return opt


def test_training_state_round_trip(tmp_path):
    m = _model(0)
    opt = _train_state(tmp_path, m, step=3)
    m2, e2 = _model(1), _model(2)
    opt2 = torch.optim.AdamW(m2.parameters(), lr=1e-2)
    st = ckpt.load_training_state(tmp_path / "checkpoint", model=m2, ema=e2, optimizer=opt2)
    assert st["step"] == 3 and st["data_state"] == {"epoch": 1, "batch": 7}
    assert st["config"]["class"] == "TinyConfig"
    for a, b, c in zip(m.parameters(), m2.parameters(), e2.parameters()):
        assert torch.equal(a, b) and torch.equal(a, c)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) for k in s1)
    g = torch.Generator()
    ckpt.set_rng_states(st["rng_states"], {"noise": g})
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=torch.Generator().manual_seed(5)))


def test_training_state_is_atomic(tmp_path):
    m = _model(0)
    _train_state(tmp_path, m, step=1)
    # a crash mid-save leaves only <folder>.tmp; the good checkpoint is untouched and loads
    (tmp_path / "checkpoint.tmp").mkdir()
    (tmp_path / "checkpoint.tmp" / "model.safetensors").write_bytes(b"garbage")
    st = ckpt.load_training_state(tmp_path / "checkpoint", model=_model(1), ema=None, optimizer=None)
    assert st["step"] == 1
    # the next save replaces the stale tmp and the previous checkpoint
    _train_state(tmp_path, m, step=2)
    assert not (tmp_path / "checkpoint.tmp").exists() and not (tmp_path / "checkpoint.old").exists()
    # a crash between the two renames leaves only <folder>.old: still loadable
    (tmp_path / "checkpoint").rename(tmp_path / "checkpoint.old")
    assert ckpt.has_training_state(tmp_path / "checkpoint")
    st = ckpt.load_training_state(tmp_path / "checkpoint", model=_model(1), ema=None, optimizer=None)
    assert st["step"] == 2
    with pytest.raises(FileNotFoundError, match="without --resume"):
        ckpt.load_training_state(tmp_path / "other", model=m, ema=None, optimizer=None)


def test_resume_without_optimizer_file_warns_and_keeps_weights(tmp_path):
    import warnings

    from kinema.checkpoint import get_rng_states, load_training_state, save_training_state

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    save_training_state(tmp_path / "ck", model=model, ema=None, optimizer=opt, step=5,
                        rng_states=get_rng_states(), data_state={"epoch": 0, "batch": 5}, config=None)
    (tmp_path / "ck" / "optimizer.pt").unlink()
    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = load_training_state(tmp_path / "ck", model=fresh, ema=None, optimizer=fresh_opt)
    assert state["step"] == 5 and any("fresh optimizer" in str(w.message) for w in caught)
    assert state["optimizer_restored"] is False
    assert torch.equal(fresh.weight, model.weight) and not fresh_opt.state


def test_a_slim_checkpoint_resumes_with_bf16_weights_and_the_ema_restarted(tmp_path):
    import warnings

    from kinema.checkpoint import get_rng_states, load_training_state, save_training_state, slim_training_state

    model, ema = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    save_training_state(tmp_path / "ck", model=model, ema=ema, optimizer=opt, step=7,
                        rng_states=get_rng_states(), data_state={"epoch": 1, "batch": 2}, config=None)
    slim = slim_training_state(tmp_path / "ck", tmp_path / "slim")
    assert sorted(p.name for p in slim.iterdir()) == ["model.safetensors", "rng.pt", "state.json"]
    fresh, fresh_ema = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = load_training_state(slim, model=fresh, ema=fresh_ema, optimizer=torch.optim.AdamW(fresh.parameters()))
    assert state["step"] == 7 and state["data_state"] == {"epoch": 1, "batch": 2} and not state["optimizer_restored"]
    assert any("EMA restarts" in str(w.message) for w in caught)
    assert torch.equal(fresh.weight, model.weight.detach().to(torch.bfloat16).float())  # bf16-rounded
    assert torch.equal(fresh_ema.weight, fresh.weight)
    with pytest.raises(ValueError, match="elsewhere"):
        slim_training_state(tmp_path / "ck", tmp_path / "ck")
