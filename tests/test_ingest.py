"""Importing a folder of one's own videos as a dataset: sizes, frame rates, clip cuts, captions,
resuming, corrupt files, and the training data loader reading the result."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kinema.cli import main
from kinema.data import ManifestDataset, read_manifest
from kinema.ingest import import_videos
from kinema.video import read_video, write_video


def moving_square(T: int, H: int, W: int) -> np.ndarray:
    """A red 20x20 square crossing a dark blue frame left to right: x = (W - 20) * i / (T - 1)."""
    frames = np.zeros((T, H, W, 3), np.uint8)
    frames[..., 2] = 60
    for i in range(T):
        x = round((W - 20) * i / (T - 1))
        frames[i, H // 2 - 10: H // 2 + 10, x: x + 20] = (230, 40, 40)
    return frames


def red_centre_x(frame: np.ndarray) -> float:
    red = (frame[..., 0] > 150) & (frame[..., 2] < 120)
    return float(np.nonzero(red)[1].mean())


@pytest.fixture()
def source(tmp_path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    write_video(src / "wide.mp4", moving_square(150, 120, 200), 30)  # 5 s at 30 fps
    write_video(tmp_path / "tall.mp4", moving_square(25, 160, 90), 10)  # 2.5 s at 10 fps
    shutil.move(tmp_path / "tall.mp4", src / "sub" / "tall.mov")  # any container PyAV reads
    (src / "wide.txt").write_text("a red square moves right\n")
    (src / "sub" / "tall.txt").write_text("a red square moves right, tall")
    return src


def test_import_fits_buckets_resamples_and_cuts_clips(source, tmp_path):
    res = import_videos(source, tmp_path / "ds", progress=False)
    assert (res.videos, res.clips, res.skipped) == (2, 2, {})
    clips = {c.id.split("-")[0]: c for c in read_manifest(tmp_path / "ds")}
    wide, tall = clips["wide"], clips["tall"]
    # 5 s at 30 fps -> one 4-s clip (65 frames at 16 fps); the last 1 s is under min_seconds
    assert (wide.width, wide.height, wide.frames, wide.fps) == (160, 96, 65, 16)
    assert wide.captions == {"caption": "a red square moves right"}
    # 2.5 s at 10 fps -> 40 frames at 16 fps, kept whole as a shorter last clip; portrait bucket
    assert (tall.width, tall.height, tall.frames) == (96, 160, 40)
    frames, fps = read_video(tmp_path / "ds" / wide.file)
    assert frames.shape == (65, 96, 160, 3) and fps == 16
    # every output frame k shows the source frame nearest to k / 16 s, scaled by 0.8 (200x120 -> 160x96)
    for k in (0, 10, 31, 64):
        i = round(k / 16 * 30)
        want = 0.8 * (round(180 * i / 149) + 9.5)
        assert abs(red_centre_x(frames[k]) - want) < 1.5, k
    frames, _ = read_video(tmp_path / "ds" / tall.file)
    for k in (0, 13, 39):  # upsampled 10 -> 16 fps: source frames repeat
        i = min(round(k / 16 * 10), 24)
        # 90x160 covers 96x160 at scale 96/90 (171 px tall), centre-cropped to 160 rows
        assert abs(red_centre_x(frames[k]) - 96 / 90 * (round(70 * i / 24) + 9.5)) < 1.5, k
    # the training loader reads the folder: 33-frame windows of both clips
    ds = ManifestDataset(tmp_path / "ds", num_frames=33, caption_dropout=0.0)
    shapes = sorted(tuple(ds[i]["video"].shape) for i in range(len(ds)))
    assert shapes == [(3, 33, 96, 160), (3, 33, 160, 96)]


def test_long_videos_are_cut_into_consecutive_clips(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_video(src / "long.mp4", moving_square(16 * 9, 64, 64), 16)  # 9 s at 16 fps
    (src / "long.txt").write_text("a square")
    res = import_videos(src, tmp_path / "ds", size=(64, 64), seconds=2.0, min_seconds=0.5, progress=False)
    clips = read_manifest(tmp_path / "ds")
    # 144 frames -> 4 clips of 33 and a last one of 12 (0.75 s >= min_seconds)
    assert [c.frames for c in clips] == [33, 33, 33, 33, 12] and res.clips == 5
    lines = [json.loads(x) for x in (tmp_path / "ds" / "manifest.jsonl").read_text().splitlines()]
    assert [r["start"] for r in lines] == [0.0, 2.0625, 4.125, 6.1875, 8.25]
    source_frames, _ = read_video(src / "long.mp4")
    joined = np.concatenate([read_video(tmp_path / "ds" / c.file)[0] for c in clips])
    assert len(joined) == 144  # no frame dropped or repeated at the cuts
    assert np.abs(joined.astype(int) - source_frames.astype(int)).mean() < 3  # re-encoded, not resampled


def test_resume_skips_finished_work_and_restores_a_crash(source, tmp_path):
    out = tmp_path / "ds"
    (source / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 100)
    (source / "broken.txt").write_text("never imported")
    first = import_videos(source, out, progress=False)
    assert list(first.skipped) == ["broken.mp4"] and first.clips == 2  # counted, not a crash
    manifest = (out / "manifest.jsonl").read_text()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "clips").iterdir()}
    again = import_videos(source, out, progress=False)
    assert (again.videos, again.clips) == (2, 2)
    assert (out / "manifest.jsonl").read_text() == manifest
    assert {p.name: p.stat().st_mtime_ns for p in (out / "clips").iterdir()} == stamps  # nothing rewritten
    # a crash after the wide video's clip was written but before it was recorded as finished,
    # with a temporary left behind
    log = (out / "imported.jsonl").read_text().splitlines()
    (out / "imported.jsonl").write_text("\n".join(x for x in log if "wide.mp4" not in x) + "\n")
    (out / "clips" / ".wide-x.mp4.1234abcd.part.mp4").write_bytes(b"half")
    import_videos(source, out, progress=False)
    assert (out / "manifest.jsonl").read_text() == manifest  # its clip is not written twice
    assert not list((out / "clips").glob(".*"))
    with pytest.raises(ValueError, match="other settings"):
        import_videos(source, out, fps=8, progress=False)


def test_captions_from_a_file_and_missing_captions(source, tmp_path):
    for f in source.rglob("*.txt"):
        f.unlink()
    with pytest.raises(ValueError, match=r"2 of 2 videos have no caption \(sub/tall.mov, wide.mp4\)"):
        import_videos(source, tmp_path / "none", progress=False)
    assert not (tmp_path / "none").exists()  # nothing written
    lines = [{"file": "sub/tall.mov", "captions": {"short": "a square", "detailed": "a red square slides right"}},
             {"file": "wide.mp4", "caption": "a red square"}]  # a relative path, or a bare name
    (tmp_path / "caps.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    import_videos(source, tmp_path / "a", captions=tmp_path / "caps.jsonl", progress=False)
    caps = {c.id.split("-")[0]: c.captions for c in read_manifest(tmp_path / "a")}
    assert caps == {"tall": lines[0]["captions"], "wide": {"caption": "a red square"}}
    (tmp_path / "caps.csv").write_text('file,caption\ntall.mov,"a tall one, moving"\n')
    with pytest.raises(ValueError, match="wide.mp4"):
        import_videos(source, tmp_path / "b", captions=tmp_path / "caps.csv", progress=False)
    res = import_videos(source, tmp_path / "b", captions=tmp_path / "caps.csv", allow_uncaptioned=True, progress=False)
    caps = {c.id.split("-")[0]: c.captions for c in read_manifest(tmp_path / "b")}
    assert res.clips == 2 and caps == {"tall": {"caption": "a tall one, moving"}, "wide": {}}
    (tmp_path / "nofile.csv").write_text("file,caption\n,a caption without its video\n")
    with pytest.raises(ValueError, match="nofile.csv line 2: no file name"):
        import_videos(source, tmp_path / "c", captions=tmp_path / "nofile.csv", progress=False)
    (tmp_path / "bad.jsonl").write_text('{"file": "wide.mp4"}\n')
    with pytest.raises(ValueError, match="bad.jsonl line 1"):
        import_videos(source, tmp_path / "c", captions=tmp_path / "bad.jsonl", progress=False)


def test_bad_settings_name_the_fix(source, tmp_path):
    with pytest.raises(ValueError, match="multiple of 16.*try 96x96"):
        import_videos(source, tmp_path / "x", size=(100, 100), progress=False)
    with pytest.raises(ValueError, match="min_seconds"):
        import_videos(source, tmp_path / "x", seconds=2, min_seconds=3, progress=False)
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        import_videos(tmp_path / "no_such_folder", tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_cli_imports_and_reports(source, tmp_path, capsys):
    assert main(["data", "import", str(source), "--out", str(tmp_path / "ds"), "--size", "64x64"]) == 0
    out = capsys.readouterr().out
    assert "2 videos, 2 clips" in out and "kinema train vae" in out
    clips = {c.id.split("-")[0]: c for c in read_manifest(tmp_path / "ds")}
    assert {(c.width, c.height) for c in clips.values()} == {(64, 64)}
    # 200x120 into 64x64: scaled to cover (107x64), then centre-cropped, not squeezed
    frame = read_video(tmp_path / "ds" / clips["wide"].file)[0][20]  # source frame 38: x = 46
    assert abs(red_centre_x(frame) - (107 / 200 * (46 + 9.5) - 21)) < 1.5
    assert main(["data", "import", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "missing" in capsys.readouterr().err


def test_display_rotation_is_applied(tmp_path):
    """A phone's portrait video is stored landscape with a display rotation: imported upright."""
    import av

    src = tmp_path / "src"
    src.mkdir()
    image = np.zeros((96, 160, 3), np.uint8)
    image[:, :40] = (230, 40, 40)  # red on the stored frame's left
    with av.open(str(src / "phone.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=16)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.set_display_rotation(-90)  # shown turned clockwise, as a `rotate=90` tag says
        for _ in range(40):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    (src / "phone.txt").write_text("a red band")
    import_videos(src, tmp_path / "ds", progress=False)
    (clip,) = read_manifest(tmp_path / "ds")
    assert (clip.width, clip.height) == (96, 160)  # the portrait bucket
    frame = read_video(tmp_path / "ds" / clip.file)[0][0]
    assert frame[:30, :, 0].mean() > 200 and frame[60:, :, 0].mean() < 40  # the band is on top
