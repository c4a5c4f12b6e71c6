"""Training: config loading, tiny VAE/DiT runs, exact resume, NaN stop, DDP == single process."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import runpy
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from kinema.config import TrainConfig, load_config
from kinema.export import export_dit_run
from kinema.train import TrainingDiverged, TrainingInterrupted, image_step, lr_at, train

COLORS = [(230, 40, 40), (40, 90, 230), (40, 200, 60), (240, 210, 40), (160, 60, 200), (250, 140, 30)]


def make_dataset(root: Path, num: int = 4, *, frames: int = 9, size: int = 16, corrupt: int = 0) -> Path:
    """A tiny world-like dataset: a coloured square moving across a grey background."""
    from kinema.video import write_video

    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(num + corrupt):
        name = f"clip{i:03d}"
        if i < num:
            rng = np.random.default_rng(i)
            color, (x0, y0), (dx, dy) = COLORS[i % len(COLORS)], rng.integers(0, size // 2, 2), rng.integers(-2, 3, 2)
            video = np.full((frames, size, size, 3), 128, np.uint8)
            for f in range(frames):
                x, y = int(np.clip(x0 + dx * f, 0, size - 6)), int(np.clip(y0 + dy * f, 0, size - 6))
                video[f, y : y + 6, x : x + 6] = color
            write_video(root / f"{name}.mp4", video, 8.0)
        else:
            (root / f"{name}.mp4").write_bytes(b"this is not an mp4")
        caption = f"a {['red', 'blue', 'green', 'yellow', 'purple', 'orange'][i % 6]} box moves"
        lines.append({"id": name, "file": f"{name}.mp4", "captions": {"short": caption}, "fps": 8.0,
                      "frames": frames, "width": size, "height": size})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "world", corrupt=1)


def tiny(kind: str, data: Path, out: Path, **kw) -> TrainConfig:
    base = load_config(f"tiny-{kind}", [f"data={data}", f"output_dir={out}"], kind=kind)
    return dataclasses.replace(base, **{"sample_every": 0, "log_every": 2, **kw})


@pytest.fixture(scope="module")
def vae_export(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vae")
    return train(tiny("vae", data, out, total_steps=6, sample_every=3))


def losses(out: Path, key: str = "loss") -> list[float]:
    return [r[key] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if key in r]


# ----------------------------------------------------------------------------- config


def test_unknown_key_names_valid_keys(tmp_path):
    (tmp_path / "c.yaml").write_text("kind: vae\nlearning_rate: 1.0e-3\n")
    with pytest.raises(ValueError, match=r"unknown keys \['learning_rate'\].*valid keys are:.*\blr\b.*total_steps"):
        load_config(tmp_path / "c.yaml")
    with pytest.raises(ValueError, match=r"unknown keys \['stepz'\].*valid keys"):
        load_config("tiny-vae", ["stepz=3"])


def test_overrides_are_typed(tmp_path):
    cfg = load_config("tiny-dit", ["lr=1e-4", "total_steps=7", "bf16=false", "text_encoder=none",
                                   "sample_prompts=a red ball,a blue box", "model_config.depth=3"])
    assert cfg.lr == 1e-4 and isinstance(cfg.lr, float)
    assert cfg.total_steps == 7 and isinstance(cfg.total_steps, int)
    assert cfg.bf16 is False and cfg.text_encoder is None
    assert cfg.sample_prompts == ("a red ball", "a blue box")
    assert cfg.model_cfg().depth == 3
    with pytest.raises(ValueError, match="total_steps='x' is not a valid int"):
        load_config("tiny-vae", ["total_steps=x"])
    with pytest.raises(ValueError, match="model_config keys \\['depthh'\\].*valid keys"):
        load_config("tiny-dit", ["model_config.depthh=3"])
    with pytest.raises(ValueError, match="'vae' recipe but you asked to train 'dit'"):
        load_config("tiny-vae", kind="dit")
    with pytest.raises(FileNotFoundError, match="recipes:.*default-vae"):
        load_config("no-such-recipe")
    assert load_config("default-vae").kind == "vae" and load_config(None, kind="dit").kind == "dit"


def test_default_recipes_fit_the_size_budget():
    from kinema.models.dit import DiT
    from kinema.models.vae import VideoVAE

    vae = sum(p.numel() for p in VideoVAE(load_config("default-vae").model_cfg()).parameters())
    dit = sum(p.numel() for p in DiT(load_config("default-dit").model_cfg()).parameters())
    assert 2 * (vae + dit) <= 80e6  # bf16 bytes of the shipped model


def test_lr_schedule_warmup_then_cosine_to_min():
    cfg = TrainConfig(kind="vae", model="tiny", lr=1.0, min_lr=0.0, warmup_steps=4, total_steps=12)
    lrs = [lr_at(s, cfg) for s in range(12)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))
    assert lr_at(12, cfg) == pytest.approx(0.0, abs=1e-12)


def test_lr_warms_up_again_after_a_resume_with_a_fresh_optimizer():
    cfg = TrainConfig(kind="vae", model="tiny", lr=1.0, min_lr=0.0, warmup_steps=4, total_steps=12)
    ramp = [lr_at(s, cfg, rewarm_from=6) / lr_at(s, cfg) for s in range(6, 12)]
    assert ramp == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


def test_lr_warm_restart_counts_from_the_cycle_start():
    base = TrainConfig(kind="vae", model="tiny", lr=1.0, min_lr=0.0, warmup_steps=4, total_steps=12)
    cfg = TrainConfig(kind="vae", model="tiny", lr=1.0, min_lr=0.0, warmup_steps=4, total_steps=22, lr_cycle_start=10)
    # the second cycle is the first one shifted by 10 steps, whether or not the optimizer was restored
    assert [lr_at(s + 10, cfg) for s in range(13)] == pytest.approx([lr_at(s, base) for s in range(13)])
    assert [lr_at(s + 10, cfg, rewarm_from=10) for s in range(13)] == pytest.approx([lr_at(s, base) for s in range(13)])
    with pytest.raises(ValueError, match="lr_cycle_start"):
        TrainConfig(kind="vae", model="tiny", warmup_steps=4, total_steps=12, lr_cycle_start=10)


def test_image_steps_are_drawn_per_step_and_replayable():
    picks = [image_step(0, s, 0.1) for s in range(4000)]
    assert picks == [image_step(0, s, 0.1) for s in range(4000)]  # a resumed run draws the same
    assert 0.08 < sum(picks) / len(picks) < 0.12
    assert not any(image_step(0, s, 0.0) for s in range(100)) and all(image_step(0, s, 1.0) for s in range(100))
    with pytest.raises(ValueError, match="p_image"):
        TrainConfig(kind="dit", p_image=1.5)
    with pytest.raises(ValueError, match=r"noise_shared must be in \[0, 1\)"):
        TrainConfig(kind="dit", noise_shared=1.0)


# ----------------------------------------------------------------------------- training runs


def test_tiny_vae_trains(vae_export, data):
    out = vae_export.parent
    loss = losses(out)
    assert len(loss) == 3 and loss[-1] < loss[0]
    # the corrupt clip was skipped and counted
    assert max(r.get("skipped_clips", 0) for r in map(json.loads, (out / "log.jsonl").read_text().splitlines())) >= 1
    assert (out / "loss.png").is_file() and list((out / "samples").glob("*.png"))
    assert losses(out, "psnr")
    from kinema.checkpoint import load_part, read_model_index
    from kinema.models.vae import VAEConfig, VideoVAE

    assert read_model_index(vae_export)["vae"]["path"] == "vae"
    vae = load_part(vae_export / "vae", VideoVAE, VAEConfig)
    assert vae.cfg.latent_std != 1.0  # measured at export for the DiT


def test_tiny_dit_trains_and_exports_a_pipeline(vae_export, data, tmp_path):
    cfg = tiny("dit", data, tmp_path, vae=str(vae_export), total_steps=12, sample_every=12, lr=3e-3)
    export = train(cfg)
    assert len(losses(tmp_path)) == 6 and (tmp_path / "loss.png").is_file()
    assert list((tmp_path / "samples").glob("*.mp4")) and list((tmp_path / "samples").glob("*.png"))
    from kinema import flow
    from kinema.data import LatentDataset
    from kinema.models.vae import latents_to_dit
    from kinema.pipeline import KinemaPipeline

    pipe = KinemaPipeline.from_pretrained(export)
    assert pipe.dit.cfg.hidden_size == 64 and pipe.config.shift == cfg.timestep_shift
    # single-step losses are noisy (random t per clip), so compare on fixed clips, t and noise: adaLN-Zero
    # starts at v = 0, so the exported weights must beat the zero predictor
    ds = LatentDataset(tmp_path / "latents", caption_dropout=0.0)
    items = [ds[i] for i in range(len(ds))]
    x0 = latents_to_dit(torch.stack([it["latents"] for it in items]), pipe.vae.cfg)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    text, mask = pipe.text_encoder.encode([it["caption"] for it in items])
    fps = torch.tensor([it["fps"] for it in items])
    trained = zero = 0.0
    for tv in (0.25, 0.5, 0.75):
        t = torch.full(x0.shape[:1] + x0.shape[2:3], tv)
        with torch.no_grad():
            v = pipe.dit(flow.interpolate(x0, eps, t), t, text, mask, fps)
        trained += float(flow.flow_loss(v, x0, eps))
        zero += float(flow.flow_loss(torch.zeros_like(v), x0, eps))
    assert trained < 0.97 * zero, (trained, zero)  # deterministic: fixed seeds, ~6% better after 12 steps

    # the same run exported with its raw weights and other sampling defaults (None keeps the run's)
    raw = KinemaPipeline.from_pretrained(export_dit_run(
        tmp_path, tmp_path / "raw", weights="raw",
        sample={"guidance_scale": 3.0, "sampler": "stochastic", "eta": 0.75, "eta_t_min": None}))
    want = load_file(str(tmp_path / "checkpoint" / "model.safetensors"))
    assert (raw.config.guidance_scale, raw.config.sampler, raw.config.eta) == (3.0, "stochastic", 0.75)
    assert raw.config.shift == pipe.config.shift and raw.config.eta_t_min == pipe.config.eta_t_min
    for k, v in raw.dit.state_dict().items():
        assert torch.equal(v, want[f"dit.{k}"].to(torch.bfloat16).float()), k
    assert not torch.equal(raw.dit.final.linear.weight, pipe.dit.final.linear.weight)  # raw != EMA
    with pytest.raises(ValueError, match="'raw' or 'ema'"):
        export_dit_run(tmp_path, tmp_path / "bad", weights="last")


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return {**load_file(str(folder / "model.safetensors")), **{f"ema.{k}": v for k, v in load_file(str(folder / "ema.safetensors")).items()}}


def test_resume_equals_uninterrupted(vae_export, data, tmp_path):
    """Also with noise shared across frames (drawn from the per-sample generators a resume replays),
    which the exported model samples with."""
    from kinema.pipeline import KinemaPipeline

    kw = dict(vae=str(vae_export), total_steps=6, checkpoint_every=0, checkpoint_minutes=0, log_every=0, noise_shared=0.3)
    assert KinemaPipeline.from_pretrained(train(tiny("dit", data, tmp_path / "a", **kw))).config.noise_shared == 0.3
    train(tiny("dit", data, tmp_path / "b", stop_at_step=3, **kw))
    assert json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())["step"] == 3
    train(tiny("dit", data, tmp_path / "b", **kw), resume=True)
    a, b = _weights(tmp_path / "a" / "checkpoint"), _weights(tmp_path / "b" / "checkpoint")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny("dit", data, tmp_path / "b", **kw))


def test_image_steps_train_on_the_first_latent_frame(vae_export, data, tmp_path, monkeypatch):
    from kinema.models.dit import DiT

    seen, forward = [], DiT.forward

    def spy(self, x, *a, **k):
        seen.append(x.shape[2])
        return forward(self, x, *a, **k)

    monkeypatch.setattr(DiT, "forward", spy)
    train(tiny("dit", data, tmp_path, vae=str(vae_export), total_steps=8, p_image=0.5, sample_every=0,
               checkpoint_every=0, checkpoint_minutes=0, log_every=0))
    want = [1 if image_step(0, s, 0.5) else 3 for s in range(8)]  # 9 frames -> 3 latent frames
    assert seen == want and 0 < want.count(1) < 8


def test_dit_training_draws_its_noise_shared_across_frames(vae_export, data, tmp_path, monkeypatch):
    """noise_shared reaches every training draw (one per clip, over its latent frames) and the samples'."""
    from kinema import flow

    draws, frame_noise = [], flow.frame_noise
    monkeypatch.setattr(flow, "frame_noise", lambda shape, g, **k: draws.append((tuple(shape), k)) or frame_noise(shape, g, **k))
    train(tiny("dit", data, tmp_path, vae=str(vae_export), total_steps=2, noise_shared=0.4, sample_every=2,
               checkpoint_every=0, checkpoint_minutes=0, log_every=0))
    clips = [d for d in draws if len(d[0]) == 4]  # (C, T, H, W) per clip; the sample sheet draws (B, C, T, H, W)
    assert len(clips) == 2 * 2 and len(draws) == len(clips) + 1  # batch 2, 2 steps, one sample sheet
    assert all(k == {"shared": 0.4} for _, k in draws) and all(s[1] == 3 for s, _ in clips)


