"""What one object did, in the world's motion vocabulary, from its track.

`describe_motion` is a pure function of a track (positions over time) plus, when known,
floor contacts and simulator events. Captions (what the simulation did), prompt checking
(did the sampled scene do what the prompt asked) and the evaluation (did the generated
video do it, from tracks parsed out of pixels) all call it, so the three agree by
construction. Every threshold is a named constant below.

Verbs (MOTION_VERBS), each with its definition:
- "falls":    while off the floor, the object descends at least FALL_MIN_DROP in one
              airborne stretch, and gravity is on.
- "bounces":  a "bounce" event names the object (kinema.world.sim: separating speed after a
              contact >= its BOUNCE_SPEED; floor, walls, obstacles and other objects count).
              Without events: a vertical reversal, down then up, each at >= BOUNCE_MIN_SPEED.
- "rolls":    a ball travels at least SURFACE_MIN_TRAVEL horizontally while touching the floor.
- "slides":   the same for any other shape.
- "moves":    none of the above, but the net displacement is at least MOVE_MIN_DISPLACEMENT
              (drifting without gravity, or a throw). `Motion.moved` is the plain fact
              "its net displacement is at least MOVE_MIN_DISPLACEMENT", whatever the verbs.
- "collides": a "collision" event names the object (needs events: it takes two tracks).
- "rests":    "comes to rest": a "rest" event names it (the simulator's definition: it moved,
              then stayed still to the end). Without events: it moved at least
              MOVE_MIN_DISPLACEMENT overall and its speed stays below TRACK_REST_SPEED over
              the last REST_MIN_SECONDS.

Directions are the sign of the net displacement from first to last frame, when its size
is at least DIRECTION_MIN_DISPLACEMENT: horizontal "left" / "right" / "none", vertical
"up" / "down" / "none".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from kinema.world.spec import FLOOR_Y

MOTION_VERBS: tuple[str, ...] = ("falls", "bounces", "rolls", "slides", "moves", "collides", "rests")

FALL_MIN_DROP = 0.5  # world units (5% of the frame width): less is a settle, not a fall
SURFACE_MIN_TRAVEL = 0.5  # world units along the floor to count as rolling / sliding
MOVE_MIN_DISPLACEMENT = 0.5  # world units of net displacement to count as moving
DIRECTION_MIN_DISPLACEMENT = 0.5  # world units of net x (or y) displacement to name a direction
BOUNCE_MIN_SPEED = 0.5  # units/s each way of a vertical reversal (track fallback only)
TRACK_REST_SPEED = 0.3  # units/s; looser than the simulator's since parsed tracks jitter
REST_MIN_SECONDS = 0.25  # the final stillness must last this long (track fallback only)
FLOOR_CONTACT_TOL = 0.05  # units; bottom within this of FLOOR_Y counts as touching (fallback)


@dataclass(frozen=True)
class Motion:
    """One object's motion over a clip.

    verbs: MOTION_VERBS that apply, in the order they first happened.
    onsets: frame at which each verb first happened, aligned with `verbs`.
    horizontal: "left" | "right" | "none"; vertical: "up" | "down" | "none".
    displacement: net (dx, dy), world units. moved: |displacement| >= MOVE_MIN_DISPLACEMENT.
    bounce_count: number of bounces. collides_with: the other objects' indices, in order.
    """

    verbs: tuple[str, ...]
    onsets: tuple[int, ...]
    horizontal: str
    vertical: str
    displacement: tuple[float, float]
    moved: bool
    bounce_count: int = 0
    collides_with: tuple[int, ...] = ()

    def has(self, verb: str) -> bool:
        return verb in self.verbs


def _direction(d: float, neg: str, pos: str) -> str:
    if abs(d) < DIRECTION_MIN_DISPLACEMENT:
        return "none"
    return pos if d > 0 else neg


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal [start, end) runs of True in a 1-D bool array."""
    out, start = [], None
    for t, m in enumerate(mask):
        if m and start is None:
            start = t
        elif not m and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, len(mask)))
    return out


def _fall_onset(y: np.ndarray, airborne: np.ndarray) -> int | None:
    """First frame of an airborne stretch whose max drawdown reaches FALL_MIN_DROP."""
    for s, e in _runs(airborne):
        # include the landing frame: the drop is measured to where the object arrives
        seg = y[s:min(e + 1, len(y))]
        peak = np.maximum.accumulate(seg)
        drop = peak - seg
        if drop.max(initial=0.0) >= FALL_MIN_DROP:
            return s
    return None


def _surface_onset(x: np.ndarray, contact: np.ndarray) -> int | None:
    """First frame from which horizontal travel in floor contact reaches SURFACE_MIN_TRAVEL."""
    both = contact[1:] & contact[:-1]  # steps that start and end on the floor
    steps = np.abs(np.diff(x)) * both
    travel = np.cumsum(steps)
    if len(travel) == 0 or travel[-1] < SURFACE_MIN_TRAVEL:
        return None
    return int(np.flatnonzero(both)[0])


