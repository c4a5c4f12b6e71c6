"""From a text prompt to a scene that does what it says.

`parse_prompt` turns text into PromptConstraints with a small hand-written grammar over the
world's vocabulary (adjectives before a shape make an object; verbs attach to the objects
named since the previous verb; "with X" after "collides" names the other party).
`scene_from_prompt` samples a SceneSpec satisfying them: unspecified attributes come from
the split's distribution, motions from initial conditions (kinema.world.splits recipes),
and every candidate is simulated and checked by `check_constraints` (kinema.world.motion
verbs), resampling deterministically from (split, seed, attempt). `expand_prompt` is
Sora-style prompt expansion: the detailed caption of that scene.
"""

from __future__ import annotations

import functools
import itertools
import re
import warnings
import zlib
from dataclasses import dataclass

import numpy as np

from kinema.world.captions import caption_scene
from kinema.world.motion import MOTION_VERBS, scene_motions
from kinema.world.sim import simulate
from kinema.world.spec import BACKGROUNDS, COLOURS, SHAPES, SIZES, CameraSpec, ObjectSpec, SceneSpec
from kinema.world.splits import (
    COMBO_HELDOUT,
    check_split,
    collision_pair,
    initial_state,
    is_heldout,
    ood_size_word,
    overlaps,
    sample_camera,
    sample_radius,
    shapes_for,
)

MAX_ATTEMPTS = 48
MAX_PROMPT_OBJECTS = 4  # more objects than this rarely fit in a 10-unit-wide world

# Vocabulary: word -> canonical value. Plurals are listed so counts read naturally.
COLOUR_WORDS = {c: c for c in COLOURS} | {"violet": "purple", "magenta": "pink", "aqua": "cyan", "teal": "cyan"}
SHAPE_WORDS = {
    **{w: "ball" for w in ("ball", "balls", "sphere", "spheres", "circle", "circles", "disc", "discs",
                           "disk", "disks", "orb", "orbs")},
    **{w: "box" for w in ("box", "boxes", "cube", "cubes", "square", "squares", "block", "blocks",
                          "crate", "crates")},
    **{w: "triangle" for w in ("triangle", "triangles")},
    **{w: "pentagon" for w in ("pentagon", "pentagons")},
}
SIZE_WORDS = {"small": "small", "tiny": "small", "little": "small", "medium": "medium",
              "large": "large", "big": "large", "huge": "large", "giant": "large"}
COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "1": 1, "2": 2, "3": 3, "4": 4}
VERB_WORDS = {
    **dict.fromkeys(("falls", "fall", "falling", "fell", "drops", "drop", "dropping", "dropped"), "falls"),
    **dict.fromkeys(("bounces", "bounce", "bouncing", "bounced", "rebounds"), "bounces"),
    **dict.fromkeys(("rolls", "roll", "rolling", "rolled"), "rolls"),
    **dict.fromkeys(("slides", "slide", "sliding", "slid", "glides", "glide", "gliding"), "slides"),
    **dict.fromkeys(("moves", "move", "moving", "moved", "goes", "go", "going", "travels", "travel",
                     "travelling", "traveling", "drifts", "drift", "drifting", "flies", "fly", "flying",
                     "heads", "heading"), "moves"),
    **dict.fromkeys(("collides", "collide", "colliding", "collided", "hits", "hit", "hitting", "crashes",
                     "crash", "crashing", "bumps", "bump", "bumping", "strikes"), "collides"),
    **dict.fromkeys(("rests", "rest", "stops", "stop", "stopping", "settles", "settle", "settling"), "rests"),
}
DIRECTION_WORDS = {
    **dict.fromkeys(("left", "leftward", "leftwards"), "left"),
    **dict.fromkeys(("right", "rightward", "rightwards"), "right"),
    **dict.fromkeys(("up", "upward", "upwards"), "up"),
    **dict.fromkeys(("down", "downward", "downwards"), "down"),
}
BACKGROUND_WORDS = {"black": "black", "dark": "black", "gray": "gray", "grey": "gray", "grid": "grid",
                    "dusk": "dusk", "sunset": "dusk", "twilight": "dusk"}