def test_vae_warm_start_grows_the_latent_channels(vae_export, data, tmp_path):
    from kinema.checkpoint import load_part
    from kinema.models.vae import VAEConfig, VideoVAE

    export = train(tiny("vae", data, tmp_path, init_from=str(vae_export), model_config={"latent_channels": 6},
                        total_steps=1, lr=1e-9, warmup_steps=0, sample_every=0, latent_stats_clips=1))
    src = load_part(vae_export / "vae", VideoVAE, VAEConfig)
    new = load_part(export / "vae", VideoVAE, VAEConfig)
    assert new.cfg.latent_channels == 6
    w_src, w_new = src.decoder.conv_in.conv.weight, new.decoder.conv_in.conv.weight
    torch.testing.assert_close(w_new[:, :4], w_src, atol=1e-6, rtol=0)  # the source's weights, one 1e-9 step on
    assert w_new[:, 4:].abs().max() < 1e-6  # the new channels start unused by the decoder


def test_vae_adversarial_fine_tune_trains_decoder_and_critic_and_resumes_exactly(vae_export, data, tmp_path):
    """adv_weight > 0: a critic trains beside the decoder (its weights in the checkpoint, not in
    the export); the frozen encoder stays the source's; --resume equals an uninterrupted run."""
    from kinema.checkpoint import load_part
    from kinema.models.vae import VAEConfig, VideoVAE

    kw = dict(init_from=str(vae_export), freeze_encoder=True, adv_weight=0.5, adv_start_step=2,
              disc_channels=(8, 16), total_steps=5, lr=1e-3, warmup_steps=0, checkpoint_every=0,
              checkpoint_minutes=0, log_every=1, latent_stats_clips=1)
    export = train(tiny("vae", data, tmp_path / "a", **kw))
    train(tiny("vae", data, tmp_path / "b", stop_at_step=3, **kw))
    train(tiny("vae", data, tmp_path / "b", **kw), resume=True)
    a, b = _weights(tmp_path / "a" / "checkpoint"), _weights(tmp_path / "b" / "checkpoint")
    assert a.keys() == b.keys() and any(k.startswith("disc.") for k in a)
    assert not any(k.startswith("ema.disc.") for k in a)  # the critic is trained, never averaged
    for k in a:
        assert torch.equal(a[k], b[k]), k
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["loss_adv_lambda"] > 0 for r in log] == [False, False, True, True, True]  # from adv_start_step
    assert all(r["loss_adv_d"] > 0 for r in log)
    src, new = load_part(vae_export / "vae", VideoVAE, VAEConfig), load_part(export / "vae", VideoVAE, VAEConfig)
    for (name, w), v in zip(src.encoder.state_dict().items(), new.encoder.state_dict().values()):
        torch.testing.assert_close(w, v, rtol=0, atol=0, msg=name)
    assert any(not torch.equal(w, new.decoder.state_dict()[k]) for k, w in src.decoder.state_dict().items())
    with pytest.raises(ValueError, match="adv_weight"):
        tiny("dit", data, tmp_path / "c", adv_weight=0.5)


