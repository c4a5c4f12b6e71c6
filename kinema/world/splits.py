"""Dataset splits as data, and the scene sampler that draws from them.

Splits (stable across versions: change them and every reported number changes):
- "id":    training distribution: radii within SIZE_JITTER of SIZES, initial speeds in
           SPEED_RANGE, and never a (colour, shape, motion) triple of COMBO_HELDOUT.
- "ood":   every object has a radius outside all the id ranges (tiny or huge) and an initial
           speed above SPEED_RANGE.
- "combo": like "id", except that the first object is one held-out triple, shown doing it.

A scene is planned before it is sampled: every object gets a motion verb first (falls,
bounces, rolls, slides, moves, collides), then a colour and shape allowed for that verb in
the split, then initial conditions that produce the verb. The scene is then simulated and
kept only if each planned verb happened and (for "id") no held-out triple happened by
accident; otherwise the next attempt draws from (split, seed, attempt).
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from kinema.world.spec import (
    BACKGROUNDS,
    COLOURS,
    FLOOR_Y,
    SHAPES,
    SIZE_JITTER,
    SIZES,
    WORLD_WIDTH,
    CameraSpec,
    ObjectSpec,
    ObstacleSpec,
    SceneSpec,
)

SPLITS: tuple[str, ...] = ("id", "ood", "combo")

# Never generated in "id"; "combo" shows exactly these. Motions are motion.MOTION_VERBS.
COMBO_HELDOUT: tuple[tuple[str, str, str], ...] = (
    ("blue", "ball", "rolls"),
    ("yellow", "box", "slides"),
    ("green", "ball", "bounces"),
    ("pink", "triangle", "falls"),
    ("orange", "pentagon", "collides"),
)

# Verbs a planned object can be given (rests happens on its own; moves needs no gravity).
PLANNED_MOTIONS: tuple[str, ...] = ("falls", "bounces", "rolls", "slides", "moves", "collides")

OOD_SPEED_RANGE = (6.5, 9.0)  # units/s, above SPEED_RANGE
OOD_RADIUS_SMALL = (0.25, 0.38)  # below small's id range 0.45 * (1 - SIZE_JITTER)
OOD_RADIUS_LARGE = (1.2, 1.45)  # above large's id range 1.0 * (1 + SIZE_JITTER)
MAX_ATTEMPTS = 64
_EDGE = 0.15  # world units kept between an object and the frame's edge at the start


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def split_rng(split: str, seed: int, attempt: int = 0) -> np.random.Generator:
    """The generator for (split, seed, attempt): crc32 of the name, so it never depends on order."""
    return np.random.default_rng([zlib.crc32(split.encode()), int(seed), int(attempt)])


def shapes_for(motion: str) -> tuple[str, ...]:
    """Shapes that can show `motion`: only balls roll, only non-balls slide."""
    if motion == "rolls":
        return ("ball",)
    if motion == "slides":
        return tuple(s for s in SHAPES if s != "ball")
    return SHAPES


def is_heldout(colour: str, shape: str, motion: str) -> bool:
    return (colour, shape, motion) in COMBO_HELDOUT


def sample_radius(rng: np.random.Generator, size: str, split: str) -> float:
    """A radius for the size word: within SIZE_JITTER of nominal, or outside every id range for "ood"."""
    if split == "ood":
        lo, hi = OOD_RADIUS_SMALL if size in ("small", "medium") else OOD_RADIUS_LARGE
        return float(rng.uniform(lo, hi))
    return float(SIZES[size] * (1 + rng.uniform(-SIZE_JITTER, SIZE_JITTER)))


def ood_size_word(radius: float) -> str:
    return "small" if radius < SIZES["medium"] else "large"


def _bottom_offset(shape: str, r: float) -> float:
    """Distance from centre down to the lowest point at angle 0 (see sim.polygon_vertices)."""
    n = {"ball": 0, "box": 4, "triangle": 3, "pentagon": 5}[shape]
    if n == 0:
        return r
    start = math.pi / 4 if n == 4 else math.pi / 2
    return -min(r * math.sin(start + 2 * math.pi * k / n) for k in range(n))


def initial_state(
    rng: np.random.Generator,
    motion: str,
    shape: str,
    r: float,
    *,
    world_height: float,
    gravity: bool,
    horizontal: str | None = None,
    vertical: str | None = None,
    ood: bool = False,
) -> dict:
    """Position, velocity and material that make an object show `motion` (not "collides":
    pairs are placed by `collision_pair`). horizontal/vertical: a required direction or None.
    Returns ObjectSpec keyword arguments."""
    lo_x, hi_x = r + _EDGE, WORLD_WIDTH - r - _EDGE
    floor_y = FLOOR_Y + _bottom_offset(shape, r) + 1e-3
    top_y = world_height - r - _EDGE

    def sign() -> float:
        if horizontal == "left":
            return -1.0
        if horizontal == "right":
            return 1.0
        return float(rng.choice([-1.0, 1.0]))

    def start_x(s: float) -> float:
        # start on the side the object moves away from, so it crosses the frame
        if horizontal in ("left", "right"):
            return float(rng.uniform(lo_x, lo_x + 0.45 * (hi_x - lo_x))) if s > 0 else \
                float(rng.uniform(hi_x - 0.45 * (hi_x - lo_x), hi_x))
        return float(rng.uniform(lo_x, hi_x))

    s = sign()
    # half the objects barely bounce, so a plain "falls" (no bounce event) is common too
    el = float(rng.uniform(0.0, 0.05)) if rng.random() < 0.5 else float(rng.uniform(0.2, 0.6))
    kw: dict = {"elasticity": el, "friction": float(rng.uniform(0.4, 0.8))}
    if motion in ("falls", "bounces"):
        y = float(rng.uniform(max(floor_y + 2.0, 0.55 * world_height), max(floor_y + 2.0, top_y)))
        vx = s * float(rng.uniform(1.0, 2.5)) if horizontal else float(rng.uniform(-1.5, 1.5))
        vy = float(rng.uniform(-1.0, 0.5))
        if motion == "bounces":
            kw["elasticity"] = float(rng.uniform(0.7, 0.9))
        pos, vel = (start_x(s), min(y, top_y)), (vx, vy)
    elif motion in ("rolls", "slides"):
        speed = float(rng.uniform(1.5, 4.0)) if motion == "rolls" else float(rng.uniform(3.0, 5.0))
        if motion == "slides":
            kw["friction"] = float(rng.uniform(0.15, 0.35))
            kw["elasticity"] = float(rng.uniform(0.05, 0.2))
        pos, vel = (start_x(s), floor_y), (s * speed, 0.0)
    elif motion == "moves":
        if gravity:
            # with gravity, moving sideways means along the floor
            pos, vel = (start_x(s), floor_y), (s * float(rng.uniform(2.0, 4.0)), 0.0)
            kw["friction"] = float(rng.uniform(0.15, 0.35))
        else:
            ang = float(rng.uniform(0, 2 * math.pi))
            vx, vy = math.cos(ang), math.sin(ang)
            if horizontal:
                vx = s * max(abs(vx), 0.7)
            if vertical:
                vy = (1.0 if vertical == "up" else -1.0) * max(abs(vy), 0.7)
                if not horizontal:
                    vx *= 0.3
            speed = float(rng.uniform(1.2, 2.5))
            n = math.hypot(vx, vy)
            vel = (speed * vx / n, speed * vy / n)
            lo_y, hi_y = floor_y + 0.2, top_y
            if vertical == "up":
                y = float(rng.uniform(lo_y, lo_y + 0.35 * (hi_y - lo_y)))
            elif vertical == "down":
                y = float(rng.uniform(hi_y - 0.35 * (hi_y - lo_y), hi_y))
            else:
                y = float(rng.uniform(lo_y + 0.2 * (hi_y - lo_y), hi_y - 0.2 * (hi_y - lo_y)))
            pos = (start_x(s) if horizontal else float(rng.uniform(lo_x + 1, hi_x - 1)), y)
    else:
        raise ValueError(f"no recipe for motion {motion!r}; choose one of {', '.join(PLANNED_MOTIONS)}")
    if ood:
        vel = _ood_velocity(rng, vel)
    kw.update(position=(float(pos[0]), float(pos[1])), velocity=(float(vel[0]), float(vel[1])),
              angle=0.0, spin=0.0)
    return kw


def _ood_velocity(rng: np.random.Generator, vel: tuple[float, float]) -> tuple[float, float]:
    """Same direction (or sideways if at rest), with a speed in OOD_SPEED_RANGE."""
    n = math.hypot(*vel)
    d = (vel[0] / n, vel[1] / n) if n > 1e-6 else (float(rng.choice([-1.0, 1.0])), 0.0)
    sp = float(rng.uniform(*OOD_SPEED_RANGE))
    return (sp * d[0], sp * d[1])


def collision_pair(
    rng: np.random.Generator,
    shapes: tuple[str, str],
    radii: tuple[float, float],
    *,
    world_height: float,
    gravity: bool,
    ood: bool = False,
) -> tuple[dict, dict]:
    """Two objects on a collision course: the first from the left moving right, the second
    from the right moving left or waiting. Returns two ObjectSpec keyword dicts."""
    kws = []
    if gravity:
        ys = [FLOOR_Y + _bottom_offset(s, r) + 1e-3 for s, r in zip(shapes, radii)]
    else:
        y = float(rng.uniform(0.35 * world_height, 0.65 * world_height))
        ys = [y + float(rng.uniform(-0.1, 0.1)), y]
    xa = float(rng.uniform(radii[0] + _EDGE, 3.0))
    xb = float(rng.uniform(7.0, WORLD_WIDTH - radii[1] - _EDGE))
    va = float(rng.uniform(2.5, 4.5))
    vb = -float(rng.uniform(0.0, 3.0)) if rng.random() < 0.7 else 0.0
    for x, yy, v in ((xa, ys[0], va), (xb, ys[1], vb)):
        vel = (v, 0.0)
        if ood and v != 0.0:
            vel = _ood_velocity(rng, vel)
        kws.append({
            "position": (x, yy), "velocity": vel, "angle": 0.0, "spin": 0.0,
            "elasticity": float(rng.uniform(0.3, 0.8)), "friction": float(rng.uniform(0.2, 0.5)),
        })
    if ood and kws[1]["velocity"] == (0.0, 0.0):
        kws[1]["velocity"] = (-float(rng.uniform(*OOD_SPEED_RANGE)), 0.0)
    return kws[0], kws[1]


def overlaps(objs: list[ObjectSpec], margin: float = 0.05) -> bool:
    """True if any two objects' bounding circles intersect at their start positions."""
    for i in range(len(objs)):
        for j in range(i + 1, len(objs)):
            a, b = objs[i], objs[j]
            if math.dist(a.position, b.position) < a.r + b.r + margin:
                return True
    return False


