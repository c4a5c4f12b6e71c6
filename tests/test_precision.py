import pytest
import torch

from kinema import precision


def test_kinema_bf16_overrides_the_hardware_choice(monkeypatch):
    monkeypatch.setenv("KINEMA_BF16", "1")
    assert precision.bf16_is_fast("cpu")
    with precision.autocast("cpu"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with precision.autocast("cpu", enabled=False):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    monkeypatch.setenv("KINEMA_BF16", "0")
    assert not precision.bf16_is_fast("cpu")
    with precision.autocast("cpu"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_without_override_bf16_follows_the_cpu(monkeypatch):
    monkeypatch.delenv("KINEMA_BF16", raising=False)
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert precision.bf16_is_fast("cpu") == native


def test_a_bad_kinema_bf16_names_the_fix(monkeypatch):
    monkeypatch.setenv("KINEMA_BF16", "yes")
    with pytest.raises(ValueError, match="must be 0 or 1"):
        precision.bf16_is_fast("cpu")