def test_vae_decoder_fine_tune_keeps_the_encoder_and_its_latent_statistics(vae_export, data, tmp_path):
    from kinema.checkpoint import load_part
    from kinema.models.vae import VAEConfig, VideoVAE

    export = train(tiny("vae", data, tmp_path, init_from=str(vae_export), freeze_encoder=True,
                        model_config={"refine_channels": [8]}, total_steps=2, lr=1e-3, warmup_steps=0))
    src = load_part(vae_export / "vae", VideoVAE, VAEConfig)
    new = load_part(export / "vae", VideoVAE, VAEConfig)
    assert new.cfg.refine_channels == (8,)
    assert (new.cfg.latent_mean, new.cfg.latent_std) == (src.cfg.latent_mean, src.cfg.latent_std)
    for (name, a), b in zip(src.encoder.state_dict().items(), new.encoder.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)  # the DiT's latents are unchanged
    changed = [k for k, v in src.decoder.state_dict().items() if not torch.equal(v, new.decoder.state_dict()[k])]
    assert changed and new.decoder.refine.conv_out.conv.weight.abs().max() > 0  # the decoder and its head learn
    with pytest.raises(ValueError, match="init_from"):
        tiny("vae", data, tmp_path / "b", freeze_encoder=True)

    # a model built on the source VAE takes the new decoder; one whose encoder differs is refused
    from types import SimpleNamespace

    from kinema.export import swap_decoder

    pipe = SimpleNamespace(vae=src)
    swap_decoder(pipe, export)
    assert pipe.vae.cfg.refine_channels == (8,)
    other = SimpleNamespace(vae=VideoVAE(src.cfg))  # freshly initialised: another encoder
    with pytest.raises(ValueError, match="freeze_encoder"):
        swap_decoder(other, export)

    # a shipped model folder re-shipped with the new decoder: same DiT, the new decoder, bf16
    from kinema.export import export_model
    from kinema.pipeline import KinemaPipeline

    kw = dict(sample_every=0, checkpoint_every=0, checkpoint_minutes=0, log_every=0)
    model = train(tiny("dit", data, tmp_path / "dit", vae=str(vae_export), total_steps=1, warmup_steps=0, **kw))
    out = KinemaPipeline.from_pretrained(export_model(model, tmp_path / "model", vae=export))
    before = KinemaPipeline.from_pretrained(model)
    for k, v in before.dit.state_dict().items():
        assert torch.equal(v.bfloat16(), out.dit.state_dict()[k].bfloat16()), k
    for k, v in new.decoder.state_dict().items():
        assert torch.equal(v.bfloat16(), out.vae.decoder.state_dict()[k].bfloat16()), k
    assert out.config == before.config
    with pytest.raises(ValueError, match="new folder"):
        export_model(model, model, vae=export)
    with pytest.raises(ValueError, match="nothing to change"):
        export_model(model, tmp_path / "same", sample={"guidance_scale": None})
    # the same model with new sampling defaults only: the weights untouched
    resampled = KinemaPipeline.from_pretrained(export_model(model, tmp_path / "euler3", sample={"guidance_scale": 3.0}))
    assert resampled.config == dataclasses.replace(before.config, guidance_scale=3.0)
    for k, v in before.vae.state_dict().items():
        assert torch.equal(v.bfloat16(), resampled.vae.state_dict()[k].bfloat16()), k
    # ... and through the script's command line, the step count among them
    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "export_model.py"))
    script["main"]([str(model), str(tmp_path / "steps12"), "--steps", "12", "--guidance", "3"])
    assert KinemaPipeline.from_pretrained(tmp_path / "steps12").config == dataclasses.replace(
        before.config, guidance_scale=3.0, num_inference_steps=12)
    with pytest.raises(SystemExit):
        script["main"]([str(model), str(tmp_path / "steps0"), "--steps", "0"])


