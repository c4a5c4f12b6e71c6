"""Scene specifications and the world's fixed vocabulary.

Coordinates are world units with y pointing up (pymunk's convention). The visible
world is `WORLD_WIDTH` units wide; its height follows the frame's aspect ratio. The
floor's top surface is at y = FLOOR_Y; the ground strip below it is drawn.
Pixels have y pointing down; the camera (kinema.world.render) maps between them.

Everything here is data: the vocabulary that captions, prompts, the renderer and the
evaluation share, and frozen dataclasses that serialise to and from JSON.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

WORLD_WIDTH = 10.0  # world units across the frame at zoom 1
FLOOR_Y = 0.6  # top of the floor; the strip below is drawn as ground
DEFAULT_GRAVITY = 9.8  # world units / s^2

# Fixed palette: saturated colours far apart in RGB, and far from every background,
# so a frame parser can name an object's colour from pixels alone.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 90, 235),
    "yellow": (240, 210, 40),
    "purple": (150, 60, 200),
    "orange": (245, 130, 30),
    "cyan": (40, 200, 220),
    "pink": (245, 110, 180),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)

SHAPES: tuple[str, ...] = ("ball", "box", "triangle", "pentagon")

# Nominal radius (centre to vertex / circle radius) in world units per size word.
SIZES: dict[str, float] = {"small": 0.45, "medium": 0.7, "large": 1.0}
# Training ('id') radii stay within this factor of the nominal; 'ood' goes outside.
SIZE_JITTER = 0.1

# Backgrounds are dark or desaturated so that palette colours stand out from them.
BACKGROUNDS: dict[str, dict[str, Any]] = {
    "black": {"kind": "flat", "colour": (18, 18, 22)},
    "gray": {"kind": "flat", "colour": (70, 72, 78)},
    "grid": {"kind": "grid", "colour": (28, 30, 36), "line": (70, 74, 84), "spacing": 1.0},
    "dusk": {"kind": "gradient", "top": (20, 24, 48), "bottom": (64, 52, 70)},
}
GROUND_COLOUR = (105, 95, 85)
OBSTACLE_COLOUR = (150, 150, 150)

CAMERAS: tuple[str, ...] = ("static", "pan_left", "pan_right", "zoom_in", "zoom_out")
OBSTACLES: tuple[str, ...] = ("ramp", "ledge")

# Training speeds (world units / s) for the initial velocity magnitude; 'ood' exceeds them.
SPEED_RANGE = (0.0, 6.0)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


@dataclass(frozen=True)
class ObjectSpec:
    """One rigid body. Positions and velocities in world units (y up), angles in radians."""

    shape: str
    colour: str
    size: str = "medium"
    radius: float | None = None  # None: the nominal radius of `size`
    mass: float = 1.0
    elasticity: float = 0.6
    friction: float = 0.6
    position: tuple[float, float] = (5.0, 5.0)
    velocity: tuple[float, float] = (0.0, 0.0)
    angle: float = 0.0
    spin: float = 0.0  # angular velocity, rad/s, counter-clockwise positive

    def __post_init__(self):
        _check(self.shape in SHAPES, f"unknown shape {self.shape!r}; choose one of {', '.join(SHAPES)}")
        _check(self.colour in PALETTE, f"unknown colour {self.colour!r}; choose one of {', '.join(COLOURS)}")
        _check(self.size in SIZES, f"unknown size {self.size!r}; choose one of {', '.join(SIZES)}")
        _check(self.mass > 0, f"mass must be > 0, got {self.mass}")
        _check(0 <= self.elasticity <= 1, f"elasticity must be in [0, 1], got {self.elasticity}")
        _check(self.friction >= 0, f"friction must be >= 0, got {self.friction}")
        if self.radius is not None:
            _check(self.radius > 0, f"radius must be > 0, got {self.radius}")

    @property
    def r(self) -> float:
        """Radius in world units (explicit radius, else the size word's nominal one)."""
        return self.radius if self.radius is not None else SIZES[self.size]


@dataclass(frozen=True)
class ObstacleSpec:
    """A static segment: a ramp (sloped) or a ledge (horizontal), `thickness` world units thick."""

    kind: str
    start: tuple[float, float]
    end: tuple[float, float]
    thickness: float = 0.2

    def __post_init__(self):
        _check(self.kind in OBSTACLES, f"unknown obstacle {self.kind!r}; choose one of {', '.join(OBSTACLES)}")


@dataclass(frozen=True)
class CameraSpec:
    """Camera motion over the clip: pans move `speed` world units/s; zooms change scale by `speed`/s."""

    kind: str = "static"
    speed: float = 0.0

    def __post_init__(self):
        _check(self.kind in CAMERAS, f"unknown camera {self.kind!r}; choose one of {', '.join(CAMERAS)}")
        _check(self.speed >= 0, f"camera speed must be >= 0, got {self.speed}")


def check_video_size(width: int, height: int) -> None:
    """Raise a ValueError naming the fix unless width x height is a positive even size."""
    _check(
        isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0,
        f"size {width}x{height} must be positive integers, e.g. 128x128",
    )
    _check(
        width % 2 == 0 and height % 2 == 0,
        f"size {width}x{height} must be even (H.264 needs it); try {width + width % 2}x{height + height % 2}",
    )


def check_timing(seconds: float, fps: float) -> None:
    """Raise a ValueError naming the fix unless 0 < seconds <= 60 and 1 <= fps <= 60."""
    _check(0 < seconds <= 60, f"seconds must be in (0, 60], got {seconds}")
    _check(1 <= fps <= 60, f"fps must be in 1..60, got {fps}")


def num_frames_for(seconds: float, fps: float) -> int:
    """Frames in a clip: one per 1/fps plus the first, so 2 s at 16 fps is 33 frames (1 + 4k)."""
    return int(round(seconds * fps)) + 1


@dataclass(frozen=True)
class SceneSpec:
    """A complete, reproducible scene: simulate(spec) is deterministic."""

    objects: tuple[ObjectSpec, ...]
    gravity: float = DEFAULT_GRAVITY  # 0 turns gravity off
    floor: bool = True
    walls: bool = True
    obstacles: tuple[ObstacleSpec, ...] = ()
    background: str = "black"
    camera: CameraSpec = field(default_factory=CameraSpec)
    fps: float = 16
    seconds: float = 2.0
    width: int = 128
    height: int = 128
    seed: int = 0

    def __post_init__(self):
        _check(len(self.objects) >= 1, "a scene needs at least one object")
        _check(self.gravity >= 0, f"gravity must be >= 0 (0 turns it off), got {self.gravity}")
        _check(
            self.background in BACKGROUNDS,
            f"unknown background {self.background!r}; choose one of {', '.join(BACKGROUNDS)}",
        )
        check_video_size(self.width, self.height)
        check_timing(self.seconds, self.fps)

    @property
    def num_frames(self) -> int:
        return num_frames_for(self.seconds, self.fps)

    @property
    def world_height(self) -> float:
        return WORLD_WIDTH * self.height / self.width

    @property
    def pixels_per_unit(self) -> float:
        return self.width / WORLD_WIDTH

    def replace(self, **changes) -> "SceneSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SceneSpec":
        d = dict(d)
        d["objects"] = tuple(
            ObjectSpec(**{**o, "position": tuple(o["position"]), "velocity": tuple(o["velocity"])})
            for o in d["objects"]
        )
        d["obstacles"] = tuple(
            ObstacleSpec(**{**o, "start": tuple(o["start"]), "end": tuple(o["end"])})
            for o in d.get("obstacles", ())
        )
        d["camera"] = CameraSpec(**d.get("camera", {}))
        return cls(**d)


def speed(v: tuple[float, float]) -> float:
    return math.hypot(v[0], v[1])