PAN_WORDS = ("pan", "pans", "panning")
ZOOM_WORDS = ("zoom", "zooms", "zooming")
STATIC_CAMERA_WORDS = ("static", "fixed", "stationary")
FLOAT_WORDS = ("floating", "floats", "float", "weightless", "antigravity", "space")
NO_GRAVITY_BEFORE = ("without", "no", "zero", "zerog")
STOP_WORDS = frozenset("""
the and then with on in of to at from into onto against is are was be there it its this that
which while as so by over across along toward towards around after before finally first each
other another some very slowly quickly fast slow gently scene objects object background
camera watches stays stay sits sit still comes come coming twice times several holds hold
everything ramp ledge floor ground wall walls frame video clip shot bright coloured colored
shaped shape off g gravity under
""".split())


@dataclass(frozen=True)
class ObjectConstraint:
    """What the prompt says about one kind of object; None means "any".

    motions: MOTION_VERBS in the order named. collides_with: index (into
    PromptConstraints.objects) of the object it must collide with, or None.
    """

    colour: str | None = None
    shape: str | None = None
    size: str | None = None
    count: int = 1
    motions: tuple[str, ...] = ()
    horizontal: str | None = None
    vertical: str | None = None
    collides_with: int | None = None

    def describe(self) -> str:
        words = [w for w in (self.size, self.colour, self.shape or "object") if w]
        return " ".join(words)


@dataclass(frozen=True)
class PromptConstraints:
    """Everything a prompt asks for; None means "unspecified, sample it"."""

    objects: tuple[ObjectConstraint, ...]
    camera: str | None = None
    background: str | None = None
    gravity: bool | None = None
    unknown_words: tuple[str, ...] = ()
    text: str = ""


def vocabulary() -> str:
    """The words parse_prompt understands, for error messages."""
    return (
        f"colours: {', '.join(COLOURS)}; shapes: {', '.join(SHAPES)} (or sphere, circle, cube, square, "
        f"block); sizes: {', '.join(SIZES)} (or tiny, big); counts: a, one, two, three; motions: "
        f"{', '.join(MOTION_VERBS)} (comes to rest), with left/right/up/down; camera: static, pans "
        f"left/right, zooms in/out; backgrounds: {', '.join(BACKGROUNDS)}; gravity: 'without gravity', "
        "'in zero gravity', 'floating'"
    )


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("zero-g", "zerog"))


