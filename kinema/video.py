"""Reading and writing videos and stills: mp4 (H.264, yuv420p, faststart) and gif with PyAV
and Pillow, plus contact sheets for looking at videos.

Conventions, stated once:
- frames are uint8 numpy arrays shaped (T, H, W, 3), RGB; a still is (H, W, 3).
- every write is atomic: it goes to a temporary file in the destination folder and is
  renamed into place with os.replace, so a crash never leaves a half-written file.
- mp4 needs even sizes (yuv420p halves chroma in both directions); gif and stills do not.
- every failure to read names the file and the problem (VideoError, a ValueError).
"""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

VIDEO_EXTS = (".mp4", ".gif")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp")
SUPPORTED_EXTS = VIDEO_EXTS + IMAGE_EXTS

# CRF 15 is visually lossless for the world's flat-colour frames; PSNR is then bounded by
# yuv420p chroma subsampling at colour edges (~36-39 dB), not by the encoder.
DEFAULT_CRF = 15
DEFAULT_PRESET = "medium"

# RGB -> Y'CbCr, ITU-R BT.601 limited range (what players assume for untagged SD H.264),
# as 16.16 fixed point: exact integer arithmetic, so identical on every machine.
_Y_COEF = (16829, 33039, 6416)  # round(65536 * (65.481, 128.553, 24.966) / 255)
_CB_COEF = (-9714, -19070, 28784)  # round(65536 * (-37.797, -74.203, 112.0) / 255)
_CR_COEF = (28784, -24103, -4681)  # round(65536 * (112.0, -93.786, -18.214) / 255)
# ... and back: Y scale 255/219; R += 1.402, G -= 0.344136 / 0.714136, B += 1.772 times C * 255/224.
_Y_INV, _CR_R, _CB_G, _CR_G, _CB_B = 76309, 104597, -25675, -53279, 132201
_BT601_SPACES = (2, 5, 6)  # AVColorSpace unspecified, BT470BG, SMPTE170M


class VideoError(ValueError):
    """A video or image could not be read: missing, corrupt or not decodable."""


# ---------------------------------------------------------------- checks at the boundary


def _suffix(path: Path, allowed: Sequence[str], what: str) -> str:
    ext = path.suffix.lower()
    if ext not in allowed:
        raise ValueError(
            f"{path}: unsupported {what} extension {ext or '(none)'!r}; use one of {', '.join(allowed)}"
        )
    return ext


def _check_out_folder(path: Path) -> None:
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"output folder {folder} does not exist; create it first (mkdir -p {folder})")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"output folder {folder} is not writable; choose another path or fix its permissions")


def _check_even(width: int, height: int) -> None:
    if width % 2 or height % 2:
        fix_w = width - width % 2 or 2
        fix_h = height - height % 2 or 2
        raise ValueError(f"size {width}x{height} must be even for H.264; try {fix_w}x{fix_h}")


def _as_frames(frames, what: str = "frames") -> np.ndarray:
    """(T, H, W, 3) or (H, W, 3) uint8 -> (T, H, W, 3) uint8, or a ValueError naming the fix."""
    a = np.asarray(frames)
    if a.dtype != np.uint8:
        raise ValueError(
            f"{what} must be uint8 in [0, 255], got {a.dtype}; convert floats in [-1, 1] with "
            "((x + 1) * 127.5).round().clip(0, 255).astype(np.uint8)"
        )
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"{what} must be shaped (T, H, W, 3) or (H, W, 3) RGB, got {tuple(a.shape)}")
    return a


def _check_fps(fps: float) -> None:
    if not (isinstance(fps, (int, float, Fraction)) and 0 < fps <= 240):
        raise ValueError(f"fps must be a number in (0, 240], got {fps!r}")


def _temp_path(path: Path) -> Path:
    # Same folder (os.replace is atomic only within one filesystem); suffix kept so
    # encoders and Pillow pick the format; hidden so a crash leaves no plausible file.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part{path.suffix}")