def test_dit_warm_start_from_a_model_on_a_vae_with_more_channels(vae_export, data, tmp_path):
    from kinema.pipeline import KinemaPipeline

    kw = dict(sample_every=0, checkpoint_every=0, checkpoint_minutes=0, log_every=0)
    src = KinemaPipeline.from_pretrained(train(tiny("dit", data, tmp_path / "a", vae=str(vae_export), total_steps=2, **kw)))
    vae6 = train(tiny("vae", data, tmp_path / "vae6", init_from=str(vae_export), model_config={"latent_channels": 6},
                      total_steps=1, warmup_steps=0, sample_every=0, latent_stats_clips=1))
    export = train(tiny("dit", data, tmp_path / "b", vae=str(vae6), init_from=str(tmp_path / "a" / "export"),
                        total_steps=1, lr=1e-9, warmup_steps=0, **kw))
    new = KinemaPipeline.from_pretrained(export)
    assert new.dit.cfg.in_channels == 6
    a, b = src.dit.blocks[0].attn.qkv.weight, new.dit.blocks[0].attn.qkv.weight  # the body carries over
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    torch.testing.assert_close(new.null_text.tokens, src.null_text.tokens, atol=1e-6, rtol=0)
    n = src.dit.x_embed.weight.shape[1]  # the source's channels x values per patch
    torch.testing.assert_close(new.dit.x_embed.weight[:, :n], src.dit.x_embed.weight, atol=1e-6, rtol=0)

    # body only: for latents unrelated to the source's, the patch embedding starts afresh
    export = train(tiny("dit", data, tmp_path / "d", vae=str(vae6), init_from=str(tmp_path / "a" / "export"),
                        init_body_only=True, total_steps=1, lr=1e-9, warmup_steps=0, **kw))
    body = KinemaPipeline.from_pretrained(export)
    torch.testing.assert_close(body.dit.blocks[0].attn.qkv.weight, a, atol=1e-6, rtol=0)
    assert not torch.allclose(body.dit.x_embed.weight[:, :n], src.dit.x_embed.weight, atol=1e-3)
    with pytest.raises(ValueError, match="init_body_only"):
        tiny("dit", data, tmp_path / "e", vae=str(vae6), init_body_only=True)
    with pytest.raises(ValueError, match="set null_text_tokens=1"):  # a null text of another length is not dropped silently
        train(tiny("dit", data, tmp_path / "c", vae=str(vae6), init_from=str(tmp_path / "a" / "export"),
                   null_text_tokens=2, total_steps=1, warmup_steps=0, **kw))


