"""The synthetic physics world: scene specs, simulation, rendering, captions and prompts."""

from kinema.world.spec import (
    BACKGROUNDS,
    CAMERAS,
    COLOURS,
    PALETTE,
    SHAPES,
    SIZES,
    CameraSpec,
    ObjectSpec,
    ObstacleSpec,
    SceneSpec,
)

__all__ = [
    "BACKGROUNDS", "CAMERAS", "COLOURS", "PALETTE", "SHAPES", "SIZES",
    "CameraSpec", "ObjectSpec", "ObstacleSpec", "SceneSpec",
]
