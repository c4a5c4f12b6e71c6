"""Does the video show what the prompt asked for? Attribute by attribute, from parsed tracks.

Tracks are assigned to the prompt's objects (each ObjectConstraint counted `count` times)
by the Hungarian algorithm on the number of failed attributes, as
kinema.world.prompts.check_constraints assigns simulated objects. Motions use
kinema.world.motion.describe_motion on the tracks in world units through the camera of
frame 0 (a static camera is assumed unless the prompt names another), so captions, prompt
checks and this score share one definition of every verb.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from kinema.eval.parser import Tracks, select_tracks
from kinema.eval.physics import above_floor, track_events, world_tracks
from kinema.world.motion import Motion, describe_motion
from kinema.world.prompts import PromptConstraints

MIN_TRACK_FRACTION = 0.1  # tracks seen in fewer frames than this are flicker, not objects


MAX_TRACKS = 8  # world scenes hold at most 4 objects; more tracks than this is noise, already a count failure


def real_tracks(tracks: Tracks) -> Tracks:
    """The tracks seen in at least MIN_TRACK_FRACTION of the frames (and at least 2), at most
    MAX_TRACKS of them (the most persistent): physics compares tracks pairwise, so a noisy
    video with hundreds of blobs would otherwise cost minutes instead of a fraction of a second."""
    seen = tracks.present().sum(0)
    keep = np.flatnonzero(seen >= max(2, MIN_TRACK_FRACTION * tracks.num_frames))
    if len(keep) > MAX_TRACKS:
        keep = np.sort(keep[np.argsort(-seen[keep], kind="stable")[:MAX_TRACKS]])
    return select_tracks(tracks, keep)


def track_motions(tracks: Tracks, fps: float, *, gravity: bool = True) -> list[Motion]:
    """describe_motion for every track, over the frames from its first to its last sighting.

    Gaps are filled by linear interpolation; floor contact is the bbox bottom not above the
    floor line (physics.above_floor, the rule physics.airborne uses); "collides" comes from
    physics.track_events.
    """
    pos = world_tracks(tracks, fps)  # (T, K, 2)
    collisions = [e for e in track_events(tracks, fps) if e.kind == "collision"]
    out = []
    for k in range(len(tracks)):
        seen = np.flatnonzero(tracks.present()[:, k])
        s, e = int(seen[0]), int(seen[-1]) + 1
        t = np.arange(s, e)
        p = np.stack([np.interp(t, seen, pos[seen, k, a]) for a in (0, 1)], -1)  # (e - s, 2)
        if len(p) < 2:
            p = np.concatenate([p, p])
        bottom = np.interp(t, seen, tracks.bboxes[seen, k, 3])
        contact = ~above_floor(bottom, tracks.width, tracks.height)
        if len(contact) < len(p):
            contact = np.concatenate([contact, contact])
        m = describe_motion(p, fps, tracks.shapes[k], contact, None, index=k, gravity=gravity)
        partners = tuple(o for ev in collisions if k in ev.objects for o in ev.objects if o != k)
        if partners:
            onset = min(ev.frame for ev in collisions if k in ev.objects) - s
            m = Motion(m.verbs + ("collides",), m.onsets + (max(onset, 0),), m.horizontal, m.vertical,
                       m.displacement, m.moved, m.bounce_count, tuple(dict.fromkeys(partners)))
        out.append(m)
    return out


def _failures(c, colour: str, shape: str, size: str, m: Motion, gravity: bool) -> dict[str, bool]:
    """Per attribute the prompt specifies for constraint c: did this track satisfy it."""
    ok: dict[str, bool] = {}
    if c.colour is not None:
        ok["colour"] = colour == c.colour
    if c.shape is not None:
        ok["shape"] = shape == c.shape
    if c.size is not None:
        ok["size"] = size == c.size
    if c.motions:
        # as check_constraints: with gravity any net displacement counts as "moves"
        ok["motion"] = all(v in m.verbs or (v == "moves" and gravity and m.moved) for v in c.motions)
    if c.horizontal is not None or c.vertical is not None:
        ok["direction"] = ((c.horizontal is None or m.horizontal == c.horizontal)
                           and (c.vertical is None or m.vertical == c.vertical))
    return ok


def _slot_attributes(table, slots, pairs: dict, gravity: bool) -> dict[str, list[float]]:
    """{attribute: [1.0 or 0.0 per slot]} with slot i scored on track pairs[i] (table[i][k]:
    _failures of slot i on track k); a slot without a track fails every attribute it asks."""
    out: dict[str, list[float]] = {}
    for i, c in enumerate(slots):
        if i in pairs:
            cell = table[i][pairs[i]]
        else:
            cell = {a: False for a in _failures(c, "", "", "", Motion((), (), "", "", (0.0, 0.0), False), gravity)}
        for a, v in cell.items():
            out.setdefault(a, []).append(float(v))
    return out


def score_adherence(constraints: PromptConstraints, tracks: Tracks, fps: float, *,
                    camera: str | None = None, background: str | None = None) -> dict:
    """Attribute scores of one parsed video against a parsed prompt.

    constraints: kinema.world.prompts.parse_prompt(text). tracks: parse_video(frames).
    camera, background: what scenery.estimate_camera / classify_background found (scored
    only when the prompt names one). Returns {attribute: score in [0, 1]} for the
    attributes the prompt specifies, among count, colour, shape, size, motion, direction,
    camera, background (fractions over the prompt's objects), plus "overall", their mean.
    An object of the prompt with no track fails all its attributes.

    Also "motion_strict" (not in "overall"), when the prompt names a motion: motion scored on
    the tracks assigned by colour, shape and size alone, ties going to the longest-seen track.
    The main assignment lets the verbs choose the track too, so a video of many flickering
    blobs, one of which happens to move as asked, passes "motion"; here it cannot.

    And "main" (not in "overall"): the mean over the object attributes (colour, shape, size,
    motion, direction) with the prompt's K objects assigned among the video's K longest-seen
    tracks alone, so that a blob that appears for a few frames cannot stand in for an object;
    on a video that shows exactly the objects asked for it equals their attributes' mean in
    "overall".
    """
    tracks = real_tracks(tracks)
    gravity = constraints.gravity is not False
    motions = track_motions(tracks, fps, gravity=gravity) if len(tracks) else []
    slots = [c for c in constraints.objects for _ in range(c.count)]

    # assignment: fewest failed attributes; a missing track fails everything asked
    table = [[_failures(c, tracks.colours[k], tracks.shapes[k], tracks.sizes[k], motions[k], gravity)
              for k in range(len(tracks))] for c in slots]
    cost = np.array([[sum(not v for v in cell.values()) for cell in row] for row in table], dtype=float)
    pairs = dict(zip(*linear_sum_assignment(cost))) if cost.size else {}

    # the strict motion assignment: appearance only, then persistence (< 1, so it only breaks ties)
    seen = tracks.present().mean(0)  # (K,) fraction of frames each track is seen in
    looks = np.array([[sum(not v for a, v in cell.items() if a not in ("motion", "direction")) - 0.5 * seen[k]
                       for k, cell in enumerate(row)] for row in table], dtype=float)
    strict_pairs = dict(zip(*linear_sum_assignment(looks))) if looks.size else {}
    strict = [float(table[i][strict_pairs[i]]["motion"]) if i in strict_pairs else 0.0
              for i, c in enumerate(slots) if c.motions]

    per_attr = _slot_attributes(table, slots, pairs, gravity)
    # the main objects: the prompt's K slots among the K longest-seen tracks
    main = np.argsort(-seen, kind="stable")[:len(slots)]
    main_pairs = dict(zip(*linear_sum_assignment(cost[:, main]))) if cost.size else {}
    main_attr = _slot_attributes(table, slots, {i: main[j] for i, j in main_pairs.items()}, gravity)

    out: dict[str, float] = {}
    counts = []
    for c in constraints.objects:
        same = sum(1 for k in range(len(tracks))
                   if all(w is None or w == got for w, got in ((c.colour, tracks.colours[k]),
                                                                (c.shape, tracks.shapes[k]),
                                                                (c.size, tracks.sizes[k]))))
        counts.append(float(same == c.count))
    if counts:
        out["count"] = float(np.mean(counts))
    for a in ("colour", "shape", "size", "motion", "direction"):
        if a in per_attr:
            out[a] = float(np.mean(per_attr[a]))
    if constraints.camera is not None and camera is not None:
        out["camera"] = float(camera == constraints.camera)
    if constraints.background is not None and background is not None:
        out["background"] = float(background == constraints.background)
    out["overall"] = float(np.mean(list(out.values()))) if out else float("nan")
    if strict:
        out["motion_strict"] = float(np.mean(strict))
    if main_attr:
        out["main"] = float(np.mean([np.mean(v) for v in main_attr.values()]))
    return out
