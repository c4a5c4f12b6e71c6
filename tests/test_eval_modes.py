"""benchmarks/eval_modes.py end to end on a tiny random model: every mode reports its
figures, and the modes that must hand their input back do so exactly."""

import importlib.util
import json
import sys
from pathlib import Path

from conftest import tiny_pipeline

from kinema.pipeline import SampleConfig

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "eval_modes.py"
SMALL = SampleConfig(num_inference_steps=1, window_frames=9, context_frames=5,
                     buckets=((32, 32), (48, 32), (32, 48)), width=32, height=32, seconds=0.5)


def save_tiny_model(folder: Path) -> Path:
    """A randomly initialised model folder that generates 32x32 clips in a fraction of a second."""
    return tiny_pipeline(SMALL).save_pretrained(folder)


def load_script():
    spec = importlib.util.spec_from_file_location("eval_modes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_mode_reports_and_given_frames_come_back(tmp_path):
    eval_modes = load_script()
    model = save_tiny_model(tmp_path / "tiny")
    out = tmp_path / "out"
    eval_modes.main(["--model", str(model), "--out", str(out), "--num", "1", "--steps", "1",
                     "--long-seconds", "2"])

    report = json.loads((out / "modes.json").read_text())
    assert list(report["modes"]) == list(eval_modes.MODES)
    summaries = {m: r["summary"] for m, r in report["modes"].items()}
    expected = {
        "animate": {"first_frame_psnr_db", "frame1_psnr_db", "overall", "colour", "shape"},
        "extend": {"kept_input_max_abs_diff", "seam_ratio_median", "seam_within_2x_fraction",
                   "seam_ratio_median_forward_world", "seam_ratio_median_forward_vae"},
        "connect": {"start_psnr_db", "end_psnr_db", "seam_ratio_median", "seam_within_2x_fraction"},
        "loop": {"wrap_mad", "typical_mad", "wrap_over_typical"},
        "edit": {f"{k}@{s:g}" for s in eval_modes.EDIT_STRENGTHS
                 for k in ("new_colour_fraction", "deviation_px_median")} | {"max_abs_diff@0"},
        "stills": {"colour", "shape", "count", "one_frame_each"},
        "sizes": {"all_carried", "colour", "shape"},
        "long": {"colour", "shape", "count", "consistent_frame_fraction", "world_consistent_frame_fraction", "scenes_in_view", "wall_s_per_output_s", "peak_rss_mb"},
    }
    for mode, keys in expected.items():
        assert keys <= set(summaries[mode]), (mode, keys - set(summaries[mode]))

    # frames the pipeline is documented to keep come back exactly
    assert summaries["edit"]["max_abs_diff@0"] == 0
    assert summaries["extend"]["kept_input_max_abs_diff"] == 0
    assert summaries["connect"]["kept_max_abs_diff"] == 0
    assert summaries["animate"]["first_frame_psnr_db"] == "inf"  # the image itself is frame 0
    # long videos run on scenes whose own simulation keeps its objects in view
    assert summaries["long"]["world_consistent_frame_fraction"] >= eval_modes.LONG_WORLD_KEPT
    assert summaries["stills"]["one_frame_each"] and summaries["sizes"]["all_carried"]
    assert len(report["modes"]["sizes"]["items"]) == len(SMALL.buckets) * len(eval_modes.SIZE_FPS)
    for name in ("modes.md", "long_video.png", *(f"sheet_{m}.png" for m in eval_modes.MODES)):
        assert (out / name).is_file(), name


def test_sampler_settings_reach_every_call(tmp_path):
    eval_modes = load_script()
    model = save_tiny_model(tmp_path / "tiny")
    runs = {}
    for name, extra in (("euler", []), ("stochastic", ["--sampler", "stochastic", "--eta", "0.5"])):
        eval_modes.main(["--model", str(model), "--out", str(tmp_path / name), "--num", "1", "--steps", "2",
                         "--modes", "stills", *extra])
        runs[name] = json.loads((tmp_path / name / "modes.json").read_text())
    assert runs["euler"]["settings"]["sampler"] == "euler" and "eta" not in runs["euler"]["settings"]
    assert (runs["stochastic"]["settings"]["sampler"], runs["stochastic"]["settings"]["eta"]) == ("stochastic", 0.5)
    assert (tmp_path / "stochastic" / "sheet_stills.png").read_bytes() != (tmp_path / "euler" / "sheet_stills.png").read_bytes()


def test_flicker_by_noise_level_reports_every_strength(tmp_path):
    import runpy

    import torch

    script = Path(__file__).resolve().parents[1] / "scripts" / "flicker_by_noise_level.py"
    ns = runpy.run_path(str(script))
    z = torch.zeros(1, 2, 4, 1, 1)
    z[:, :, 1], z[:, :, 2], z[:, :, 3] = 5.0, 1.0, 2.0  # frame 0 -> 1 is not counted: |1-5|, |2-1| -> 2.5
    assert ns["roughness"](z) == 2.5

    model = save_tiny_model(tmp_path / "tiny")
    argv = sys.argv
    sys.argv = ["flicker_by_noise_level.py", "--model", str(model), "--num", "1", "--strengths", "0.5,1",
                "--steps", "1", "--out", str(tmp_path / "out")]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["num"] == 1 and list(report["strengths"]) == ["real clip", "0.5", "1"]
    for row in report["strengths"].values():
        assert set(row) == {"latent_roughness", "events_per_clip", "overall_adherence"}
        assert row["latent_roughness"] >= 0 and row["events_per_clip"] >= 0
    assert (tmp_path / "out" / "flicker_by_t.png").is_file()