def test_nan_stops_and_keeps_last_checkpoint(data, tmp_path):
    cfg = tiny("vae", data, tmp_path, total_steps=6, checkpoint_every=2, debug_nan_step=3)
    with pytest.raises(TrainingDiverged, match="step 3.*lower\\s+lr"):
        train(cfg)
    state = tmp_path / "checkpoint"
    assert json.loads((state / "state.json").read_text())["step"] == 2
    digest = hashlib.sha256((state / "model.safetensors").read_bytes()).hexdigest()
    # resuming without the hook continues from the good step-2 checkpoint
    train(dataclasses.replace(cfg, debug_nan_step=0, total_steps=3), resume=True)
    assert json.loads((state / "state.json").read_text())["step"] == 3
    assert hashlib.sha256((state / "model.safetensors").read_bytes()).hexdigest() != digest


def test_a_signal_checkpoints_the_step_it_finished_and_resume_continues(data, tmp_path):
    import signal
    import threading
    import time

    # stop_at_step bounds the run should the signal be missed
    cfg = tiny("vae", data, tmp_path, total_steps=1000, stop_at_step=300, checkpoint_every=0, checkpoint_minutes=0)
    log = tmp_path / "log.jsonl"

    def interrupt():  # Ctrl-C once the loop has logged its first steps
        while not log.is_file():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(TrainingInterrupted, match="SIGINT after step .*--resume") as stopped:
        train(cfg)
    assert stopped.value.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is before  # the trainer's handler is gone again
    state = tmp_path / "checkpoint" / "state.json"
    step = json.loads(state.read_text())["step"]
    assert 2 <= step < 300
    train(dataclasses.replace(cfg, stop_at_step=step + 2), resume=True)
    assert json.loads(state.read_text())["step"] == step + 2


