"""Captions at three levels of detail, written from what the simulation did.

Sora re-captions its training videos with descriptive text; here the "captioner" is exact:
every verb comes from kinema.world.motion on the simulated track and events, so a caption
says "bounces" only if a bounce event names that object, and the detailed caption tells
each object's verbs in the order they happened. Phrasings vary with the seed so a text
encoder sees varied language for the same kind of clip. Every word a caption uses is in
the prompt parser's vocabulary (kinema.world.prompts), so captions parse back cleanly.
"""

from __future__ import annotations

import numpy as np

from kinema.world.motion import Motion, scene_motions
from kinema.world.spec import SceneSpec

# Salience for the one verb a short caption keeps.
_SALIENCE = ("collides", "bounces", "rolls", "slides", "moves", "falls", "rests")

_PRESENT = {"falls": "falls", "bounces": "bounces", "rolls": "rolls", "slides": "slides",
            "moves": "moves", "collides": "collides", "rests": "comes to rest"}
_PROGRESSIVE = {"falls": "falling", "bounces": "bouncing", "rolls": "rolling", "slides": "sliding",
                "moves": "moving", "collides": "colliding", "rests": "coming to rest"}
# Verbs that a direction phrase can follow ("rolls to the left").
_DIRECTED = ("falls", "bounces", "rolls", "slides", "moves")
_CAMERA = {
    "static": ("the camera is static", "the camera stays still", "a static camera watches"),
    "pan_left": ("the camera pans to the left", "the camera pans left"),
    "pan_right": ("the camera pans to the right", "the camera pans right"),
    "zoom_in": ("the camera zooms in", "the camera slowly zooms in"),
    "zoom_out": ("the camera zooms out", "the camera slowly zooms out"),
}
_COUNT_WORDS = {2: "twice", 3: "three times"}


def _noun(spec: SceneSpec, i: int, *, size: bool, article: str) -> str:
    o = spec.objects[i]
    words = ([o.size] if size else []) + [o.colour, o.shape]
    if article.lower() == "a" and words[0][0] in "aeiou":
        article += "n"
    return f"{article} {' '.join(words)}"


def _direction_phrase(m: Motion, rng: np.random.Generator) -> str:
    h = m.horizontal if m.horizontal != "none" else None
    v = m.vertical if m.vertical != "none" and "moves" in m.verbs else None  # falling implies down
    if h and v:
        return f" {v} and to the {h}"
    if h:
        return f" to the {h}" if rng.random() < 0.7 else f" {h}"
    if v:
        return f" {v}" if rng.random() < 0.5 else f" {v}ward"
    return ""


def _verb_list(verbs: list[str], table: dict) -> str:
    words = [table[v] for v in verbs]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _medium_clause(spec, motions, i, rng) -> str:
    m = motions[i]
    verbs = [v for v in m.verbs if v not in ("collides", "rests")][:2] or list(m.verbs[:1])
    noun = _noun(spec, i, size=True, article="a")
    if not verbs:
        return f"{noun} sits still"
    text = _verb_list(verbs, _PRESENT)
    if verbs[-1] in _DIRECTED:
        text += _direction_phrase(m, rng)
    return f"{noun} {text}"


def object_sentences(spec: SceneSpec, traj, seed: int) -> list[str]:
    """One sentence per object, in object order: its verbs in the order they happened."""
    rng = np.random.default_rng([int(seed), 1])
    motions = scene_motions(spec, traj)
    out = []
    for i, m in enumerate(motions):
        subject = _noun(spec, i, size=True, article=str(rng.choice(["The", "A"])))
        if not m.verbs:
            out.append(f"{subject} {rng.choice(['sits still', 'stays still'])}.")
            continue
        parts = []
        # the direction goes after the last directed verb, where the net motion shows
        last_directed = max((k for k, v in enumerate(m.verbs) if v in _DIRECTED), default=None)
        for k, v in enumerate(m.verbs):
            if v == "collides":
                others = " and ".join(_noun(spec, j, size=False, article="the") for j in m.collides_with)
                text = f"collides with {others}" if others else "collides"
            elif v == "bounces" and m.bounce_count in _COUNT_WORDS and rng.random() < 0.6:
                text = f"bounces {_COUNT_WORDS[m.bounce_count]}"
            elif v == "bounces" and m.bounce_count > 3 and rng.random() < 0.6:
                text = "bounces several times"
            else:
                text = _PRESENT[v]
            if k == last_directed:
                text += _direction_phrase(m, rng)
            parts.append(text)
        if len(parts) == 1:
            body = parts[0]
        else:
            joiner = str(rng.choice([", then ", ", and then ", " and then "]))
            body = ", ".join(parts[:-1]) + joiner + parts[-1]
        out.append(f"{subject} {body}.")
    return out


def caption_scene(spec: SceneSpec, traj, seed: int) -> dict[str, str]:
    """Captions {"short", "medium", "detailed"} for a simulated scene (traj = sim.simulate(spec))."""
    rng = np.random.default_rng([int(seed), 0])
    motions = scene_motions(spec, traj)
    no_gravity = spec.gravity == 0
    bg = spec.background

    # short: each object with its most salient verb
    clauses = []
    progressive = rng.random() < 0.3
    told: set[int] = set()  # objects already named as the other party of a collision
    for i, m in enumerate(motions):
        if i in told:
            continue
        noun = _noun(spec, i, size=False, article="a")
        verb = next((v for v in _SALIENCE if v in m.verbs), None)
        if verb == "collides" and m.collides_with:
            j = m.collides_with[0]
            told.add(j)
            verb_text = "colliding with" if progressive else "collides with"
            clauses.append(f"{noun} {verb_text} {_noun(spec, j, size=False, article='a')}")
        elif verb is None:
            clauses.append(f"{noun} {'sitting still' if progressive else 'sits still'}")
        else:
            clauses.append(f"{noun} {(_PROGRESSIVE if progressive else _PRESENT)[verb]}")
    short = " and ".join(clauses)
    if no_gravity and rng.random() < 0.5:
        short += str(rng.choice([" without gravity", " in zero gravity"]))

    # medium: sizes, up to two verbs with direction, background
    body = " and ".join(_medium_clause(spec, motions, i, rng) for i in range(len(motions)))
    style = int(rng.integers(3))
    if style == 0:
        medium = f"{body} on a {bg} background"
    elif style == 1:
        medium = f"on a {bg} background, {body}"
    else:
        medium = f"{body}, {bg} background"
    if no_gravity:
        medium += str(rng.choice([" without gravity", " in zero gravity", ", with no gravity"]))

    # detailed: setting, one sentence per object in event order, camera
    n = len(spec.objects)
    count = {1: "one object", 2: "two objects", 3: "three objects"}.get(n, f"{n} objects")
    setting = str(rng.choice([
        f"A scene with {count} on a {bg} background",
        f"On a {bg} background there {'is' if n == 1 else 'are'} {count}",
        f"The {bg} background holds {count}",
    ]))
    if spec.obstacles:
        kinds = sorted({ob.kind for ob in spec.obstacles})
        setting += " and " + " and ".join(f"a {k}" for k in kinds)
    sentences = [setting + "."]
    if no_gravity:
        sentences.append(str(rng.choice(["There is no gravity.", "Everything floats in zero gravity."])))
    sentences += object_sentences(spec, traj, seed)
    cam = str(rng.choice(_CAMERA[spec.camera.kind]))
    sentences.append(cam[0].upper() + cam[1:] + ".")
    return {"short": short, "medium": medium, "detailed": " ".join(sentences)}
