"""The `kinema` command end to end: real files written and decoded back; bad input exits 2."""

import argparse
import json

import numpy as np
import pytest
import torch

from kinema.cli import main
from kinema.models.dit import DiT, DiTConfig
from kinema.models.text import NullText, TextEncoder
from kinema.models.vae import VAE_TINY, VideoVAE
from kinema.pipeline import KinemaPipeline, SampleConfig
from kinema.sampling import SAMPLER_NAMES
from kinema.video import read_image, read_video, write_video


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    te = TextEncoder()
    dit = DiT(DiTConfig(in_channels=VAE_TINY.latent_channels, hidden_size=32, depth=1, num_heads=2, text_dim=te.dim))
    cfg = SampleConfig(num_inference_steps=1, window_frames=9, context_frames=5,
                       buckets=((32, 32), (48, 32)), width=32, height=32)
    path = tmp_path_factory.mktemp("model") / "tiny"
    KinemaPipeline(VideoVAE(VAE_TINY), dit, te, NullText(te.dim), cfg).save_pretrained(path)
    return str(path)


def test_world_render_writes_video_and_state(tmp_path, capsys):
    out, state = tmp_path / "ball.mp4", tmp_path / "ball.json"
    assert main(["world", "render", "a red ball bounces", "-o", str(out), "--state", str(state),
                 "--size", "160x96", "--seconds", "1", "--fps", "12"]) == 0
    frames, fps = read_video(out)
    assert frames.shape == (13, 96, 160, 3) and fps == 12
    truth = json.loads(state.read_text())
    assert any(e["kind"] == "bounce" for e in truth["truth"]["events"])
    assert "wrote" in capsys.readouterr().out


def test_generate_mp4_and_still(model_dir, tmp_path, capsys):
    out = tmp_path / "g.mp4"
    assert main(["generate", "a red ball bounces", "-o", str(out), "--model", model_dir,
                 "--seconds", "1", "--fps", "8", "--size", "48x32"]) == 0
    frames, fps = read_video(out)
    assert frames.shape == (9, 32, 48, 3) and fps == 8
    assert "9 frames, 48x32" in capsys.readouterr().out
    png = tmp_path / "g.png"
    assert main(["generate", "a red ball", "-o", str(png), "--model", model_dir]) == 0
    assert read_image(png).shape == (32, 32, 3)


def test_generate_says_when_it_loads_and_when_it_loads_the_text_encoder(model_dir, tmp_path, capsys):
    argv = ["generate", "a pink pentagon rolls to the right", "-o", str(tmp_path / "a.png"), "--model", model_dir]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"loading {model_dir}" in err and "loading the text encoder" in err
    assert main(argv) == 0  # the same prompt again: its encoding is on disk
    err = capsys.readouterr().err
    assert f"loading {model_dir}" in err and "text encoder" not in err


def test_generate_takes_the_sampler(model_dir, tmp_path):
    """--sampler and --eta replace the model's defaults: the stochastic sampler at eta 0 is Euler,
    at eta 1 it draws other noise, and a seed still gives one video."""
    def frames(name, *extra):
        out = tmp_path / name
        assert main(["generate", "a red ball", "-o", str(out), "--model", model_dir, "--seconds", "0.5",
                     "--steps", "3", *extra]) == 0
        return read_video(out)[0]

    euler = frames("e.mp4", "--sampler", "euler")
    assert np.array_equal(frames("s0.mp4", "--sampler", "stochastic", "--eta", "0"), euler)
    noisy = frames("s1.mp4", "--sampler", "stochastic", "--eta", "1")
    assert not np.array_equal(noisy, euler)
    assert np.array_equal(frames("s1b.mp4", "--sampler", "stochastic", "--eta", "1"), noisy)
    refined = frames("r.mp4", "--refine", "0.5", "--refine-smooth", "1")  # a second pass: another video
    assert refined.shape == euler.shape and not np.array_equal(refined, euler)
    # every name the config accepts reaches a sampler of the pipeline (kinema.flow tests their math)
    for name in SAMPLER_NAMES:
        assert frames(f"{name}.mp4", "--sampler", name).shape == euler.shape


def test_every_sampler_setting_has_one_flag():
    """kinema eval hands the flags on to evaluate_model, which takes exactly SAMPLER_FIELDS."""
    from kinema.cli import SAMPLER_FLAGS
    from kinema.sampling import SAMPLER_FIELDS

    assert set(SAMPLER_FLAGS) == set(SAMPLER_FIELDS) and len(set(SAMPLER_FLAGS.values())) == len(SAMPLER_FLAGS)