def parse_prompt(text: str) -> PromptConstraints:
    """Parse a prompt; warns about unknown words, raises ValueError if nothing is recognisable."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty prompt; describe a scene, e.g. 'a red ball bounces to the right'")
    toks = _tokens(text)
    objs: list[dict] = []
    subjects: list[int] = []  # objects the next verb applies to
    verb_since_subject = True  # a new object after a verb starts a new subject group
    target_mode = False  # after "collides with": objects named are the other party
    target_done = False
    pending: dict = {}
    pending_dir: list[str] = []
    camera = background = gravity = None
    unknown: list[str] = []

    def new_object(shape):
        nonlocal verb_since_subject, target_done
        o = {"colour": pending.get("colour"), "size": pending.get("size"), "shape": shape,
             "count": pending.get("count", 1), "motions": [], "h": None, "v": None, "with": None}
        pending.clear()
        objs.append(o)
        k = len(objs) - 1
        if target_mode:
            o["motions"].append("collides")
            for s in subjects:
                objs[s]["with"] = k
            target_done = True
        elif verb_since_subject:
            subjects[:] = [k]
            verb_since_subject = False
        else:
            subjects.append(k)
        return k

    def apply_direction(d):
        for s in subjects:
            objs[s]["h" if d in ("left", "right") else "v"] = d

    k = 0
    while k < len(toks):
        w = toks[k]
        nxt = [t for t in toks[k + 1:k + 4] if t not in ("to", "the")]
        if w in PAN_WORDS and nxt and nxt[0] in ("left", "right"):
            camera = f"pan_{nxt[0]}"
            k = toks.index(nxt[0], k + 1) + 1
            continue
        if w in ZOOM_WORDS and nxt and nxt[0] in ("in", "out"):
            camera = f"zoom_{nxt[0]}"
            k = toks.index(nxt[0], k + 1) + 1
            continue
        if w in STATIC_CAMERA_WORDS or (w == "still" and "camera" in toks[max(0, k - 3):k]):
            camera = "static"
        elif w in ("gravity", "g") or w == "zerog":
            prev = toks[k - 1] if k else ""
            if w == "zerog" or prev in NO_GRAVITY_BEFORE or toks[k + 1:k + 2] == ["off"]:
                gravity = False
            elif w == "gravity" and prev in ("with", "under", "normal"):
                gravity = True
        elif w in FLOAT_WORDS:
            gravity = False
        elif w == "zero" or w == "without" or w == "no" or w == "normal":
            pass  # read by the gravity rule above
        elif w in COUNT_WORDS:
            pending["count"] = COUNT_WORDS[w]
        elif w in SIZE_WORDS:
            pending["size"] = SIZE_WORDS[w]
        elif w in COLOUR_WORDS:
            pending["colour"] = COLOUR_WORDS[w]
        elif w in BACKGROUND_WORDS:
            background = BACKGROUND_WORDS[w]
        elif w in SHAPE_WORDS:
            new_object(SHAPE_WORDS[w])
        elif w in VERB_WORDS:
            if "colour" in pending or "size" in pending:
                new_object(None)  # "a red one falls"
            if not subjects:
                new_object(None)  # "something falls"
            verb = VERB_WORDS[w]
            for s in subjects:
                if verb not in objs[s]["motions"]:
                    objs[s]["motions"].append(verb)
            if verb == "collides" and len(subjects) >= 2 and not (nxt and nxt[0] in ("with", "into")):
                for a, b in zip(subjects, subjects[1:] + subjects[:1]):
                    objs[a]["with"] = b  # "a red ball and a blue box collide"
            verb_since_subject = True
            target_mode = verb == "collides" and toks[k + 1:k + 2] in (["with"], ["into"], ["against"])
            target_done = False
            for d in pending_dir:
                apply_direction(d)
            pending_dir.clear()
        elif w in DIRECTION_WORDS:
            if subjects and verb_since_subject:
                apply_direction(DIRECTION_WORDS[w])
            else:
                pending_dir.append(DIRECTION_WORDS[w])
        elif w == "and" and target_done:
            target_mode = False
        elif w in STOP_WORDS or w in ("in", "out", "pans", "zooms"):
            pass
        else:
            unknown.append(w)
        k += 1
    if "colour" in pending or "size" in pending:
        new_object(None)

    objects = tuple(ObjectConstraint(
        colour=o["colour"], shape=o["shape"], size=o["size"], count=o["count"], motions=tuple(o["motions"]),
        horizontal=o["h"], vertical=o["v"], collides_with=o["with"],
    ) for o in objs)
    if not objects and camera is None and background is None and gravity is None:
        raise ValueError(f"nothing recognisable in prompt {text!r}; use the world's vocabulary: {vocabulary()}")
    if unknown:
        warnings.warn(f"prompt words not in the world's vocabulary, ignored: {', '.join(unknown)}", stacklevel=2)
    return PromptConstraints(objects, camera, background, gravity, tuple(unknown), text)


# ---------------------------------------------------------------------------- checking


def _object_failures(c: ObjectConstraint, obj: ObjectSpec, m, gravity: bool) -> list[str]:
    out = []
    name = c.describe()
    for attr in ("colour", "shape", "size"):
        want = getattr(c, attr)
        if want is not None and getattr(obj, attr) != want:
            out.append(f"{name}: {attr} is {getattr(obj, attr)}, wanted {want}")
    for verb in c.motions:
        # with gravity nothing is left to "move" freely, so any net displacement counts there
        ok = verb in m.verbs or (verb == "moves" and gravity and m.moved)
        if not ok:
            out.append(f"{name}: wanted '{verb}', it did {', '.join(m.verbs) or 'nothing'}")
    if c.horizontal is not None and m.horizontal != c.horizontal:
        out.append(f"{name}: wanted to go {c.horizontal}, went {m.horizontal}")
    if c.vertical is not None and m.vertical != c.vertical:
        out.append(f"{name}: wanted to go {c.vertical}, went {m.vertical}")
    return out


def check_constraints(constraints: PromptConstraints, spec: SceneSpec, traj) -> list[str]:
    """Failures of a simulated scene against the constraints; an empty list means satisfied.

    Objects are matched to constraints (each counted `count` times) by the assignment with the
    fewest failures, so the check does not depend on the order of spec.objects.
    """
    fails: list[str] = []
    if constraints.camera is not None and spec.camera.kind != constraints.camera:
        fails.append(f"camera is {spec.camera.kind}, wanted {constraints.camera}")
    if constraints.background is not None and spec.background != constraints.background:
        fails.append(f"background is {spec.background}, wanted {constraints.background}")
    gravity = spec.gravity > 0
    if constraints.gravity is not None and gravity != constraints.gravity:
        fails.append(f"gravity is {'on' if gravity else 'off'}, wanted {'on' if constraints.gravity else 'off'}")
    slots = [ci for ci, c in enumerate(constraints.objects) for _ in range(c.count)]
    if len(slots) > len(spec.objects):
        return fails + [f"scene has {len(spec.objects)} objects, the prompt asks for {len(slots)}"]
    motions = scene_motions(spec, traj)
    best = None
    for perm in itertools.permutations(range(len(spec.objects)), len(slots)):
        f = []
        for ci, oi in zip(slots, perm):
            c = constraints.objects[ci]
            f += _object_failures(c, spec.objects[oi], motions[oi], gravity)
            if c.collides_with is not None:
                partners = {p for cj, p in zip(slots, perm) if cj == c.collides_with}
                if not partners & set(motions[oi].collides_with):
                    f.append(f"{c.describe()}: wanted to collide with the "
                             f"{constraints.objects[c.collides_with].describe()}")
        if best is None or len(f) < len(best):
            best = f
        if not f:
            break
    return fails + (best or [])


# ---------------------------------------------------------------------------- sampling


def _plan(c: ObjectConstraint, rng: np.random.Generator, gravity: bool) -> str:
    """The recipe (splits.initial_state motion) most likely to show everything c asks for."""
    ms = set(c.motions)
    if "collides" in ms:
        return "collides"
    if not gravity:
        return "moves"
    if "bounces" in ms:
        return "bounces"
    if "falls" in ms:
        return "falls"
    if "rolls" in ms:
        return "rolls"
    if "slides" in ms:
        return "slides"
    if "rests" in ms:
        return "falls"
    if "moves" in ms or c.horizontal:
        return "rolls" if c.shape == "ball" else "slides" if c.shape else str(rng.choice(["rolls", "slides"]))
    return str(rng.choice(["falls", "bounces", "rolls", "slides"]))


def _check_feasible(pc: PromptConstraints) -> None:
    for c in pc.objects:
        if c.shape is not None and c.shape != "ball" and "rolls" in c.motions:
            raise ValueError(f"only balls roll, not a {c.shape}; try 'a {c.colour or 'red'} {c.shape} slides'")
        if c.shape == "ball" and "slides" in c.motions:
            raise ValueError(f"balls roll rather than slide; try 'a {c.colour or 'red'} ball rolls'")
        if pc.gravity and c.vertical == "up" and "bounces" not in c.motions:
            raise ValueError("with gravity nothing keeps moving up; add 'in zero gravity'")
    if sum(c.count for c in pc.objects) > MAX_PROMPT_OBJECTS:
        raise ValueError(f"at most {MAX_PROMPT_OBJECTS} objects fit in a scene; ask for fewer")


def _gravity_for(pc: PromptConstraints, rng: np.random.Generator) -> bool:
    if pc.gravity is not None:
        return pc.gravity
    verbs = {v for c in pc.objects for v in c.motions}
    if verbs & {"falls", "bounces", "rolls", "slides", "rests"}:
        return True
    if "moves" in verbs or any(c.vertical == "up" for c in pc.objects):
        return False  # "moves" without a surface verb reads as drifting
    return bool(rng.random() >= 0.15)


def _attributes(c, plan, rng, split):
    """Colour, shape, size and radius for one object, sampling what c leaves open."""
    for _ in range(100):
        shape = c.shape or str(rng.choice(shapes_for(plan)))
        if c.shape is None and plan == "bounces" and rng.random() < 0.5:
            shape = "ball"
        colour = c.colour or str(rng.choice(COLOURS))
        # the split's held-out triples are never sampled, only asked for
        if (c.colour is None or c.shape is None) and is_heldout(colour, shape, plan):
            continue
        size = c.size or str(rng.choice(list(SIZES)))
        r = sample_radius(rng, size, split)
        if split == "ood" and c.size is None:
            size = ood_size_word(r)
        return colour, shape, size, r
    raise RuntimeError(f"no attributes for {c.describe()} outside {COMBO_HELDOUT}")


def _try_scene(pc, rng, split, fps, seconds, width, height, seed):
    world_h = 10.0 * height / width
    gravity = _gravity_for(pc, rng)
    ood = split == "ood"
    slots = [ci for ci, c in enumerate(pc.objects) for _ in range(c.count)]
    cons = list(pc.objects)
    if not slots:
        cons = [ObjectConstraint()]
        slots = [0]
    # pair up colliders: each with its named partner, else the next collider, else a new object
    plans = [_plan(cons[ci], rng, gravity) for ci in slots]
    partner: dict[int, int] = {}
    for a, ci in enumerate(slots):
        if plans[a] != "collides" or a in partner:
            continue
        want = cons[ci].collides_with
        cands = [b for b, cj in enumerate(slots) if b != a and b not in partner
                 and (cj == want if want is not None else plans[b] == "collides")]
        if not cands and want is None:
            cands = [b for b, cj in enumerate(slots) if b != a and b not in partner and not cons[cj].motions]
        if cands:
            b = cands[0]
        else:
            cons.append(ObjectConstraint())
            slots.append(len(cons) - 1)
            plans.append("collides")
            b = len(slots) - 1
        partner[a], partner[b] = b, a
        plans[b] = "collides"
    attrs = [_attributes(cons[ci], plans[a], rng, split) for a, ci in enumerate(slots)]
    kws: list[dict | None] = [None] * len(slots)
    for a, ci in enumerate(slots):
        c = cons[ci]
        if kws[a] is not None:
            continue
        if plans[a] == "collides":
            b = partner[a]
            airborne = gravity and any(v in ("falls", "bounces") for v in c.motions + cons[slots[b]].motions)
            ka, kb = collision_pair(rng, (attrs[a][1], attrs[b][1]), (attrs[a][3], attrs[b][3]),
                                    world_height=world_h, gravity=gravity and not airborne, ood=ood)
            if airborne:
                y = float(rng.uniform(0.55, 0.75) * world_h)
                ka["position"], kb["position"] = (ka["position"][0], y), (kb["position"][0], y)
            if c.horizontal == "left" or cons[slots[b]].horizontal == "right":
                ka, kb = (_mirror(ka), _mirror(kb))
            kws[a], kws[b] = ka, kb
        else:
            kws[a] = initial_state(rng, plans[a], attrs[a][1], attrs[a][3], world_height=world_h,
                                   gravity=gravity, horizontal=c.horizontal, vertical=c.vertical, ood=ood)
            if "rests" in c.motions and plans[a] == "falls":
                kws[a].update(elasticity=float(rng.uniform(0.0, 0.03)), friction=0.9,
                              velocity=(0.0, kws[a]["velocity"][1]))
            elif "rests" in c.motions:
                kws[a].update(elasticity=0.0, friction=float(rng.uniform(0.5, 0.8)))  # stops within the clip
            if "slides" in c.motions and plans[a] != "slides":
                kws[a]["friction"] = float(rng.uniform(0.15, 0.35))
            if any(v in c.motions for v in ("rolls", "slides")) and plans[a] in ("falls", "bounces"):
                kws[a]["elasticity"] = float(rng.uniform(0.0, 0.2))  # land and stay on the floor
    objs = [ObjectSpec(shape=s, colour=col, size=size, radius=r, **kw) for (col, s, size, r), kw in zip(attrs, kws)]
    if overlaps(objs):
        return None
    camera = CameraSpec(pc.camera, float(rng.uniform(0.5, 1.5)) if pc.camera.startswith("pan")
                        else float(rng.uniform(0.1, 0.25)) if pc.camera.startswith("zoom") else 0.0) \
        if pc.camera else sample_camera(rng)
    return SceneSpec(
        objects=tuple(objs), gravity=9.8 if gravity else 0.0,
        background=pc.background or str(rng.choice(list(BACKGROUNDS))), camera=camera,
        fps=fps, seconds=seconds, width=width, height=height, seed=int(seed),
    )


def _mirror(kw: dict) -> dict:
    """Reflect initial conditions about the frame's centre line (x -> 10 - x)."""
    (x, y), (vx, vy) = kw["position"], kw["velocity"]
    return {**kw, "position": (10.0 - x, y), "velocity": (-vx, vy)}