def hits_obstacle(obj: ObjectSpec, obstacles: tuple[ObstacleSpec, ...]) -> bool:
    for ob in obstacles:
        p, a, b = np.array(obj.position), np.array(ob.start), np.array(ob.end)
        t = np.clip(np.dot(p - a, b - a) / max(np.dot(b - a, b - a), 1e-9), 0, 1)
        if np.linalg.norm(p - (a + t * (b - a))) < obj.r + ob.thickness / 2 + 0.05:
            return True
    return False


def sample_camera(rng: np.random.Generator) -> CameraSpec:
    """Mostly static; pans at 0.5-1.5 units/s; zooms at 0.1-0.25 scale/s."""
    u = rng.random()
    if u < 0.7:
        return CameraSpec("static", 0.0)
    if u < 0.9:
        return CameraSpec(str(rng.choice(["pan_left", "pan_right"])), float(rng.uniform(0.5, 1.5)))
    return CameraSpec(str(rng.choice(["zoom_in", "zoom_out"])), float(rng.uniform(0.1, 0.25)))


def _sample_obstacle(rng: np.random.Generator, world_height: float) -> ObstacleSpec:
    if rng.random() < 0.5:
        left = rng.random() < 0.5
        top = (0.3 if left else WORLD_WIDTH - 0.3, float(rng.uniform(2.5, 3.5)))
        bottom = (3.8 if left else WORLD_WIDTH - 3.8, FLOOR_Y + 0.1)
        return ObstacleSpec("ramp", top, bottom)
    y = float(rng.uniform(0.3, 0.45) * world_height)
    x0 = float(rng.uniform(0.0, 6.0))
    return ObstacleSpec("ledge", (x0, y), (x0 + float(rng.uniform(2.5, 4.0)), y))


