"""Evaluation of generated videos against the world's exact ground truth.

parser (objects and tracks from pixels) -> scenery (camera, background) -> adherence (prompt
attributes), physics (re-simulation, gravity, events), consistency; stats for intervals.
`evaluate_video(frames, fps, prompt)` runs them all on one video.
"""

from kinema.eval.evaluate import evaluate_file, evaluate_video
from kinema.eval.parser import Detection, Tracks, detect_clip, parse_video
from kinema.eval.stats import bootstrap_ci

__all__ = ["Detection", "Tracks", "bootstrap_ci", "detect_clip", "evaluate_file", "evaluate_video", "parse_video"]
