"""The video-text model: shapes, InfoNCE learning, the Frechet distance's math, and that its
features tell real clips from frame-shuffled ones; the `kinema train clip` path."""

import json

import numpy as np
import pytest
import torch

from kinema.eval.clip import (
    ClipConfig,
    VideoTextModel,
    clip_config_from_dict,
    features,
    frechet_distance,
    info_nce,
    prepare_frames,
    retrieval_accuracy,
    similarity,
)
from kinema.world.render import render_scene
from kinema.world.splits import sample_scene

TINY = ClipConfig(size=32, num_frames=17, width=8, feature_dim=16, embed_dim=16, text_hidden=32, batch_size=4)


def _world(seed: int, size: int = 32) -> np.ndarray:
    return render_scene(sample_scene("id", seed, seconds=1.0, width=size, height=size))[0]  # (17, S, S, 3)


@pytest.fixture(scope="module")
def clips():
    return [_world(s) for s in range(64)]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny convolutions are slower with threads on a shared machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_prepare_frames_and_similarity_shape(clips):
    torch.manual_seed(0)
    model = VideoTextModel(TINY)
    x = prepare_frames(clips[:3], 32, 17)
    assert x.shape == (3, 3, 17, 32, 32) and x.min() >= -1 and x.max() <= 1
    s = similarity(model, clips[:3], ["a red ball falls", "a blue box", "two balls collide", "a cat"])
    assert s.shape == (3, 4) and np.all(np.abs(s) <= 1 + 1e-5)
    top1, top5 = retrieval_accuracy(model, clips[:3], ["a", "b", "c"], sim=np.eye(3))
    assert (top1, top5) == (1.0, 1.0)
    with pytest.raises(ValueError, match="frames"):
        prepare_frames([clips[0][:5]], 32, 17)


def test_info_nce_decreases_on_a_tiny_batch(clips):
    torch.manual_seed(0)
    model = VideoTextModel(TINY)
    x = prepare_frames(clips[:4], 32, 17)
    t = torch.randn(4, TINY.text_dim, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = model(x, t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    # perfectly matched unit vectors at a high scale: loss near 0
    v = torch.eye(4)
    assert info_nce(v, v, torch.tensor(np.log(100.0))) < 1e-3


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # 1-D Gaussians: (mu1 - mu2)^2 + (s1 - s2)^2, with the sample moments
    x, y = rng.normal(1.0, 2.0, size=(400, 1)), rng.normal(-0.5, 0.5, size=(300, 1))
    want = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert frechet_distance(x, y) == pytest.approx(want, rel=1e-6)
    # diagonal covariances: the 1-D formula summed over dimensions
    # diagonal covariances: the 1-D formula summed over dimensions (sds (1, 2) vs (3, 1), means 0 vs (1, 0))
    d = frechet_distance(rng.normal(size=(4000, 2)) * [1, 2], rng.normal(size=(4000, 2)) * [3, 1] + [1, 0])
    assert d == pytest.approx(1 + (1 - 3) ** 2 + (2 - 1) ** 2, abs=0.3)
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(a[:1], a)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for 200 steps through `kinema train clip` on 96 one-second clips."""
    from kinema.cli import main
    from kinema.world.dataset import write_world_dataset

    root = tmp_path_factory.mktemp("clip")
    data = write_world_dataset(root / "data", 96, seconds=1.0, size=(32, 32), progress=False)
    out = root / "clip"
    sets = [f"data={data}", f"output_dir={out}", "size=32", "num_frames=17", "width=8", "feature_dim=16",
            "embed_dim=16", "text_hidden=32", "batch_size=16", "holdout=16", "total_steps=200", "warmup_steps=10",
            "lr=3e-3", "log_every=100", "eval_every=200"]
    assert main(["train", "clip", "--config", "default-clip"] + [a for s in sets for a in ("--set", s)]) == 0
    return data, out


def test_train_clip_from_cli_writes_a_loadable_model(trained):
    from kinema.cli import main
    from kinema.eval.clip import load_clip_model

    _, out = trained
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert [r["step"] for r in log if "loss" in r] == [100, 200] and losses[1] < losses[0]
    assert any("top1" in r for r in log) and (out / "loss.png").stat().st_size > 0
    assert load_clip_model(out).cfg.width == 8
    assert main(["train", "clip", "--set", "nonsense=1"]) == 2


def test_frechet_tells_shuffled_and_reversed_clips_from_real(trained):
    """The floor is two disjoint sets of real clips; the second set with its frames shuffled,
    or played backwards, must sit above it. (An untrained encoder fails this: its features
    are dominated by backgrounds and colours, so the check needs the few training steps.)"""
    from kinema.eval.clip import load_clip_model
    from kinema.video import read_video

    data, out = trained
    model = load_clip_model(out)
    clips = [read_video(p)[0] for p in sorted((data / "clips").glob("*.mp4"))]
    a, b = clips[:48], clips[48:]
    perm = np.random.default_rng(0).permutation(17)
    fa = features(model, a)
    floor = frechet_distance(fa, features(model, b))
    shuffled = frechet_distance(features(model, [c[perm] for c in b]), fa)
    reversed_ = frechet_distance(features(model, [c[::-1] for c in b]), fa)
    assert fa.shape == (48, 16)
    assert shuffled > 1.2 * floor and reversed_ > 1.2 * floor, (floor, shuffled, reversed_)


def test_config_errors_name_the_fix():
    with pytest.raises(ValueError, match="valid keys are"):
        clip_config_from_dict({"lrr": 1})
    with pytest.raises(ValueError, match="multiple of 16"):
        ClipConfig(size=50)
    assert clip_config_from_dict({"lr": "1e-3", "bf16": "false", "kind": "clip"}) == ClipConfig(lr=1e-3, bf16=False)