def _pick_colour_shape(rng, motion, split, forbid_heldout, shape=None):
    for _ in range(100):
        sh = shape or str(rng.choice(shapes_for(motion)))
        if motion == "bounces" and shape is None and rng.random() < 0.5:
            sh = "ball"  # balls bounce most visibly
        col = str(rng.choice(COLOURS))
        if not (forbid_heldout and is_heldout(col, sh, motion)):
            return col, sh
    raise RuntimeError(f"no colour/shape for {motion!r} outside COMBO_HELDOUT")


def _try_scene(rng, split, fps, seconds, width, height, max_objects, seed):
    world_h = WORLD_WIDTH * height / width
    ood = split == "ood"
    n = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
    n = max(1, min(n, max_objects))
    gravity = rng.random() >= 0.15
    pool = ["falls", "bounces", "rolls", "slides", "collides"] if gravity else ["moves", "collides"]
    weights = np.array([0.2, 0.25, 0.2, 0.15, 0.2] if gravity else [0.6, 0.4])
    plans: list[str] = []
    forced = None
    if split == "combo":
        choices = [c for c in COMBO_HELDOUT if c[2] != "collides" or max_objects >= 2]
        forced = choices[int(rng.integers(len(choices)))]
        if forced[2] not in pool:
            gravity, pool, weights = True, ["falls", "bounces", "rolls", "slides", "collides"], \
                np.array([0.2, 0.25, 0.2, 0.15, 0.2])
        plans.append(forced[2])
        if forced[2] == "collides":
            plans.append("collides")
    while len(plans) < n:
        m = str(rng.choice(pool, p=weights / weights.sum()))
        if m == "collides":
            if len(plans) + 2 > max_objects:
                continue
            plans += ["collides", "collides"]
        else:
            plans.append(m)
    n = len(plans)
    obstacles = (_sample_obstacle(rng, world_h),) if gravity and rng.random() < 0.2 else ()

    objs: list[ObjectSpec] = []
    i = 0
    while i < n:
        m = plans[i]
        group = 2 if m == "collides" else 1
        cs, sizes, radii = [], [], []
        for k in range(group):
            if forced is not None and i + k == 0:
                col, sh = forced[0], forced[1]
            else:
                col, sh = _pick_colour_shape(rng, m, split, forbid_heldout=True)
            size = str(rng.choice(list(SIZES)))
            r = sample_radius(rng, size, split)
            if ood:
                size = ood_size_word(r)
            cs.append((col, sh))
            sizes.append(size)
            radii.append(r)
        if group == 2:
            kws = collision_pair(rng, (cs[0][1], cs[1][1]), (radii[0], radii[1]),
                                 world_height=world_h, gravity=gravity, ood=ood)
        else:
            kws = (initial_state(rng, m, cs[0][1], radii[0], world_height=world_h, gravity=gravity, ood=ood),)
        for (col, sh), size, r, kw in zip(cs, sizes, radii, kws):
            objs.append(ObjectSpec(shape=sh, colour=col, size=size, radius=r, **kw))
        i += group
    if overlaps(objs) or any(hits_obstacle(o, obstacles) for o in objs):
        return None, plans
    spec = SceneSpec(
        objects=tuple(objs), gravity=9.8 if gravity else 0.0, obstacles=obstacles,
        background=str(rng.choice(list(BACKGROUNDS))), camera=sample_camera(rng),
        fps=fps, seconds=seconds, width=width, height=height, seed=int(seed),
    )
    return spec, plans