def scene_from_prompt(
    text: str,
    seed: int,
    *,
    fps: float = 16,
    seconds: float = 2.0,
    width: int = 128,
    height: int = 128,
    split: str = "id",
) -> SceneSpec:
    """A scene that, simulated, satisfies every constraint of the prompt; deterministic per
    (prompt, seed), and different prompts at one seed are independent draws."""
    check_split(split)
    pc = parse_prompt(text)
    _check_feasible(pc)
    last: list[str] = []
    # the prompt is part of the seed: with the seed alone, every prompt of one structure (say,
    # one object with one verb) drew the same sizes, positions and camera at a given seed
    key = zlib.crc32(" ".join(text.lower().split()).encode())
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([zlib.crc32(b"prompt"), zlib.crc32(split.encode()), key, int(seed), attempt])
        spec = _try_scene(pc, rng, split, fps, seconds, width, height, seed)
        if spec is None:
            continue
        last = check_constraints(pc, spec, simulate(spec))
        if not last:
            return spec
    raise ValueError(
        f"could not realise {text!r} in {MAX_ATTEMPTS} attempts ({'; '.join(last) or 'objects overlapped'}); "
        "try another seed, a longer clip, or fewer motions per object"
    )


@functools.lru_cache(maxsize=256)
def expand_prompt(short: str, seed: int, *, fps: float = 16, seconds: float = 2.0, width: int = 128,
                  height: int = 128) -> str:
    """Sora-style prompt expansion: the detailed caption of the scene scene_from_prompt builds
    (a clip of `seconds` at fps, width x height), in the words of the detailed captions the
    world's clips are trained with. Raises ValueError where scene_from_prompt does.
    Kept per arguments (a function of them): the command line prints the expansion that
    KinemaPipeline then uses, without simulating the scene twice."""
    spec = scene_from_prompt(short, seed, fps=fps, seconds=seconds, width=width, height=height)
    return caption_scene(spec, simulate(spec), seed)["detailed"]
