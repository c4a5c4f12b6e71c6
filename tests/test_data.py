"""Manifest dataset, bucket sampler, collate and the latent cache on tiny synthetic mp4s."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from kinema.data import (
    BucketBatchSampler,
    LatentDataset,
    ManifestDataset,
    build_latent_cache,
    collate,
    read_manifest,
)
from kinema.models.vae import VAE_TINY, VideoVAE
from kinema.video import write_video

# (id, frames, height, width): two sizes, one clip too short for 9 frames
CLIPS = [("c0", 9, 16, 16), ("c1", 11, 16, 16), ("c2", 9, 16, 24), ("c3", 5, 16, 16), ("c4", 9, 16, 24)]


def _write_dataset(root: Path, clips=CLIPS, *, corrupt: tuple[str, ...] = ()) -> Path:
    rng = np.random.default_rng(0)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    lines = []
    for cid, t, h, w in clips:
        file = f"clips/{cid}.mp4"
        if cid in corrupt:
            (root / file).write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 4)
        else:
            frames = np.zeros((t, h, w, 3), np.uint8)
            frames[..., 0] = np.linspace(0, 255, t)[:, None, None]  # red ramp in time
            frames[..., 1] = rng.integers(0, 256, (1, h, w))
            write_video(root / file, frames, 8.0)
        rec = {
            "id": cid, "file": file, "fps": 8, "frames": t, "width": w, "height": h,
            "captions": {"short": f"{cid} short", "medium": f"{cid} medium", "detailed": f"{cid} detailed"},
            "split": "train",
        }
        lines.append(json.dumps(rec))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    return _write_dataset(tmp_path_factory.mktemp("data"))


def test_manifest_dataset_shapes_and_range(dataset_root):
    ds = ManifestDataset(dataset_root, caption_dropout=0.0)
    assert len(ds) == 5 and ds.bucket_keys == [(9, 16, 16), (9, 16, 16), (9, 16, 24), (5, 16, 16), (9, 16, 24)]
    item = ds[2]
    assert item["video"].shape == (3, 9, 16, 24) and item["video"].dtype == torch.float32
    assert item["video"].min() >= -1 and item["video"].max() <= 1
    assert item["video"][0].amax() > 0.9 and item["video"][0].amin() < -0.9  # the red ramp spans the range
    assert item["caption"] in {"c2 short", "c2 medium", "c2 detailed"}
    assert item["fps"] == 8.0 and item["id"] == "c2"


def test_windows_and_too_short_clips(dataset_root):
    with pytest.warns(UserWarning, match="shorter than num_frames=9"):
        ds = ManifestDataset(dataset_root, num_frames=9, seed=3)
    assert ds.num_too_short == 1 and len(ds) == 4 and all(k[0] == 9 for k in ds.bucket_keys)
    starts = set()
    for epoch in range(8):  # c1 has 11 frames: the 9-frame window starts at 0, 1 or 2
        ds.set_epoch(epoch)
        v = ds[1]["video"]
        assert v.shape == (3, 9, 16, 16)
        starts.add(round(float(v[0, 0].mean()), 3))
    assert len(starts) > 1
    ds.set_epoch(5)
    assert torch.equal(ds[1]["video"], ds[1]["video"])
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        ManifestDataset(dataset_root, num_frames=8)


def test_caption_dropout_rate_and_determinism(dataset_root):
    ds = ManifestDataset(dataset_root, caption_dropout=0.1, seed=7)
    clip = ds.clips[0]
    from kinema.data import _pick_caption, _rng

    draws = [_pick_caption(clip.captions, _rng(7, e, 0), 0.1) for e in range(4000)]
    rate = draws.count("") / len(draws)
    assert 0.08 < rate < 0.12
    levels = {d for d in draws if d}
    assert levels == {"c0 short", "c0 medium", "c0 detailed"}
    # the same (seed, epoch, i) gives the same item; another epoch or seed may differ
    ds.set_epoch(3)
    a = [ds[i]["caption"] for i in range(len(ds))]
    ds2 = ManifestDataset(dataset_root, caption_dropout=0.1, seed=7)
    ds2.set_epoch(3)
    assert a == [ds2[i]["caption"] for i in range(len(ds2))]
    seqs = {tuple(_pick_caption(clip.captions, _rng(s, e, 0), 0.1) for e in range(20)) for s in range(3)}
    assert len(seqs) == 3


def test_single_caption_user_dataset(tmp_path):
    root = _write_dataset(tmp_path, [("u0", 5, 16, 16)])
    rec = json.loads((root / "manifest.jsonl").read_text())
    del rec["captions"]
    rec["caption"] = "my cat"
    (root / "manifest.jsonl").write_text(json.dumps(rec) + "\n")
    ds = ManifestDataset(root, caption_dropout=0.0)
    assert ds[0]["caption"] == "my cat"


def test_corrupt_video_is_skipped_and_counted(tmp_path):
    root = _write_dataset(tmp_path, CLIPS[:3], corrupt=("c1",))
    ds = ManifestDataset(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds))] + [ds[1]]
    assert items[1] is None and items[3] is None and items[0] is not None
    assert ds.num_skipped == 2
    assert sum("c1.mp4" in str(w.message) for w in caught) == 1  # warned once per file
    batch = collate(items[:2])
    assert batch["video"].shape == (1, 3, 9, 16, 16) and batch["id"] == ["c0"]
    assert collate([None, None]) is None


def test_manifest_errors_name_file_and_line(tmp_path):
    with pytest.raises(ValueError, match="manifest.jsonl does not exist"):
        ManifestDataset(tmp_path)
    good = {"id": "a", "file": "a.mp4", "fps": 8, "frames": 5, "width": 16, "height": 16, "caption": "x"}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(good) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"manifest.jsonl line 2: not valid JSON"):
        read_manifest(tmp_path)
    bad = dict(good, id="b")
    del bad["fps"]
    (tmp_path / "manifest.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match=r"line 2: missing field\(s\) fps"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(ValueError, match="already used on line 1"):
        read_manifest(tmp_path)


def test_collate_stacks():
    items = [{"video": torch.zeros(3, 5, 8, 8), "caption": "a", "fps": 8.0, "id": "x"}] * 3
    b = collate(items)
    assert b["video"].shape == (3, 3, 5, 8, 8) and b["fps"].shape == (3,) and b["caption"] == ["a"] * 3


def test_bucket_sampler_single_key_deterministic_sharded():
    rng = np.random.default_rng(0)
    shapes = [(9, 16, 16), (9, 16, 24), (5, 24, 16)]
    keys = [shapes[j] for j in rng.integers(0, 3, 103)]
    s = BucketBatchSampler(keys, 4, seed=1)
    s.set_epoch(2)
    batches = list(s)
    assert len(batches) == len(s) > 0
    assert all(len(b) == 4 and len({keys[i] for i in b}) == 1 for b in batches)
    assert batches == list(s)  # same epoch, same order
    s.set_epoch(3)
    assert batches != list(s)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))

    # ranks: disjoint, same count, together exactly the world_size=1 batches (cut to a multiple of 3)
    shards = []
    for rank in range(3):
        r = BucketBatchSampler(keys, 4, seed=1, rank=rank, world_size=3)
        r.set_epoch(2)
        shards.append(list(r))
    assert len({len(x) for x in shards}) == 1 and len(shards[0]) == len(batches) // 3
    seen = [i for sh in shards for b in sh for i in b]
    assert len(seen) == len(set(seen))
    assert sorted(map(tuple, (b for sh in shards for b in sh))) == sorted(map(tuple, batches[: len(shards[0]) * 3]))

    # no drop_last: every item appears, ranks still equal in length
    loose = [BucketBatchSampler(keys, 4, rank=r, world_size=2, drop_last=False) for r in range(2)]
    got = [list(x) for x in loose]
    assert len(got[0]) == len(got[1])
    assert {i for g in got for b in g for i in b} == set(range(len(keys)))
    with pytest.raises(ValueError, match="lower batch_size"):
        BucketBatchSampler(keys[:3], 4)


@pytest.fixture(scope="module")
def tiny_vae() -> VideoVAE:
    torch.manual_seed(0)
    return VideoVAE(VAE_TINY)


def test_latent_cache_round_trip_resume_and_vae_check(tmp_path, tiny_vae):
    root = _write_dataset(tmp_path / "data", CLIPS, corrupt=("c4",))
    cache = tmp_path / "cache"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = build_latent_cache(root, tiny_vae, cache, batch_size=2, progress=False)
    assert any("c4.mp4" in str(w.message) for w in caught) and any("1 unreadable" in str(w.message) for w in caught)
    assert out == cache
    index = [json.loads(x) for x in (cache / "index.jsonl").read_text().splitlines()]
    assert [r["id"] for r in index] == ["c0", "c1", "c2", "c3"]
    assert index[0]["shape"] == [4, 3, 2, 2] and index[2]["shape"] == [4, 3, 2, 3] and index[3]["shape"] == [4, 2, 2, 2]
    assert index[1]["frames"] == 9 and index[0]["captions"]["short"] == "c0 short"

    # the cached mean is the VAE's mean of the clip (bf16 storage, bf16 autocast)
    ds = ManifestDataset(root, caption_dropout=0.0)
    with torch.no_grad():
        mean, _ = tiny_vae.encode(ds[0]["video"][None])
    from safetensors.torch import load_file

    stored = load_file(str(cache / "latents" / "c0.safetensors"))
    assert stored["mean"].dtype == torch.bfloat16 and stored["std"].shape == (4, 3, 2, 2)
    assert (stored["mean"].float() - mean[0]).abs().max() < 0.05 * mean.abs().max() + 1e-2

    # resume: nothing is re-encoded
    mtimes = {p.name: p.stat().st_mtime_ns for p in (cache / "latents").iterdir()}
    calls = []
    handle = tiny_vae.encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        with pytest.warns(RuntimeWarning):
            build_latent_cache(root, tiny_vae, cache, progress=False)
    finally:
        handle.remove()
    assert not calls and mtimes == {p.name: p.stat().st_mtime_ns for p in (cache / "latents").iterdir()}

    # another VAE (other weights) is refused
    torch.manual_seed(1)
    with pytest.raises(ValueError, match="different VAE"):
        build_latent_cache(root, VideoVAE(VAE_TINY), cache, progress=False)

    # LatentDataset: shapes, determinism per (seed, epoch, i), in-memory identical to disk
    lat = LatentDataset(cache, caption_dropout=0.1, seed=0)
    ram = LatentDataset(cache, caption_dropout=0.1, seed=0, in_memory=True)
    assert lat.bucket_keys == [(4, 3, 2, 2), (4, 3, 2, 2), (4, 3, 2, 3), (4, 2, 2, 2)]
    item = lat[2]
    assert item["latents"].shape == (4, 3, 2, 3) and item["latents"].dtype == torch.float32
    assert item["fps"] == 8.0 and item["id"] == "c2"
    assert torch.equal(lat[2]["latents"], ram[2]["latents"])
    lat.set_epoch(1)
    assert not torch.equal(lat[2]["latents"], item["latents"])
    lat.set_epoch(0)
    assert torch.equal(lat[2]["latents"], item["latents"]) and lat[2]["caption"] == item["caption"]
    # samples are centred on the mean with the stored std
    draws = torch.stack([LatentDataset(cache, seed=s)[0]["latents"] for s in range(64)])
    m, sd = stored["mean"].float(), stored["std"].float()
    assert ((draws.mean(0) - m).abs() < 4 * sd / 8 + 1e-3).all()

    sampler = BucketBatchSampler(lat.bucket_keys, 2)
    batch = collate([lat[i] for i in next(iter(sampler))])
    assert batch["latents"].shape[0] == 2 and batch["fps"].shape == (2,)


def test_latent_dataset_needs_a_cache(tmp_path):
    with pytest.raises(ValueError, match="build_latent_cache"):
        LatentDataset(tmp_path)


def test_merge_datasets_prefixes_ids_and_relinks_files(tmp_path):
    from kinema.data import merge_datasets, read_manifest

    for name, fps in (("a", 16), ("b", 8)):
        root = tmp_path / name
        (root / "clips").mkdir(parents=True)
        write_video(root / "clips" / "000000.mp4", np.full((5, 16, 16, 3), 100, np.uint8), fps)
        rec = {"id": "000000", "file": "clips/000000.mp4", "caption": f"clip {name}", "fps": fps,
               "frames": 5, "width": 16, "height": 16}
        (root / "manifest.jsonl").write_text(json.dumps(rec) + "\n")
    merged = merge_datasets(tmp_path / "mix", [tmp_path / "a", tmp_path / "b"])
    clips = read_manifest(merged)
    assert [c.id for c in clips] == ["a-000000", "b-000000"]
    ds = ManifestDataset(merged, caption_dropout=0.0)
    assert [ds[i]["fps"] for i in range(2)] == [16, 8]
    assert ds[1]["caption"] == "clip b"