def _acceptable(spec: SceneSpec, plans: list[str], split: str) -> bool:
    from kinema.world.motion import scene_motions
    from kinema.world.sim import simulate

    motions = scene_motions(spec, simulate(spec))
    for obj, plan, mo in zip(spec.objects, plans, motions):
        if not mo.has(plan):
            return False
        if split == "id" and any(is_heldout(obj.colour, obj.shape, v) for v in mo.verbs):
            return False
    return True


def sample_scene(
    split: str,
    seed: int,
    *,
    fps: float = 16,
    seconds: float = 2.0,
    width: int = 128,
    height: int = 128,
    max_objects: int = 3,
) -> SceneSpec:
    """A varied scene from `split`, deterministic in (split, seed): 1..max_objects objects, each
    verified by simulation to show its planned motion."""
    check_split(split)
    if max_objects < 1:
        raise ValueError(f"max_objects must be >= 1, got {max_objects}")
    for attempt in range(MAX_ATTEMPTS):
        rng = split_rng(split, seed, attempt)
        spec, plans = _try_scene(rng, split, fps, seconds, width, height, max_objects, seed)
        if spec is not None and _acceptable(spec, plans, split):
            return spec
    raise RuntimeError(
        f"no {split!r} scene for seed {seed} after {MAX_ATTEMPTS} attempts at {seconds} s; "
        "try another seed or a longer clip"
    )


def sample_prompt(split: str, seed: int) -> str:
    """A short prompt describing a scene of `split` (its short caption)."""
    from kinema.world.captions import caption_scene
    from kinema.world.sim import simulate

    spec = sample_scene(split, seed)
    return caption_scene(spec, simulate(spec), seed)["short"]
