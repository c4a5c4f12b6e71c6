"""Rigid-body simulation of a SceneSpec with pymunk.

`simulate(spec)` steps a pymunk space at a fixed rate of `substeps_for(spec.fps)` steps per
frame and records the state at every frame time t = i / fps, i = 0 .. num_frames - 1,
plus the physical events (contacts, bounces, coming to rest) found along the way.

Conventions (shared with kinema.world.spec):
- world units, y up; gravity is (0, -spec.gravity); angles in radians, counter-clockwise;
- a ball is a circle of radius `r`; box / triangle / pentagon are regular polygons with
  circumradius `r` (a box has axis-aligned edges at angle 0; triangle and pentagon point up);
- static geometry (floor, walls, obstacles) has elasticity 1 and friction 1. pymunk
  multiplies the two shapes' values, so a contact with static geometry uses the object's own
  elasticity and friction, and an object-object contact uses their products;
- no damping and no sleeping: bodies keep their energy except through contacts.

Events carry the frame nearest to the moment they happened (round(t * fps)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pymunk

from .spec import FLOOR_Y, WORLD_WIDTH, ObjectSpec, SceneSpec

PHYSICS_HZ = 480  # minimum physics rate; substeps per frame = ceil(PHYSICS_HZ / fps)
SOLVER_ITERATIONS = 20  # pymunk's default 10 lets stacks sag visibly
COLLISION_SLOP = 0.002  # allowed penetration, world units (pymunk's 0.1 would be ~1 px)

CONTACT_SPEED = 0.2  # approach speed (units/s) below which a new contact is jitter, not an event
BOUNCE_SPEED = 0.5  # separating normal speed (units/s) after a contact that counts as a bounce
REST_SPEED = 0.05  # units/s; slower than this (and REST_SPIN) counts as still
REST_SPIN = 0.1  # rad/s
REST_MIN_SECONDS = 0.25  # an object must stay still this long (or till the clip ends) to rest
FLOOR_CONTACT_TOL = 0.01  # units; lowest point within this of FLOOR_Y counts as touching

EVENT_KINDS = ("floor_contact", "wall_contact", "collision", "bounce", "rest")  # also the order within a frame

# Static geometry sizes: thick enough that nothing tunnels, long enough for any pan.
_FLOOR_HALF_THICKNESS = 0.5
_FLOOR_HALF_LENGTH = 1000.0
_WALL_HALF_THICKNESS = 0.5
_WALL_HEIGHT = 1000.0

_POLYGON_SIDES = {"box": 4, "triangle": 3, "pentagon": 5}


@dataclass(frozen=True)
class Event:
    """Something that happened at `frame`: `kind` in EVENT_KINDS (render adds "leave_frame").

    objects: indices into spec.objects, (i,) or (i, j) with i < j for object pairs.
    position: world point (units, y up) of the contact, or the object's centre for "rest".
    """

    frame: int
    kind: str
    objects: tuple[int, ...]
    position: tuple[float, float]

    def to_dict(self) -> dict:
        return {"frame": self.frame, "kind": self.kind, "objects": list(self.objects),
                "position": [float(self.position[0]), float(self.position[1])]}

    @classmethod
    def from_dict(cls, d: dict) -> "Event":
        return cls(int(d["frame"]), str(d["kind"]), tuple(int(i) for i in d["objects"]),
                   (float(d["position"][0]), float(d["position"][1])))


@dataclass(frozen=True)
class Trajectory:
    """Per-frame state of every object; T = spec.num_frames, N = len(spec.objects).

    positions: (T, N, 2) centre, world units; velocities: (T, N, 2) units/s;
    angles: (T, N) rad; spins: (T, N) rad/s (counter-clockwise positive);
    floor_contact: (T, N) bool, lowest point within FLOOR_CONTACT_TOL of the floor;
    events: sorted by (frame, kind, objects).
    """

    positions: np.ndarray
    velocities: np.ndarray
    angles: np.ndarray
    spins: np.ndarray
    floor_contact: np.ndarray
    events: list[Event]

    @property
    def num_frames(self) -> int:
        return self.positions.shape[0]

    def to_dict(self) -> dict:
        return {
            "positions": self.positions.tolist(),
            "velocities": self.velocities.tolist(),
            "angles": self.angles.tolist(),
            "spins": self.spins.tolist(),
            "floor_contact": self.floor_contact.tolist(),
            "events": [e.to_dict() for e in self.events],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Trajectory":
        n = len(d["positions"][0]) if d["positions"] else 0

        def arr(key, shape_tail, dtype):
            a = np.asarray(d[key], dtype=dtype)
            return a.reshape((-1, n) + shape_tail)

        return cls(
            positions=arr("positions", (2,), np.float64),
            velocities=arr("velocities", (2,), np.float64),
            angles=arr("angles", (), np.float64),
            spins=arr("spins", (), np.float64),
            floor_contact=arr("floor_contact", (), bool),
            events=[Event.from_dict(e) for e in d["events"]],
        )


def substeps_for(fps: float) -> int:
    """Physics steps per frame: the fewest that keep the rate at or above PHYSICS_HZ."""
    return int(math.ceil(PHYSICS_HZ / fps - 1e-9))


def polygon_vertices(obj: ObjectSpec) -> list[tuple[float, float]] | None:
    """Body-local vertices (world units, counter-clockwise) of a polygon shape; None for a ball.

    A regular polygon with circumradius obj.r: the box's edges are axis-aligned at angle 0,
    the triangle and pentagon have a vertex pointing up.
    """
    if obj.shape == "ball":
        return None
    n = _POLYGON_SIDES[obj.shape]
    start = math.pi / 4 if n == 4 else math.pi / 2
    return [(obj.r * math.cos(start + 2 * math.pi * k / n), obj.r * math.sin(start + 2 * math.pi * k / n))
            for k in range(n)]


def lowest_point(obj: ObjectSpec, position: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Lowest y (world units) of the object at each (..., 2) position and (...) angle."""
    verts = polygon_vertices(obj)
    if verts is None:
        return position[..., 1] - obj.r
    v = np.asarray(verts)  # (K, 2)
    c, s = np.cos(angle)[..., None], np.sin(angle)[..., None]
    ys = position[..., 1, None] + s * v[:, 0] + c * v[:, 1]  # (..., K)
    return ys.min(axis=-1)


