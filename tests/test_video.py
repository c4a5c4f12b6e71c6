"""kinema.video: round trips, atomic writes and errors that name the file and the fix."""

import numpy as np
import pytest

from kinema.video import (
    Video,
    VideoError,
    VideoWriter,
    contact_sheet,
    read_image,
    read_video,
    save_contact_sheet,
    write_image,
    write_video,
)


def flat_colour_clip(t=17, h=96, w=128):
    """Moving flat-colour blocks on a dark background, like the world's frames."""
    frames = np.empty((t, h, w, 3), np.uint8)
    frames[:] = (18, 18, 22)
    for i in range(t):
        frames[i, 8 + i : 28 + i, 10 + 2 * i : 30 + 2 * i] = (220, 40, 40)
        frames[i, 40:56, 50 + i : 70 + i] = (40, 90, 235)
        frames[i, h - 8 :] = (105, 95, 85)
    return frames


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def test_mp4_round_trip_quality_count_and_fps(tmp_path):
    src = flat_colour_clip()
    path = write_video(tmp_path / "clip.mp4", src, fps=16)
    frames, fps = read_video(path)
    assert frames.shape == src.shape and frames.dtype == np.uint8
    assert fps == 16.0
    assert psnr(frames, src) >= 35.0
    assert np.abs(frames[0, 0, 0].astype(int) - src[0, 0, 0]).max() <= 1  # flat colour unbiased


def test_mp4_faststart_puts_moov_before_mdat(tmp_path):
    data = write_video(tmp_path / "clip.mp4", flat_colour_clip(t=5), fps=8).read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_mp4_bytes_are_reproducible(tmp_path):
    src = flat_colour_clip(t=9, h=160, w=96)  # short portrait clip: where x264's mbtree was not
    a = write_video(tmp_path / "a.mp4", src, fps=8).read_bytes()
    junk = [np.random.default_rng(i).integers(0, 255, 997 * i + 7, np.uint8) for i in range(8)]  # churn the heap
    assert write_video(tmp_path / "b.mp4", src, fps=8).read_bytes() == a
    del junk


def test_streaming_writer_matches_one_shot(tmp_path):
    src = flat_colour_clip()
    with VideoWriter(tmp_path / "chunks.mp4", 16, 128, 96) as w:
        for i in range(0, len(src), 5):
            w.write(src[i : i + 5])
        w.write(np.zeros((96, 128, 3), np.uint8))  # a single frame is a chunk too
    frames, _ = read_video(tmp_path / "chunks.mp4")
    assert len(frames) == len(src) + 1


def test_writer_exception_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "x.mp4", 16, 128, 96) as w:
            w.write(flat_colour_clip(t=3))
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_gif_and_stills_decode_back(tmp_path):
    src = flat_colour_clip(t=6, h=33, w=47)  # odd sizes are fine outside H.264
    frames, fps = read_video(write_video(tmp_path / "a.gif", src, fps=10))
    assert frames.shape == src.shape and fps == pytest.approx(10, rel=0.05)
    assert np.abs(frames.astype(int) - src).mean() < 2
    png = read_image(write_video(tmp_path / "a.png", src, fps=10))
    np.testing.assert_array_equal(png, src[0])  # a still is the first frame, lossless
    webp = read_image(write_image(tmp_path / "a.webp", src[3]))
    np.testing.assert_array_equal(webp, src[3])
    jpg = read_image(write_image(tmp_path / "a.jpg", src[0]))
    assert jpg.shape == src[0].shape


def test_read_image_converts_modes(tmp_path):
    from PIL import Image

    Image.new("L", (10, 8), 100).save(tmp_path / "grey.png")
    Image.new("RGBA", (10, 8), (200, 100, 50, 0)).save(tmp_path / "clear.png")
    assert read_image(tmp_path / "grey.png").shape == (8, 10, 3)
    assert read_image(tmp_path / "clear.png").max() == 0  # alpha composited over black


def test_atomic_writes_leave_no_temp_files(tmp_path):
    src = flat_colour_clip(t=4)
    for name in ("a.mp4", "a.gif", "a.png", "a.jpg"):
        write_video(tmp_path / name, src, fps=8)
    write_video(tmp_path / "a.mp4", src[:2], fps=8)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "a.jpg", "a.mp4", "a.png"]
    assert len(read_video(tmp_path / "a.mp4")[0]) == 2


def test_odd_size_error_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"129x96 must be even for H.264; try 128x96"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 96, 129, 3), np.uint8), fps=8)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    frames = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match=r"\.avi.*\.mp4, \.gif, \.png"):
        write_video(tmp_path / "x.avi", frames, fps=8)
    with pytest.raises(ValueError, match="does not exist"):
        write_video(tmp_path / "missing" / "x.mp4", frames, fps=8)
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "x.mp4", frames.astype(np.float32), fps=8)
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "x.mp4", frames[:0], fps=8)
    with VideoWriter(tmp_path / "x.mp4", 8, 16, 16) as w:
        with pytest.raises(ValueError, match="16x16"):
            w.write(np.zeros((1, 8, 8, 3), np.uint8))
        w.write(frames)


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"this is not a video" * 50)
    with pytest.raises(VideoError, match="x.mp4.*corrupt"):
        read_video(bad)
    with pytest.raises(VideoError, match="nope.mp4: no such file"):
        read_video(tmp_path / "nope.mp4")
    (tmp_path / "x.png").write_bytes(b"garbage")
    with pytest.raises(VideoError, match="x.png"):
        read_image(tmp_path / "x.png")
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(VideoError, match="empty"):
        read_video(tmp_path / "empty.mp4")
    assert issubclass(VideoError, ValueError)


def test_video_dataclass(tmp_path):
    v = Video(flat_colour_clip(t=33), fps=16)
    assert (v.num_frames, v.height, v.width, v.seconds) == (33, 96, 128, 2.0)
    v2 = Video.load(v.save(tmp_path / "v.mp4"))
    assert v2.num_frames == 33 and v2.fps == 16
    v.save(tmp_path / "v.png")
    with pytest.raises(ValueError, match="uint8"):
        Video(np.zeros((2, 8, 8, 3), np.float32), fps=8)


def test_contact_sheet_shapes(tmp_path):
    clip = flat_colour_clip(t=33, h=32, w=48)
    sheet = contact_sheet(clip, max_frames=16, gap=2)  # 16 frames -> 4x4 grid
    assert sheet.shape == (2 + 4 * (32 + 2), 2 + 4 * (48 + 2), 3)
    sheet = contact_sheet(clip, columns=8, max_frames=8, scale=2, gap=0)
    assert sheet.shape == (64, 8 * 96, 3)
    rows = contact_sheet([clip, clip[:4]], max_frames=6, labels=["a red box", "short"], gap=0)
    assert rows.shape == (2 * (14 + 32), 6 * 48, 3)
    with pytest.raises(ValueError, match="one label per video"):
        contact_sheet([clip, clip], labels=["only one"])
    path = save_contact_sheet(tmp_path / "sheet.png", [Video(clip, 16)], labels=["x"])
    assert read_image(path).ndim == 3
