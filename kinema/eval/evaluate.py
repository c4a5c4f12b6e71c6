"""One video, every metric: `evaluate_video(frames, fps, prompt)`.

Steps: check inputs -> parse objects and tracks -> scenery (camera, background) ->
adherence to the prompt -> physics against the simulator -> consistency. Each step is a
public function of its own module, so a report can compose them differently.
"""

from __future__ import annotations

import os


from kinema.eval.adherence import real_tracks, score_adherence
from kinema.eval.consistency import score_consistency
from kinema.eval.parser import check_frames, parse_video
from kinema.eval.physics import floor_line_px, score_physics
from kinema.eval.scenery import classify_background, estimate_camera, object_masks
from kinema.world.prompts import parse_prompt
from kinema.world.spec import DEFAULT_GRAVITY

MIN_FRAMES = 5  # fewer frames cannot show a velocity, let alone an acceleration


def evaluate_video(frames, fps: float, prompt: str) -> dict:
    """Every metric of one generated video against its prompt.

    frames: (T, H, W, 3) uint8 RGB (kinema.video.read_video gives them); fps: frames per
    second; prompt: the text the video was generated from.
    Returns {"adherence": {...}, "physics": {...}, "consistency": {...}, "camera": {...},
    "background": str, "num_tracks": int}; see score_adherence, score_physics,
    score_consistency and scenery.estimate_camera for the entries and their units.
    """
    # 1. check inputs
    frames = check_frames(frames)
    if frames.shape[0] < MIN_FRAMES:
        raise ValueError(f"video has {frames.shape[0]} frame(s); scoring needs at least {MIN_FRAMES} "
                         "(e.g. 2 s at 16 fps is 33); generate a longer clip")
    if not (isinstance(fps, (int, float)) and 1 <= fps <= 60):
        raise ValueError(f"fps must be in 1..60, got {fps!r}; pass the rate read_video returned")
    constraints = parse_prompt(prompt)

    # 2. objects and tracks
    tracks = parse_video(frames)
    objects = real_tracks(tracks)

    # 3. scenery
    masks = object_masks(frames)
    camera = estimate_camera(frames, fps, objects, masks)
    background = classify_background(frames, masks, floor_row=floor_line_px(frames.shape[2], frames.shape[1]))

    # 4-6. adherence, physics, consistency
    adherence = score_adherence(constraints, objects, fps, camera=camera["kind"], background=background)
    gravity = 0.0 if constraints.gravity is False else DEFAULT_GRAVITY
    physics = score_physics(objects, fps, gravity=gravity)
    consistency = score_consistency(frames, tracks, masks)
    return {"adherence": adherence, "physics": physics, "consistency": consistency,
            "camera": camera, "background": background, "num_tracks": len(objects)}


def score_video(frames, fps: float, prompt: str) -> dict:
    """evaluate_video, or {"error": reason} for a video the parser cannot read: a failure to
    count in a report, not a crash of the run."""
    try:
        return evaluate_video(frames, fps, prompt)
    except ValueError as e:
        return {"error": str(e)}


def evaluate_file(path: str | os.PathLike, prompt: str) -> dict:
    """evaluate_video on a video file (anything kinema.video.read_video decodes)."""
    from kinema.video import read_video

    frames, fps = read_video(path)
    return evaluate_video(frames, fps, prompt)