def _build_space(spec: SceneSpec):
    """A pymunk space for `spec`; returns (space, bodies, tags) where tags maps shape -> kind."""
    space = pymunk.Space()
    space.gravity = (0.0, -spec.gravity)
    space.iterations = SOLVER_ITERATIONS
    space.collision_slop = COLLISION_SLOP
    tags: dict[pymunk.Shape, tuple] = {}
    static = space.static_body

    def add_static(shape, tag):
        shape.elasticity = 1.0
        shape.friction = 1.0
        space.add(shape)
        tags[shape] = tag

    if spec.floor:
        # A thick segment whose top surface is exactly at FLOOR_Y.
        y = FLOOR_Y - _FLOOR_HALF_THICKNESS
        add_static(pymunk.Segment(static, (-_FLOOR_HALF_LENGTH, y), (_FLOOR_HALF_LENGTH, y),
                                  _FLOOR_HALF_THICKNESS), ("floor",))
    if spec.walls:
        for x in (-_WALL_HALF_THICKNESS, WORLD_WIDTH + _WALL_HALF_THICKNESS):
            add_static(pymunk.Segment(static, (x, -_WALL_HEIGHT), (x, _WALL_HEIGHT), _WALL_HALF_THICKNESS),
                       ("wall",))
    for k, ob in enumerate(spec.obstacles):
        add_static(pymunk.Segment(static, ob.start, ob.end, ob.thickness / 2), ("obstacle", k))

    bodies = []
    for i, obj in enumerate(spec.objects):
        verts = polygon_vertices(obj)
        if verts is None:
            moment = pymunk.moment_for_circle(obj.mass, 0.0, obj.r)
        else:
            moment = pymunk.moment_for_poly(obj.mass, verts)
        body = pymunk.Body(obj.mass, moment)
        body.position = obj.position
        body.velocity = obj.velocity
        body.angle = obj.angle
        body.angular_velocity = obj.spin
        shape = pymunk.Circle(body, obj.r) if verts is None else pymunk.Poly(body, verts, radius=0.0)
        shape.elasticity = obj.elasticity
        shape.friction = obj.friction
        space.add(body, shape)
        tags[shape] = ("object", i)
        bodies.append(body)
    return space, bodies, tags


def _normal_speed(arb_shapes, point, normal) -> float:
    """Relative velocity of shape b w.r.t. shape a along the a->b normal at `point` (> 0: separating)."""
    va = arb_shapes[0].body.velocity_at_world_point(point)
    vb = arb_shapes[1].body.velocity_at_world_point(point)
    return (vb.x - va.x) * normal.x + (vb.y - va.y) * normal.y