def test_eval_model_only_and_steady_reach_the_report(model_dir, tmp_path):
    """kinema eval --model-only --steady 1: the report holds the model's row alone and names the guidance."""
    import json

    out = tmp_path / "r"
    assert main(["eval", "--model", model_dir, "--out", str(out), "--num", "1", "--model-only",
                 "--steady", "1", "--steady-lr", "0.01"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["splits"]["id"]["rows"]) == ["model"]
    assert (report["settings"]["rows"], report["settings"]["steady_steps"], report["settings"]["steady_lr"]) == (
        "model", 1, 0.01)


def test_sampler_flags_pass_on_to_another_command():
    """sampler_argv(args) gives back the flags that were given (benchmarks hand them to child processes)."""
    from kinema.cli import add_sampler_arguments, sampler_argv

    p = argparse.ArgumentParser()
    add_sampler_arguments(p)
    argv = ["--sampler", "stochastic", "--eta", "0.5", "--refine", "0.9", "--refine-smooth", "3",
            "--guidance-min-t", "0.2", "--guidance-max-t", "0.8", "--guidance-rule", "zero_star"]
    args = p.parse_args(argv)
    assert p.parse_args(sampler_argv(args)) == args and sampler_argv(p.parse_args([])) == []
    for flag, value in (("--expand", True), ("--no-expand", False)):  # a switch passes on as itself
        args = p.parse_args([flag])
        assert args.expand_prompt is value and sampler_argv(args) == [flag]


def test_modes_from_the_command_line(model_dir, tmp_path):
    clip = tmp_path / "clip.mp4"
    write_video(clip, np.full((9, 32, 32, 3), 90, np.uint8), 16)
    out = tmp_path / "ext.mp4"
    assert main(["extend", str(clip), "a ball", "-o", str(out), "--model", model_dir, "--seconds", "0.5"]) == 0
    assert read_video(out)[0].shape[0] == 17
    assert main(["edit", str(clip), "a ball", "-o", str(out), "--model", model_dir, "--strength", "0"]) == 0
    assert main(["connect", str(clip), str(clip), "a ball", "-o", str(out), "--model", model_dir]) == 0


@pytest.mark.parametrize("argv, match", [
    (["generate", "", "-o", "{tmp}/x.mp4"], "empty"),
    (["generate", "a ball", "-o", "{tmp}/x.mp4", "--seconds", "0"], "seconds"),
    (["generate", "a ball", "-o", "{tmp}/x.mp4", "--seconds", "61"], "seconds"),
    (["generate", "a ball", "-o", "{tmp}/x.mp4", "--size", "130x96"], "not supported"),
    (["generate", "a ball", "-o", "{tmp}/x.mp4", "--size", "big"], "WIDTHxHEIGHT"),
    (["generate", "a ball", "-o", "{tmp}/x.avi"], "unknown extension"),
    (["generate", "a ball", "-o", "{tmp}/missing/x.mp4"], "does not exist"),
    (["generate", "a ball", "-o", "{tmp}/x.mp4", "--model", "{tmp}/nomodel"], "does not exist"),
    (["generate", "a ball", "-o", "{tmp}/x.mp4", "--sampler", "stochastic", "--eta", "2"], "eta"),
    (["generate", "a ball", "-o", "{tmp}/x.mp4", "--expert-boundary", "1.2"], "expert_boundary"),
    (["generate", "a ball", "-o", "{tmp}/x.mp4", "--refine", "-0.1"], "refine_strength"),
    (["edit", "{tmp}/nothing.mp4", "a ball", "-o", "{tmp}/x.mp4"], "nothing.mp4"),
    (["edit", "{tmp}/clip.mp4", "a ball", "-o", "{tmp}/x.mp4", "--strength", "2"], "strength"),
    (["animate", "{tmp}/broken.png", "a ball", "-o", "{tmp}/x.mp4"], "broken.png"),
    (["extend", "{tmp}/short.mp4", "a ball", "-o", "{tmp}/x.mp4"], "at least 5"),
    (["connect", "{tmp}/clip.mp4", "{tmp}/wide.mp4", "a ball", "-o", "{tmp}/x.mp4"], "differ in size"),
    (["eval", "--model-only", "--compare", "{tmp}/a", "{tmp}/b"], "--model-only"),
    (["world", "render", "zzz qqq", "-o", "{tmp}/x.mp4"], "vocabulary"),
    (["world", "render", "a red ball", "-o", "{tmp}/x.mp4", "--size", "129x96"], "even"),
])
def test_bad_input_exits_2_and_leaves_no_file(model_dir, tmp_path, capsys, argv, match):
    write_video(tmp_path / "clip.mp4", np.full((9, 32, 32, 3), 90, np.uint8), 16)
    write_video(tmp_path / "short.mp4", np.full((3, 32, 32, 3), 90, np.uint8), 16)
    write_video(tmp_path / "wide.mp4", np.full((9, 32, 48, 3), 90, np.uint8), 16)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--model" not in argv and argv[0] != "world":
        argv += ["--model", model_dir]
    assert main(argv) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "x.avi").exists()


def test_generate_with_the_shipped_default_model(tmp_path, capsys):
    """The README's first command, shortened (1 s, 2 steps): no --model, the committed weights."""
    from kinema.pipeline import DEFAULT_MODEL_DIR

    files = [p for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 80e6, "the shipped model must stay within 80 MB"
    out = tmp_path / "ball.mp4"
    assert main(["generate", "a red ball bounces on the floor", "-o", str(out), "--seconds", "1", "--steps", "2"]) == 0
    frames, fps = read_video(out)
    assert frames.shape == (17, 128, 128, 3) and fps == 16
    assert "17 frames, 128x128" in capsys.readouterr().out


def test_a_repeated_prompt_starts_without_loading_the_text_encoder(tmp_path):
    """The pipeline keeps prompt encodings on disk: a second process asked the same prompt does not
    load the text encoder and draws the same frames; neither imports transformers (the default
    encoder runs in-repo)."""
    import os
    import subprocess
    import sys

    code = (
        "import hashlib, sys\n"
        "from kinema.pipeline import KinemaPipeline\n"
        "pipe = KinemaPipeline.from_pretrained()\n"
        "v = pipe('a blue ball rolls to the left', num_frames=1, num_inference_steps=1, seed=0)\n"
        "print(hashlib.sha256(v.frames.tobytes()).hexdigest(), pipe.text_encoder.model is not None,\n"
        "      'transformers' in sys.modules)\n"
    )
    env = dict(os.environ, KINEMA_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    (first_hash, first_loaded, first_hf), (second_hash, second_loaded, second_hf) = (r.stdout.split() for r in runs)
    assert (first_loaded, second_loaded) == ("True", "False")
    assert (first_hf, second_hf) == ("False", "False")
    assert first_hash == second_hash
    assert len(list((tmp_path / "cache" / "text").rglob("*.safetensors"))) == 1
