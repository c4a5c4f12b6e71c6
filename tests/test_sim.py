"""Behaviour of the pymunk world: free fall, bounces, rest, rolling, sliding, events, determinism."""

import json
import math

import numpy as np
import pytest

from kinema.world.sim import Event, Trajectory, simulate
from kinema.world.spec import FLOOR_Y, ObjectSpec, ObstacleSpec, SceneSpec


def ball(**kw):
    return ObjectSpec(**{"shape": "ball", "colour": "red", "size": "small", **kw})


def test_deterministic_and_json_round_trip():
    spec = SceneSpec(objects=(
        ball(position=(3.0, 5.0), velocity=(2.0, 1.0)),
        ObjectSpec("box", "blue", position=(6.0, 3.0), angle=0.3, spin=1.0),
        ObjectSpec("triangle", "green", position=(6.2, 6.0)),
        ObjectSpec("pentagon", "yellow", position=(8.0, 2.0), velocity=(-3.0, 0.0)),
    ), seconds=3.0)
    a, b = simulate(spec), simulate(spec)
    for key in ("positions", "velocities", "angles", "spins", "floor_contact"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert a.events == b.events and len(a.events) > 0
    assert a.positions.shape == (spec.num_frames, 4, 2) and a.angles.shape == (spec.num_frames, 4)

    c = Trajectory.from_dict(json.loads(json.dumps(a.to_dict())))
    np.testing.assert_array_equal(c.positions, a.positions)
    assert c.floor_contact.dtype == bool and c.events == a.events
    assert Event.from_dict(a.events[0].to_dict()) == a.events[0]


@pytest.mark.parametrize("gravity", [9.8, 3.0])
def test_free_fall_matches_gravity(gravity):
    spec = SceneSpec(objects=(ball(position=(5.0, 7.0)),), gravity=gravity, fps=30, seconds=0.5)
    traj = simulate(spec)
    assert not traj.floor_contact.any()
    t = np.arange(spec.num_frames) / spec.fps
    accel = 2 * np.polyfit(t, traj.positions[:, 0, 1], 2)[0]
    assert accel == pytest.approx(-gravity, rel=0.02)
    np.testing.assert_allclose(traj.positions[:, 0, 0], 5.0)  # no sideways drift
    assert traj.events == []


def _impact_speed(y, vy, g, contact_y):
    """Speed at height contact_y on the free-flight parabola through (y, vy)."""
    return math.sqrt(vy * vy + 2 * g * (y - contact_y))


def test_elastic_bounce_reverses_velocity():
    g, r = 9.8, 0.45
    spec = SceneSpec(objects=(ball(position=(5.0, 3.0), elasticity=1.0),), fps=60, seconds=1.5)
    traj = simulate(spec)
    bounces = [e for e in traj.events if e.kind == "bounce"]
    assert bounces and bounces[0].objects == (0,)
    assert any(e.kind == "floor_contact" for e in traj.events)
    vy = traj.velocities[:, 0, 1]
    k = int(np.flatnonzero(vy > 0)[0])  # first frame moving up again
    contact_y = FLOOR_Y + r
    before = _impact_speed(traj.positions[k - 1, 0, 1], vy[k - 1], g, contact_y)
    after = _impact_speed(traj.positions[k, 0, 1], vy[k], g, contact_y)
    assert after == pytest.approx(before, rel=0.03)
    assert abs(bounces[0].frame - k) <= 1
    # and it climbs back to (nearly) where it started
    assert traj.positions[k:, 0, 1].max() == pytest.approx(3.0, rel=0.03)


def test_inelastic_drop_rests_without_bounce():
    spec = SceneSpec(objects=(ball(position=(5.0, 3.0), elasticity=0.0),), seconds=2.0)
    traj = simulate(spec)
    kinds = [e.kind for e in traj.events]
    assert "bounce" not in kinds
    assert kinds.count("floor_contact") == 1 and kinds.count("rest") == 1
    rest = next(e for e in traj.events if e.kind == "rest")
    contact = next(e for e in traj.events if e.kind == "floor_contact")
    assert rest.frame >= contact.frame
    assert traj.floor_contact[-1, 0] and not traj.floor_contact[0, 0]
    assert traj.positions[-1, 0, 1] == pytest.approx(FLOOR_Y + 0.45, abs=0.01)


def test_ball_rolls_down_ramp_and_gains_speed():
    start, end, thickness, r = np.array([1.0, 4.0]), np.array([7.0, 1.0]), 0.2, 0.45
    d = (end - start) / np.linalg.norm(end - start)
    normal = np.array([-d[1], d[0]])  # points up-left of the ramp, i.e. above it
    centre = start + 0.5 * d + normal * (thickness / 2 + r + 0.005)
    spec = SceneSpec(
        objects=(ball(position=tuple(centre), friction=0.8),),
        obstacles=(ObstacleSpec("ramp", tuple(start), tuple(end), thickness),),
        fps=30, seconds=1.2,
    )
    traj = simulate(spec)
    speed = np.linalg.norm(traj.velocities[:, 0], axis=-1)
    assert speed[10] > 0.5 and speed[30] > speed[10] * 1.5
    assert traj.positions[30, 0, 0] > centre[0] + 1.0  # moved down-slope (to the right)
    # rolling without slipping: |spin| * r matches the speed, clockwise when moving right
    assert traj.spins[30, 0] < 0
    assert abs(traj.spins[30, 0]) * r == pytest.approx(speed[30], rel=0.1)


def test_box_slides_and_stops_without_tumbling():
    h = 0.7 / math.sqrt(2)  # half side of a medium box
    spec = SceneSpec(objects=(ObjectSpec("box", "blue", position=(2.0, FLOOR_Y + h), velocity=(4.0, 0.0),
                                         friction=0.6),), seconds=2.0)
    traj = simulate(spec)
    assert traj.positions[-1, 0, 0] > 2.5
    assert np.abs(traj.angles[:, 0]).max() < 0.05
    assert np.linalg.norm(traj.velocities[-1, 0]) < 0.05
    assert [e.kind for e in traj.events] == ["rest"]  # never left the floor, so no floor_contact


def test_collision_and_wall_events_without_gravity():
    spec = SceneSpec(objects=(
        ball(position=(3.0, 4.0), velocity=(2.0, 0.0), elasticity=1.0),
        ball(colour="blue", position=(7.0, 4.0), velocity=(-2.0, 0.0), elasticity=1.0),
    ), gravity=0.0, seconds=3.0)
    traj = simulate(spec)
    collisions = [e for e in traj.events if e.kind == "collision"]
    assert collisions and collisions[0].objects == (0, 1)
    assert collisions[0].position[0] == pytest.approx(5.0, abs=0.05)
    assert any(e.kind == "bounce" and e.objects == (0, 1) for e in traj.events)
    walls = [e for e in traj.events if e.kind == "wall_contact"]
    assert {e.objects for e in walls} == {(0,), (1,)}
    assert not any(e.kind in ("floor_contact", "rest") for e in traj.events)