def simulate(spec: SceneSpec) -> Trajectory:
    """Run the scene and record every frame; deterministic: the same spec gives identical arrays."""
    space, bodies, tags = _build_space(spec)
    n_obj, n_frames = len(spec.objects), spec.num_frames
    substeps = substeps_for(spec.fps)
    dt = 1.0 / (spec.fps * substeps)

    # Contacts that began during the current substep; their outcome (bounce or not) is read
    # after the step, when the solver has applied the impulses.
    began: list[tuple] = []
    floor_touching = [0] * n_obj  # open arbiters with the floor, per object

    def on_begin(arbiter, _space, _data):
        a, b = arbiter.shapes
        cps = arbiter.contact_point_set
        if not cps.points:
            return
        cp = cps.points[0]
        point = ((cp.point_a.x + cp.point_b.x) / 2, (cp.point_a.y + cp.point_b.y) / 2)
        approach = -_normal_speed((a, b), point, cps.normal)  # > 0: moving into each other
        began.append((tags[a], tags[b], (a, b), point, cps.normal, approach))

    def on_separate(arbiter, _space, _data):
        for s, other in (arbiter.shapes, arbiter.shapes[::-1]):
            if tags.get(s, ("",))[0] == "object" and tags.get(other, ("",))[0] == "floor":
                floor_touching[tags[s][1]] = max(0, floor_touching[tags[s][1]] - 1)

    space.on_collision(begin=on_begin, separate=on_separate)

    positions = np.zeros((n_frames, n_obj, 2))
    velocities = np.zeros((n_frames, n_obj, 2))
    angles = np.zeros((n_frames, n_obj))
    spins = np.zeros((n_frames, n_obj))
    events: list[Event] = []

    def record(frame):
        for j, body in enumerate(bodies):
            positions[frame, j] = body.position
            velocities[frame, j] = body.velocity
            angles[frame, j] = body.angle
            spins[frame, j] = body.angular_velocity

    record(0)
    step = 0
    for frame in range(1, n_frames):
        for _ in range(substeps):
            began.clear()
            space.step(dt)
            step += 1
            if began:
                event_frame = int(round(step / substeps))
                events.extend(_contact_events(began, floor_touching, event_frame))
        record(frame)

    floor_contact = np.zeros((n_frames, n_obj), dtype=bool)
    if spec.floor:
        for j, obj in enumerate(spec.objects):
            floor_contact[:, j] = lowest_point(obj, positions[:, j], angles[:, j]) <= FLOOR_Y + FLOOR_CONTACT_TOL
    events.extend(_rest_events(spec, positions, velocities, spins))
    # A tumbling polygon can touch, leave and touch again within one frame: report it once.
    unique = {(e.frame, e.kind, e.objects): e for e in reversed(events)}
    events = sorted(unique.values(), key=lambda e: (e.frame, EVENT_KINDS.index(e.kind), e.objects))
    return Trajectory(positions, velocities, angles, spins, floor_contact, events)


def _contact_events(began, floor_touching, frame) -> list[Event]:
    """Events from the contacts that began in the last substep (velocities are now post-impact)."""
    out = []
    for tag_a, tag_b, shapes, point, normal, approach in began:
        if tag_a[0] != "object":  # put the object first
            tag_a, tag_b = tag_b, tag_a
        i = tag_a[1]
        if tag_b[0] == "floor":
            floor_touching[i] += 1
        if approach < CONTACT_SPEED:
            continue  # resting jitter or a graze, not an event
        if tag_b[0] == "object":
            objects = tuple(sorted((i, tag_b[1])))
            out.append(Event(frame, "collision", objects, point))
        else:
            objects = (i,)
            if tag_b[0] == "floor" and floor_touching[i] == 1:
                out.append(Event(frame, "floor_contact", objects, point))
            elif tag_b[0] == "wall":
                out.append(Event(frame, "wall_contact", objects, point))
        if _normal_speed(shapes, point, normal) >= BOUNCE_SPEED:
            out.append(Event(frame, "bounce", objects, point))
    return out


def _rest_events(spec: SceneSpec, positions, velocities, spins) -> list[Event]:
    """One "rest" event per object that moved and then stayed still to the end of the clip."""
    still = (np.linalg.norm(velocities, axis=-1) < REST_SPEED) & (np.abs(spins) < REST_SPIN)  # (T, N)
    n_frames = still.shape[0]
    min_frames = max(2, int(math.ceil(REST_MIN_SECONDS * spec.fps)))
    out = []
    for j in range(still.shape[1]):
        moving = np.flatnonzero(~still[:, j])
        if len(moving) == 0:
            continue  # never moved: it did not "come" to rest
        first_still = moving[-1] + 1
        if n_frames - first_still >= min_frames:
            p = positions[first_still, j]
            out.append(Event(int(first_still), "rest", (j,), (float(p[0]), float(p[1]))))
    return out
