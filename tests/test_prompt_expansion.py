"""Sora-style prompt expansion (KinemaPipeline.expand, SampleConfig.expand_prompt, --expand):
the DiT is given the detailed caption of a scene the world draws for the prompt."""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import tiny_pipeline

from kinema.cli import main
from kinema.pipeline import EXPAND_SEED_OFFSET, KinemaPipeline, SampleConfig
from kinema.video import read_video
from kinema.world.prompts import expand_prompt, parse_prompt

CFG = SampleConfig(num_inference_steps=2, guidance_scale=2.0, window_frames=9, context_frames=5,
                   buckets=((32, 32),), width=32, height=32, expand_prompt=True)


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline(CFG)


def test_expansion_is_the_worlds_detailed_caption_of_a_scene_drawn_at_an_offset_seed(pipe):
    text = pipe.expand("a red ball bounces", seed=3)
    assert text == expand_prompt("a red ball bounces", EXPAND_SEED_OFFSET + 3, fps=16, seconds=2.0, width=32,
                                 height=32)
    assert text.endswith(".") and "one object" in text and "red ball" in text and "bounces" in text
    assert pipe.expand("a red ball bounces", seed=3) == text  # a function of (prompt, seed)
    assert len({pipe.expand("a red ball bounces", seed=s) for s in range(6)}) > 1  # details vary with the seed
    # every object of the prompt, each with its verb, and the number of objects spelt out
    two = pipe.expand("a blue box slides to the left and a green ball rolls", seed=0)
    assert "two objects" in two and "blue box slides left" in two and "green ball rolls" in two, two
    assert {(o.colour, o.shape) for o in parse_prompt(two).objects} == {("blue", "box"), ("green", "ball")}


@pytest.mark.parametrize("prompt", ["a red ball bounces in slow motion",  # a word the world does not know
                                    "the camera pans left",  # no object
                                    "a red box rolls"])  # a scene the world cannot make: only balls roll
def test_a_prompt_the_world_cannot_expand_is_kept_as_given(pipe, prompt):
    assert pipe.expand(prompt, seed=0) == prompt


def test_generate_and_loop_give_the_dit_the_expanded_prompt(pipe):
    plain = KinemaPipeline(pipe.vae, pipe.dit, pipe.text_encoder, pipe.null_text,
                           dataclasses.replace(CFG, expand_prompt=False))
    long = pipe.expand("a red ball bounces", seed=1)
    video = pipe("a red ball bounces", seconds=0.5, seed=1)
    assert np.array_equal(video.frames, plain(long, seconds=0.5, seed=1).frames)
    text = pipe.text_encoder.encode([long])[0].float()
    assert torch.equal(pipe._request("a red ball bounces", seed=1, expand=True).text, text)
    typed = pipe.text_encoder.encode(["a red ball bounces"])[0].float()
    assert torch.equal(pipe._request("a red ball bounces", seed=1).text, typed)  # not asked: as typed
    loop = pipe.loop("a red ball bounces", seconds=1.0, seed=1)
    assert np.array_equal(loop.frames, plain.loop(long, seconds=1.0, seed=1).frames)


def test_modes_that_start_from_frames_keep_the_prompt(pipe):
    """animate, extend, connect and edit: the given frames fix the scene, which the simulator cannot see."""
    plain = KinemaPipeline(pipe.vae, pipe.dit, pipe.text_encoder, pipe.null_text,
                           dataclasses.replace(CFG, expand_prompt=False))
    image = np.full((32, 32, 3), 120, np.uint8)
    assert np.array_equal(pipe.animate(image, "a red ball bounces", seconds=0.5, seed=0).frames,
                          plain.animate(image, "a red ball bounces", seconds=0.5, seed=0).frames)


def test_expand_prompt_must_be_a_switch():
    with pytest.raises(ValueError, match="expand_prompt must be true or false"):
        SampleConfig(expand_prompt="yes")


def test_the_command_line_prints_the_expansion_and_the_model_keeps_the_setting(pipe, tmp_path, capsys):
    model = tmp_path / "m"
    pipe.save_pretrained(model)
    assert KinemaPipeline.from_pretrained(model).config.expand_prompt is True
    out = tmp_path / "a.mp4"
    assert main(["generate", "a red ball bounces", "-o", str(out), "--model", str(model), "--seed", "2",
                 "--seconds", "0.5"]) == 0
    assert f"prompt expanded: {pipe.expand('a red ball bounces', seed=2)}" in capsys.readouterr().err
    assert read_video(out)[0].shape == (9, 32, 32, 3)
    assert main(["generate", "a red ball bounces", "-o", str(out), "--model", str(model), "--seconds", "0.5",
                 "--no-expand"]) == 0
    assert "expanded" not in capsys.readouterr().err
    assert main(["generate", "a red ball bounces in slow motion", "-o", str(out), "--model", str(model),
                 "--seconds", "0.5"]) == 0
    assert "prompt kept as typed" in capsys.readouterr().err