# ---------------------------------------------------------------- writing


def _rgb_to_yuv420p(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, 3H/2, W) uint8 planar yuv420p, BT.601 limited range.

    Done here rather than by swscale: a 2x2 box average of chroma and exact rounding keep
    ~1 dB more PSNR at colour edges and leave flat colours unbiased.
    """
    t, h, w, _ = frames.shape
    rgb = frames.astype(np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]  # (T, H, W)
    out = np.empty((t, h * 3 // 2, w), np.uint8)
    out[:, :h] = (((16 << 16) + 32768) + _Y_COEF[0] * r + _Y_COEF[1] * g + _Y_COEF[2] * b) >> 16
    # (T, H/2, W/2, 3) sums of each 2x2 block; strided adds are ~10x faster than reshape().sum()
    block = rgb[:, 0::2, 0::2] + rgb[:, 1::2, 0::2] + rgb[:, 0::2, 1::2] + rgb[:, 1::2, 1::2]
    sr, sg, sb = block[..., 0], block[..., 1], block[..., 2]
    for plane, (cr_, cg, cb_) in enumerate((_CB_COEF, _CR_COEF)):
        c = (((128 << 18) + (1 << 17)) + cr_ * sr + cg * sg + cb_ * sb) >> 18  # /4 pixels, /65536
        rows = slice(h + plane * h // 4, h + (plane + 1) * h // 4)
        out[:, rows] = c.reshape(t, h // 4, w)
    return out


def _yuv420p_to_rgb(planes: np.ndarray) -> np.ndarray:
    """(3H/2, W) uint8 planar yuv420p, BT.601 limited range -> (H, W, 3) uint8 RGB.

    The inverse of _rgb_to_yuv420p with nearest chroma upsampling (its box filter's match);
    swscale's default path shifts flat colours by ~2 levels.
    """
    h, w = planes.shape[0] * 2 // 3, planes.shape[1]
    y = planes[:h].astype(np.int32) - 16
    cb, cr = (
        planes[h + i * h // 4 : h + (i + 1) * h // 4].reshape(h // 2, w // 2).astype(np.int32) - 128
        for i in (0, 1)
    )
    cb = cb.repeat(2, axis=0).repeat(2, axis=1)  # (H, W)
    cr = cr.repeat(2, axis=0).repeat(2, axis=1)
    y = _Y_INV * y + 32768
    rgb = np.stack([y + _CR_R * cr, y + _CB_G * cb + _CR_G * cr, y + _CB_B * cb], axis=-1) >> 16
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _to_rgb(frame: "av.VideoFrame") -> np.ndarray:
    plain_bt601 = int(frame.colorspace) in _BT601_SPACES and int(frame.color_range) != 2  # 2: full range
    if frame.format.name == "yuv420p" and plain_bt601 and frame.width % 2 == 0 and frame.height % 2 == 0:
        return _yuv420p_to_rgb(frame.to_ndarray())
    return frame.to_ndarray(format="rgb24")


class VideoWriter:
    """Stream frames to an .mp4 or .gif chunk by chunk; the file appears only on a clean close.

        with VideoWriter("out.mp4", fps=16, width=128, height=96) as w:
            for chunk in chunks:       # each (t, 96, 128, 3) uint8, or one (96, 128, 3) frame
                w.write(chunk)

    mp4 frames go straight to the encoder, so memory stays bounded for long videos. gif
    keeps each frame palettised (1 byte per pixel) until close, because Pillow writes a gif
    in one go; gifs are for short previews. On an exception inside the `with` block the
    temporary file is deleted and nothing is written.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        width: int,
        height: int,
        *,
        crf: int = DEFAULT_CRF,
        preset: str = DEFAULT_PRESET,
        threads: int = 1,
    ):
        self.path = Path(path)
        self.ext = _suffix(self.path, VIDEO_EXTS, "video")
        _check_fps(fps)
        if not (isinstance(width, (int, np.integer)) and isinstance(height, (int, np.integer)) and width > 0 and height > 0):
            raise ValueError(f"size {width}x{height} must be positive integers, e.g. 128x128")
        if self.ext == ".mp4":
            _check_even(width, height)
            if not 0 <= crf <= 51:
                raise ValueError(f"crf must be in 0..51 (lower is better quality), got {crf}")
        _check_out_folder(self.path)
        self.fps, self.width, self.height = fps, int(width), int(height)
        self.num_frames = 0
        self._tmp = _temp_path(self.path)
        self._closed = False
        self._gif_frames: list[Image.Image] = []
        self._container = self._stream = None
        if self.ext == ".mp4":
            self._container = av.open(str(self._tmp), "w", format="mp4", options={"movflags": "+faststart"})
            rate = Fraction(fps).limit_denominator(1001)
            self._stream = self._container.add_stream("libx264", rate=rate)
            self._stream.width, self._stream.height = self.width, self.height
            self._stream.pix_fmt = "yuv420p"
            # mbtree reads uninitialised lookahead state on short clips, so the same frames could
            # encode differently from run to run; without it output is byte-for-byte reproducible.
            self._stream.options = {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"}
            # 1 thread: the same bytes on every machine; 0 lets libx264 pick (faster, machine-dependent)
            self._stream.codec_context.thread_count = threads

    def write(self, frames) -> None:
        """Append frames: (t, H, W, 3) or (H, W, 3) uint8 RGB matching the writer's size."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed; open a new VideoWriter")
        a = _as_frames(frames)
        if a.shape[1:3] != (self.height, self.width):
            raise ValueError(
                f"frames are {a.shape[2]}x{a.shape[1]} but the writer was opened for "
                f"{self.width}x{self.height}; resize them or open the writer with that size"
            )
        if self._stream is not None:
            for planes in _rgb_to_yuv420p(a):
                for packet in self._stream.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p")):
                    self._container.mux(packet)
        else:
            for frame in a:
                self._gif_frames.append(Image.fromarray(frame).quantize(256, dither=Image.Dither.NONE))
        self.num_frames += len(a)

    def close(self) -> Path:
        """Flush, finish the file and move it into place. Returns the final path."""
        if self._closed:
            return self.path
        if self.num_frames == 0:
            self.abort()
            raise ValueError(f"{self.path}: no frames were written; call write() with at least one frame")
        try:
            if self._stream is not None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
                self._container.close()
            else:
                # gif delays are whole centiseconds; 16 fps becomes 6 cs (16.7 fps on read).
                duration = max(20, round(1000 / float(self.fps), -1))
                first, *rest = self._gif_frames
                first.save(self._tmp, format="GIF", save_all=True, append_images=rest,
                           duration=duration, loop=0, optimize=False, disposal=1)
                self._gif_frames = []
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Discard everything written so far; the destination is left untouched."""
        self._closed = True
        self._gif_frames = []
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # the container may be half-initialised; the file is deleted anyway
                pass
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_image(path: str | os.PathLike, frame) -> Path:
    """Write one (H, W, 3) uint8 RGB frame as .png, .jpg/.jpeg or .webp (atomically)."""
    path = Path(path)
    ext = _suffix(path, IMAGE_EXTS, "image")
    a = _as_frames(frame, "frame")
    if len(a) != 1:
        raise ValueError(f"write_image takes one frame (H, W, 3), got {len(a)} frames; pass frames[0]")
    _check_out_folder(path)
    tmp = _temp_path(path)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}[ext]
    options = {".png": {}, ".jpg": {"quality": 95}, ".jpeg": {"quality": 95}, ".webp": {"lossless": True}}[ext]
    try:
        Image.fromarray(a[0]).save(tmp, format=fmt, **options)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_video(
    path: str | os.PathLike,
    frames,
    fps: float,
    *,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
    threads: int = 1,
) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames; the format follows the extension.

    .mp4: H.264 (libx264), yuv420p, faststart, quality `crf` (0..51, lower is better);
        byte-for-byte reproducible with threads=1 (0: libx264 picks, faster on big frames).
    .gif: palettised, looping. .png/.jpg/.jpeg/.webp: a still of the first frame.
    Returns the written path.
    """
    path = Path(path)
    ext = _suffix(path, SUPPORTED_EXTS, "output")
    a = _as_frames(frames)
    if len(a) == 0:
        raise ValueError(f"{path}: no frames to write; frames must have T >= 1")
    if ext in IMAGE_EXTS:
        return write_image(path, a[0])
    _, h, w, _ = a.shape
    with VideoWriter(path, fps, w, h, crf=crf, preset=preset, threads=threads) as writer:
        writer.write(a)
    return path


# ---------------------------------------------------------------- reading


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.is_dir():
        raise VideoError(f"{path}: is a folder, not a video or image file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: file is empty (0 bytes); it was probably not written completely")


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Decode every frame of the first video stream of anything PyAV reads.

    Returns (frames (T, H, W, 3) uint8 RGB, fps). fps is the stream's average rate
    (for gifs, rounded to whole-centisecond delays by the format itself).
    """
    path = Path(path)
    _check_readable(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            frames = [_to_rgb(f) for f in container.decode(stream)]
    except VideoError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise VideoError(f"{path}: cannot decode ({e}); the file is corrupt or not a video") from e
    if not frames:
        raise VideoError(f"{path}: contains no decodable frames; the file is corrupt or truncated")
    return np.stack(frames), float(rate) if rate else 0.0


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a still (png, jpg, webp, ... anything Pillow opens) as (H, W, 3) uint8 RGB.

    Any mode is converted: greyscale and palettes to RGB; alpha is composited over black.
    An animated file gives its first frame.
    """
    path = Path(path)
    _check_readable(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (0, 0, 0, 255))
                im = Image.alpha_composite(background, im)
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, SyntaxError, ValueError) as e:  # Pillow's UnidentifiedImageError is an OSError
        raise VideoError(f"{path}: cannot read image ({e}); the file is corrupt or not an image") from e


# ---------------------------------------------------------------- the Video value


@dataclass
class Video:
    """A clip in memory: frames (T, H, W, 3) uint8 RGB at `fps` frames per second."""

    frames: np.ndarray
    fps: float

    def __post_init__(self):
        self.frames = _as_frames(self.frames)
        if len(self.frames) == 0:
            raise ValueError("a Video needs at least one frame")
        _check_fps(self.fps)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def seconds(self) -> float:
        """Duration spanned by the frames: (T - 1) / fps, so 33 frames at 16 fps is 2 s."""
        return (self.num_frames - 1) / float(self.fps)

    def save(self, path: str | os.PathLike, **kwargs) -> Path:
        """Write by extension (.mp4, .gif, or a still of the first frame); see write_video."""
        return write_video(path, self.frames, self.fps, **kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Video":
        frames, fps = read_video(path)
        return cls(frames, fps)


# ---------------------------------------------------------------- contact sheets

_SHEET_BG = (32, 32, 36)
_LABEL_FG = (235, 235, 235)


def _pick(frames: np.ndarray, max_frames: int) -> np.ndarray:
    """Up to max_frames evenly spaced frames, always including the first and the last."""
    n = min(len(frames), max_frames)
    idx = np.linspace(0, len(frames) - 1, n).round().astype(int)
    return frames[idx]


def _scaled(frame: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1:
        return frame
    h, w = frame.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.NEAREST))


def _draw_label(canvas: np.ndarray, text: str, x: int, y: int, height: int) -> None:
    im = Image.fromarray(canvas)
    draw = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=max(8, height - 4))
    except TypeError:  # Pillow without FreeType: fixed bitmap font
        font = ImageFont.load_default()
    draw.text((x, y + 1), text, fill=_LABEL_FG, font=font)
    canvas[:] = np.asarray(im)


def contact_sheet(
    frames,
    *,
    columns: int | None = None,
    max_frames: int = 16,
    labels: Sequence[str] | None = None,
    scale: float = 1.0,
    gap: int = 2,
) -> np.ndarray:
    """A grid of evenly spaced frames as one (H', W', 3) uint8 image.

    frames: one video ((T, H, W, 3) uint8 or a Video) laid out in a grid of `columns`
        (default: near-square), or a list of videos laid out one row per video, each row
        showing up to `max_frames` frames (then `columns` caps the frames per row).
    labels: one string per row video (or one title for a single video), drawn above it.
    scale: resize factor for each frame (nearest neighbour, so pixels stay crisp).
    """
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    one_video = isinstance(frames, Video) or (hasattr(frames, "shape") and len(frames.shape) in (3, 4))
    videos = [frames] if one_video else list(frames)
    if not videos:
        raise ValueError("contact_sheet needs at least one video")
    videos = [_as_frames(v.frames if isinstance(v, Video) else v, "contact sheet frames") for v in videos]
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(videos):
            raise ValueError(f"got {len(labels)} labels for {len(videos)} videos; pass one label per video")

    if one_video:
        picked = _pick(videos[0], max_frames)
        cols = columns or math.ceil(math.sqrt(len(picked)))
        rows = [picked[i : i + cols] for i in range(0, len(picked), cols)]
        row_labels = [labels[0] if labels else None] + [None] * (len(rows) - 1)
    else:
        picked = [_pick(v, max_frames if columns is None else min(max_frames, columns)) for v in videos]
        cols = max(len(p) for p in picked)
        rows = picked
        row_labels = labels or [None] * len(rows)
    if columns is not None and columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")

    rows = [[_scaled(f, scale) for f in row] for row in rows]
    cell_h = max(f.shape[0] for row in rows for f in row)
    cell_w = max(f.shape[1] for row in rows for f in row)
    label_h = 14 if any(row_labels) else 0
    row_h = label_h + cell_h + gap
    sheet = np.empty((gap + len(rows) * row_h, gap + cols * (cell_w + gap), 3), np.uint8)
    sheet[:] = _SHEET_BG
    for r, row in enumerate(rows):
        y = gap + r * row_h
        if row_labels[r]:
            _draw_label(sheet, str(row_labels[r]), gap, y, label_h)
        for c, f in enumerate(row):
            x = gap + c * (cell_w + gap)
            sheet[y + label_h : y + label_h + f.shape[0], x : x + f.shape[1]] = f
    return sheet


def save_contact_sheet(path: str | os.PathLike, frames_or_videos, **kwargs) -> Path:
    """contact_sheet(...) written as a still (.png recommended); same arguments."""
    return write_image(path, contact_sheet(frames_or_videos, **kwargs))


def fit_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fit (T, H, W, 3) uint8 frames to width x height: centre-crop to the target aspect
    ratio (no stretching), then resize with antialiased bilinear filtering."""
    import torch  # here, so that reading and writing videos does not load torch
    import torch.nn.functional as F

    T, H, W, _ = frames.shape
    if (H, W) == (height, width):
        return frames
    if W * height > width * H:  # too wide: crop the sides
        w = max(1, round(H * width / height))
        frames = frames[:, :, (W - w) // 2: (W - w) // 2 + w]
    elif W * height < width * H:  # too tall: crop top and bottom
        h = max(1, round(W * height / width))
        frames = frames[:, (H - h) // 2: (H - h) // 2 + h]
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def nearest_bucket(width: int, height: int, buckets) -> tuple[int, int]:
    """The bucket (width, height) whose aspect ratio is closest to width / height."""
    aspect = math.log(width / height)
    return min(buckets, key=lambda b: (abs(math.log(b[0] / b[1]) - aspect), -b[0] * b[1]))