def test_a_signal_to_the_process_group_still_checkpoints_with_loader_workers(data, tmp_path):
    # `kill -- -PGID` (or Ctrl-C in a terminal) reaches the DataLoader worker too; the worker must
    # leave the signal to the trainer, else the run dies on the lost worker without a checkpoint
    import signal
    import subprocess
    import sys
    import time

    cmd = [sys.executable, "-m", "kinema.train", "vae", "--config", "tiny-vae", f"data={data}",
           f"output_dir={tmp_path}", "num_workers=1", "total_steps=100000", "stop_at_step=3000",
           "checkpoint_every=0", "checkpoint_minutes=0", "sample_every=0", "log_every=2"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    log = tmp_path / "log.jsonl"
    deadline = time.monotonic() + 120
    while not (log.is_file() and log.read_text().count("\n") >= 2) and proc.poll() is None:
        assert time.monotonic() < deadline, "the run logged nothing in 120 s"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert "SIGTERM after step" in out, out[-2000:]
    assert "exited unexpectedly" not in out
    step = json.loads((tmp_path / "checkpoint" / "state.json").read_text())["step"]
    assert 4 <= step < 3000


# ----------------------------------------------------------------------------- DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, cfg: TrainConfig) -> None:
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    train(cfg)


def test_ddp_step_equals_single_process(vae_export, tmp_path):
    # 4 clips of one size, global batch 4: one step sees the same clips in both runs (fp32 for a tight match)
    data = make_dataset(tmp_path / "data4", num=4)
    kw = dict(vae=str(vae_export), batch_size=4, total_steps=1, warmup_steps=1, log_every=0,
              checkpoint_every=0, checkpoint_minutes=0, export_dtype="float32", bf16=False)
    train(tiny("dit", data, tmp_path / "single", **kw))
    mp.spawn(_ddp_worker, args=(2, _free_port(), tiny("dit", data, tmp_path / "ddp", **kw)), nprocs=2, join=True)
    a, b = _weights(tmp_path / "single" / "checkpoint"), _weights(tmp_path / "ddp" / "checkpoint")
    opt_a, opt_b = (torch.load(tmp_path / r / "checkpoint" / "optimizer.pt")["state"] for r in ("single", "ddp"))
    # the all-reduced gradient (Adam's first moment after one step) equals the single-process one
    for i in opt_a:
        ga, gb = opt_a[i]["exp_avg"], opt_b[i]["exp_avg"]
        assert torch.allclose(ga, gb, rtol=1e-4, atol=1e-7 * max(1.0, float(ga.abs().max()))), i
    # and so do the updated weights, except where a ~0 gradient's sign (Adam's first step moves each
    # weight by lr * sign(g)) flips with the summation order: rare, and at most 2 lr apart
    lr = tiny("dit", data, tmp_path, **kw).lr
    for k in a:
        close = torch.isclose(a[k], b[k], atol=1e-6, rtol=1e-4)
        assert close.float().mean() > 0.99 and (a[k] - b[k]).abs().max() <= 2 * lr + 1e-6, k


def test_ema_decay_warms_up_then_caps():
    from kinema.train import ema_decay_at

    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(90, 0.999) == pytest.approx(0.91)
    assert ema_decay_at(100_000, 0.999) == 0.999
    decays = [ema_decay_at(s, 0.999) for s in range(0, 5000, 50)]
    assert decays == sorted(decays)


def test_random_crops_are_windows_of_each_clip_and_deterministic():
    from kinema.train import random_crops

    x = torch.arange(2 * 1 * 1 * 16 * 24, dtype=torch.float32).reshape(2, 1, 1, 16, 24)
    gens = lambda: [torch.Generator().manual_seed(s) for s in (0, 1)]  # noqa: E731
    a, b = random_crops(x, 8, gens()), random_crops(x, 8, gens())
    assert a.shape == (2, 1, 1, 8, 8) and torch.equal(a, b)
    for clip, crop in zip(x, a):
        i, j = divmod(int(crop[0, 0, 0, 0] - clip[0, 0, 0, 0]), 24)
        assert torch.equal(crop, clip[..., i:i + 8, j:j + 8])
    with pytest.raises(ValueError, match="crop_size"):
        random_crops(x, 24, gens())
    with pytest.raises(ValueError, match="multiple of 8"):
        TrainConfig(kind="vae", model="tiny", crop_size=20)


def test_dit_object_probe_trains_on_world_maps_exports_without_it_and_resumes_exactly(vae_export, tmp_path):
    from kinema.pipeline import KinemaPipeline
    from kinema.world.dataset import write_world_dataset

    world = write_world_dataset(tmp_path / "world", 4, seconds=0.5, fps=16, size=(32, 32), progress=False)
    kw = dict(vae=str(vae_export), object_weight=1.0, object_block=1, lr=3e-3, checkpoint_every=0,
              checkpoint_minutes=0, log_every=1)
    export = train(tiny("dit", world, tmp_path / "a", total_steps=16, **kw))
    maps = sorted((tmp_path / "a" / "latents" / "objects").glob("*.safetensors"))
    assert len(maps) == 4
    probe = losses(tmp_path / "a", "loss_objects")
    assert len(probe) == 16 and np.mean(probe[-4:]) < 0.5 * np.mean(probe[:4]), probe  # the probe learns the maps
    pipe = KinemaPipeline.from_pretrained(export)  # the exported DiT has no head
    assert not any("object" in k for k in pipe.dit.state_dict())
    raw = load_file(str(export_dit_run(tmp_path / "a", tmp_path / "raw", weights="raw") / "dit" / "model.safetensors"))
    assert not any("object" in k for k in raw)

    # scripts/probe_objects.py on the run's export and cache: per-block probes, a KL per noise level
    import sys

    argv = sys.argv
    sys.argv = ["probe_objects.py", "--model", str(export), "--cache", str(tmp_path / "a" / "latents"),
                "--out", str(tmp_path / "probe"), "--steps", "2", "--held-out", "2"]
    try:
        runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "probe_objects.py"), run_name="__main__")
    finally:
        sys.argv = argv
    report = json.loads((tmp_path / "probe" / "probe.json").read_text())
    assert set(report["kl"]) == {"0.0", "0.25", "0.5", "0.75", "0.9"} and (tmp_path / "probe" / "probe.png").is_file()
    assert all(len(v) == pipe.dit.cfg.depth and min(v) > 0 for v in report["kl"].values()) and report["uniform"] > 0

    train(tiny("dit", world, tmp_path / "b", total_steps=16, stop_at_step=7, **kw))
    train(tiny("dit", world, tmp_path / "b", total_steps=16, **kw), resume=True)
    a, b = _weights(tmp_path / "a" / "checkpoint"), _weights(tmp_path / "b" / "checkpoint")
    assert any(k.startswith("object_head.") for k in a) and a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_dit_object_probe_needs_world_data(vae_export, data, tmp_path):
    with pytest.raises(ValueError, match="object_weight=0"):
        train(tiny("dit", data, tmp_path, vae=str(vae_export), object_weight=1.0, object_block=1, total_steps=2))
    with pytest.raises(ValueError, match="object_weight"):
        tiny("vae", data, tmp_path, object_weight=1.0)