def _track_bounces(y: np.ndarray, fps: float) -> list[int]:
    """Frames of down-then-up reversals, each side at >= BOUNCE_MIN_SPEED."""
    vy = np.diff(y) * fps  # (T-1,) velocity between frames
    out = []
    for t in range(1, len(vy)):
        if vy[t - 1] <= -BOUNCE_MIN_SPEED and vy[t] >= BOUNCE_MIN_SPEED:
            out.append(t)
    return out


def _track_rest(positions: np.ndarray, fps: float) -> int | None:
    n = max(2, int(np.ceil(REST_MIN_SECONDS * fps)))
    if len(positions) <= n:
        return None
    speed = np.linalg.norm(np.diff(positions, axis=0), axis=-1) * fps  # (T-1,)
    travelled = np.linalg.norm(positions - positions[0], axis=-1).max()
    if travelled < MOVE_MIN_DISPLACEMENT or speed[-n:].max() >= TRACK_REST_SPEED:
        return None
    moving = np.flatnonzero(speed >= TRACK_REST_SPEED)
    return int(moving[-1] + 1) if len(moving) else None


def describe_motion(
    positions: np.ndarray,
    fps: float,
    shape: str,
    floor_contact: np.ndarray | None = None,
    events: Sequence | None = None,
    *,
    index: int | None = None,
    gravity: bool = True,
    radius: float | None = None,
) -> Motion:
    """Describe one object's motion.

    positions: (T, 2) centre, world units, y up. fps: frames per second of the track.
    shape: one of kinema.world.spec.SHAPES (decides rolls vs slides).
    floor_contact: (T,) bool; None derives it from `radius` (bottom within FLOOR_CONTACT_TOL
        of FLOOR_Y), or treats the object as never on the floor when radius is None too.
    events: simulator / ground-truth events (objects with .frame, .kind, .objects) that
        involve this object; None falls back to the track-only definitions.
    index: this object's index in the scene, so `collides_with` can name the other object.
    gravity: False for a scene without gravity (nothing "falls" there).
    """
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 2 or len(positions) < 2:
        raise ValueError(f"positions must have shape (T, 2) with T >= 2, got {positions.shape}")
    x, y = positions[:, 0], positions[:, 1]
    if floor_contact is None:
        if radius is None:
            contact = np.zeros(len(positions), dtype=bool)
        else:
            contact = (y - radius) <= FLOOR_Y + FLOOR_CONTACT_TOL
    else:
        contact = np.asarray(floor_contact, dtype=bool)
        if contact.shape != (len(positions),):
            raise ValueError(f"floor_contact must have shape ({len(positions)},), got {contact.shape}")

    onset: dict[str, int] = {}
    if gravity:
        f = _fall_onset(y, ~contact)
        if f is not None:
            onset["falls"] = f
    s = _surface_onset(x, contact)
    if s is not None:
        onset["rolls" if shape == "ball" else "slides"] = s

    bounce_frames: list[int] = []
    collides_with: list[int] = []
    if events is None:
        bounce_frames = _track_bounces(y, fps)
        rest = _track_rest(positions, fps)
    else:
        rest = None
        for e in sorted(events, key=lambda e: e.frame):
            if index is not None and index not in e.objects:
                continue
            if e.kind == "bounce":
                bounce_frames.append(int(e.frame))
            elif e.kind == "collision":
                onset.setdefault("collides", int(e.frame))
                others = [o for o in e.objects if o != index] if index is not None else list(e.objects)
                for o in others:
                    if o not in collides_with:
                        collides_with.append(int(o))
            elif e.kind == "rest" and rest is None:
                rest = int(e.frame)
    if bounce_frames:
        onset["bounces"] = bounce_frames[0]
    if rest is not None:
        onset["rests"] = rest

    d = positions[-1] - positions[0]
    moved = bool(np.hypot(d[0], d[1]) >= MOVE_MIN_DISPLACEMENT)
    if moved and not any(v in onset for v in ("falls", "bounces", "rolls", "slides")):
        onset["moves"] = 0

    order = sorted(onset, key=lambda v: (onset[v], MOTION_VERBS.index(v)))
    return Motion(
        verbs=tuple(order),
        onsets=tuple(onset[v] for v in order),
        horizontal=_direction(float(d[0]), "left", "right"),
        vertical=_direction(float(d[1]), "down", "up"),
        displacement=(float(d[0]), float(d[1])),
        moved=moved,
        bounce_count=len(bounce_frames),
        collides_with=tuple(collides_with),
    )


def scene_motions(spec, traj) -> tuple[Motion, ...]:
    """describe_motion for every object of a simulated scene (spec: SceneSpec, traj: Trajectory)."""
    out = []
    for i, obj in enumerate(spec.objects):
        events = [e for e in traj.events if i in e.objects]
        out.append(describe_motion(
            traj.positions[:, i], spec.fps, obj.shape, traj.floor_contact[:, i], events,
            index=i, gravity=spec.gravity > 0,
        ))
    return tuple(out)
