"""kinema.world.dataset: the on-disk format, determinism, resume, and errors before any work."""

import json

import numpy as np
import pytest

from kinema.video import read_video
from kinema.world import dataset as ds
from kinema.world.dataset import (
    MANIFEST_FIELDS,
    WORLD_BUCKETS,
    WorldClips,
    make_world_clip,
    read_manifest,
    write_world_dataset,
)

SMALL = dict(seconds=1.0, fps=8, size=(64, 48), progress=False)


def manifest_text(out):
    return (out / "manifest.jsonl").read_text()


def test_manifest_fields_and_decodable_clips(tmp_path):
    out = write_world_dataset(tmp_path / "d", 4, **SMALL)
    records = read_manifest(out)
    assert [r["id"] for r in records] == ["000000", "000001", "000002", "000003"]
    for i, rec in enumerate(records):
        assert set(rec) == set(MANIFEST_FIELDS)
        assert rec["seed"] == i and rec["split"] == "id" and rec["fps"] == 8
        assert (rec["width"], rec["height"], rec["frames"]) == (64, 48, 9)
        assert set(rec["captions"]) == {"short", "medium", "detailed"}
        assert rec["scene"]["seed"] == i and rec["scene"]["width"] == 64
        frames, fps = read_video(out / rec["file"])
        assert frames.shape == (9, 48, 64, 3) and fps == 8
        truth = json.loads((out / rec["truth"]).read_text())
        assert truth["captions"] == rec["captions"] and truth["scene"] == rec["scene"]
    settings = json.loads((out / "dataset.json").read_text())
    assert settings["size"] == [64, 48] and settings["num"] == 4 and settings["split"] == "id"
    assert not list(out.rglob(".*"))  # no temporary files left behind


def test_same_settings_same_dataset(tmp_path):
    a = write_world_dataset(tmp_path / "a", 3, **SMALL)
    b = write_world_dataset(tmp_path / "b", 3, **SMALL)
    assert manifest_text(a) == manifest_text(b)
    for rec in read_manifest(a):
        assert (a / rec["truth"]).read_bytes() == (b / rec["truth"]).read_bytes()
        assert (a / rec["file"]).read_bytes() == (b / rec["file"]).read_bytes()


def test_resume_after_interruption_equals_uninterrupted(tmp_path, monkeypatch):
    whole = write_world_dataset(tmp_path / "whole", 6, **SMALL)

    append = ds.append_jsonl
    calls = []

    def crash_after_three(path, rec):
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated crash")
        calls.append(rec["id"])
        append(path, rec)

    monkeypatch.setattr(ds, "append_jsonl", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        write_world_dataset(tmp_path / "part", 6, workers=2, **SMALL)
    monkeypatch.setattr(ds, "append_jsonl", append)
    assert len(read_manifest(tmp_path / "part")) == 3

    resumed = write_world_dataset(tmp_path / "part", 6, **SMALL)
    assert manifest_text(resumed) == manifest_text(whole)
    assert not list(resumed.rglob(".*"))
    # a further run has nothing to do and changes nothing
    assert manifest_text(write_world_dataset(resumed, 6, **SMALL)) == manifest_text(whole)


def test_deleted_line_is_rewritten_in_clip_order(tmp_path):
    out = write_world_dataset(tmp_path / "d", 3, **SMALL)
    before = manifest_text(out)
    lines = before.splitlines(keepends=True)
    (out / "manifest.jsonl").write_text(lines[0] + lines[2])
    write_world_dataset(out, 3, **SMALL)
    assert manifest_text(out) == before


def test_corrupt_manifest_line_is_an_error_and_data_stays(tmp_path):
    out = write_world_dataset(tmp_path / "d", 3, **SMALL)
    lines = manifest_text(out).splitlines(keepends=True)
    lines[1] = lines[1][: len(lines[1]) // 2] + "\n"  # a half-written line
    (out / "manifest.jsonl").write_text("".join(lines))
    files = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(ValueError, match=r"manifest.jsonl line 2 is not valid JSON.*delete that line"):
        write_world_dataset(out, 3, **SMALL)
    assert manifest_text(out) == "".join(lines)
    assert sorted(p.name for p in out.rglob("*")) == files


def test_other_settings_in_same_folder_are_refused(tmp_path):
    out = write_world_dataset(tmp_path / "d", 2, **SMALL)
    with pytest.raises(ValueError, match=r"other settings \(fps: folder has 8, asked for 16\)"):
        write_world_dataset(out, 2, **{**SMALL, "fps": 16})
    write_world_dataset(out, 3, **SMALL)  # a larger num extends the same dataset
    assert len(read_manifest(out)) == 3
    assert json.loads((out / "dataset.json").read_text())["num"] == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(split="train"), "unknown split 'train'; choose one of id, ood, combo"),
        (dict(size=(65, 48)), "must be even"),
        (dict(size=(0, 48)), "positive"),
        (dict(seconds=0), r"seconds must be in \(0, 60\]"),
        (dict(seconds=61), r"seconds must be in \(0, 60\]"),
        (dict(fps=0), "fps must be in 1..60"),
        (dict(fps=61), "fps must be in 1..60"),
        (dict(workers=0), "workers must be"),
        (dict(size=(64, 64), buckets=True), "not both"),
    ],
)
def test_bad_arguments_fail_before_any_work(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_world_dataset(tmp_path / "d", 2, **{**SMALL, **kwargs})
    assert not (tmp_path / "d").exists()


def test_unwritable_output_folder(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match="is a file"):
        write_world_dataset(tmp_path / "file", 1, progress=False)
    with pytest.raises(ValueError, match="cannot create output folder"):
        write_world_dataset(tmp_path / "file" / "d", 1, progress=False)


def test_buckets_follow_the_seed(tmp_path):
    out = write_world_dataset(tmp_path / "d", 3, seconds=0.5, fps=8, buckets=True, seed_offset=5, progress=False)
    got = [(r["width"], r["height"]) for r in read_manifest(out)]
    assert got == [WORLD_BUCKETS[s % 3] for s in (5, 6, 7)]
    assert [r["seed"] for r in read_manifest(out)] == [5, 6, 7]


def test_world_clips_on_the_fly_match_and_shard():
    from torch.utils.data import DataLoader, IterableDataset

    clips = WorldClips("id", num=4, seconds=0.5, fps=8, size=(32, 32))
    assert isinstance(clips, IterableDataset) and len(clips) == 4
    items = list(clips)
    assert [it["seed"] for it in items] == [0, 1, 2, 3]
    ref = make_world_clip("id", 1, fps=8, seconds=0.5, width=32, height=32)
    np.testing.assert_array_equal(items[1]["frames"].numpy(), ref.frames)
    assert items[1]["captions"] == ref.captions and items[1]["frames"].shape == (5, 32, 32, 3)

    loader = DataLoader(WorldClips("id", num=4, seconds=0.5, fps=8, size=(32, 32), normalize=True),
                        batch_size=None, num_workers=2)
    got = list(loader)
    assert sorted(it["seed"] for it in got) == [0, 1, 2, 3]  # each clip once across workers
    x = got[0]["frames"]
    assert x.shape == (3, 5, 32, 32) and x.dtype.is_floating_point and -1 <= x.min() and x.max() <= 1

    ranks = [[it["seed"] for it in WorldClips("id", num=5, seconds=0.5, fps=8, size=(32, 32), rank=r, world_size=2)]
             for r in (0, 1)]
    assert ranks == [[0, 2, 4], [1, 3]]
