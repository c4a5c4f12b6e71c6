"""Search over starting noise (kinema.search, SampleConfig.candidates / select_step, --candidates):
each window drawn from noise is drawn several times and the verifier's favourite kept."""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import tiny_pipeline

from kinema import flow
from kinema.cli import build_parser, main, sampler_argv
from kinema.pipeline import KinemaPipeline, SampleConfig
from kinema.sampling import VERIFIER_NAMES
from kinema.search import VERIFIERS, ClipVerifier, DenoisingVerifier, best_of
from kinema.video import read_video

CFG = SampleConfig(num_inference_steps=4, guidance_scale=2.0, window_frames=9, context_frames=5,
                   buckets=((32, 32),), width=32, height=32)


class Pick:
    """A verifier that prefers the candidate at `index` and keeps what it was shown."""

    def __init__(self, index):
        self.index, self.seen, self.prompts = index, [], []

    def __call__(self, clips, prompt):
        self.seen.append([c.copy() for c in clips])
        self.prompts.append(prompt)
        return np.eye(len(clips))[self.index]


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline(CFG)


def searching(pipe, verifier, **fields):
    p = KinemaPipeline(pipe.vae, pipe.dit, pipe.text_encoder, pipe.null_text, dataclasses.replace(CFG, **fields))
    p.verifier = verifier
    return p


# ----------------------------------------------------------------------------- best_of alone

def test_best_of_solves_every_candidate_then_only_the_winner_on():
    ts = flow.timesteps(5)
    noises = [torch.full((1,), float(k)) for k in range(3)]
    draws, calls = iter(noises), []

    def solve(x, ts_part, first):
        calls.append((float(x), len(ts_part) - 1, first))
        return x + 10 * (len(ts_part) - 1), -x  # (state, clean prediction)

    judged = []

    def judge(previews):
        judged.append([float(p) for p in previews])
        return np.array([0.1, 0.9, 0.5])

    x, scores = best_of(3, lambda: next(draws), solve, ts, 2, judge)
    # three candidates two steps each from their own noise, judged on their clean predictions, the
    # second (score 0.9) solved on for the last three steps, starting at step index 2
    assert calls == [(0.0, 2, 0), (1.0, 2, 0), (2.0, 2, 0), (21.0, 3, 2)]
    assert judged == [[-0.0, -1.0, -2.0]] and float(x) == 51.0 and scores.tolist() == [0.1, 0.9, 0.5]
    # chosen after the last step: judged on the results themselves, nothing solved after
    draws, calls, judged = iter(noises), [], []
    x, _ = best_of(3, lambda: next(draws), solve, ts, 5, judge)
    assert judged == [[50.0, 51.0, 52.0]] and float(x) == 51.0 and len(calls) == 3
    # ties go to the earliest candidate: the plain call's noise
    draws = iter(noises)
    x, _ = best_of(3, lambda: next(draws), solve, ts, 5, lambda p: np.zeros(3))
    assert float(x) == 50.0


def test_best_of_rejects_a_bad_setting_or_verifier():
    ts = flow.timesteps(4)
    solve = lambda x, ts_part, first: (x, x)  # noqa: E731
    with pytest.raises(ValueError, match="select_step <= 4"):
        best_of(2, lambda: torch.zeros(1), solve, ts, 5, lambda p: np.zeros(2))
    with pytest.raises(ValueError, match="one score per clip"):
        best_of(2, lambda: torch.zeros(1), solve, ts, 4, lambda p: np.zeros(3))


# ----------------------------------------------------------------------------- in the pipeline

def test_the_first_candidate_is_the_plain_call_and_the_winner_is_what_the_verifier_saw(pipe):
    plain = pipe("a red ball bounces", seconds=0.5, seed=4).frames
    first = searching(pipe, Pick(0), candidates=3)
    assert np.array_equal(first("a red ball bounces", seconds=0.5, seed=4).frames, plain)
    third = Pick(2)
    video = searching(pipe, third, candidates=3)("a red ball bounces", seconds=0.5, seed=4)
    (clips,) = third.seen  # one window, three candidates, judged against the prompt as typed
    assert len(clips) == 3 and third.prompts == ["a red ball bounces"]
    assert np.array_equal(clips[0][: len(plain)], plain) and not np.array_equal(clips[1], clips[2])
    assert np.array_equal(video.frames, clips[2][: len(video.frames)])  # the clip kept is the one the verifier chose
    # deterministic per seed
    again = searching(pipe, Pick(2), candidates=3)("a red ball bounces", seconds=0.5, seed=4)
    assert np.array_equal(again.frames, video.frames)


def test_choosing_early_continues_the_winner_exactly(pipe):
    """select_step: candidates judged on their decoded clean prediction after that step; the winner
    solved on from where it stood, so choosing the plain call's noise returns the plain call."""
    plain = pipe("a blue box slides", seconds=0.5, seed=1).frames
    early = Pick(0)
    video = searching(pipe, early, candidates=2, select_step=2)("a blue box slides", seconds=0.5, seed=1)
    assert np.array_equal(video.frames, plain)
    (clips,) = early.seen
    assert not np.array_equal(clips[0][: len(plain)], plain)  # a draft two steps in, not the result
    other = searching(pipe, Pick(1), candidates=2, select_step=2)("a blue box slides", seconds=0.5, seed=1)
    assert not np.array_equal(other.frames, plain)


def test_every_window_drawn_from_noise_searches_and_progress_counts_every_step(pipe):
    verifier, ticks = Pick(1), []
    p = searching(pipe, verifier, candidates=2, select_step=3)
    video = p("a red ball bounces", seconds=1.0, seed=0, callback=lambda done, total: ticks.append((done, total)))
    assert len(video.frames) == 17 and len(verifier.seen) == 3  # a first window and two extensions
    steps_per_window = 4 + 3  # the winner's 4 steps and the other candidate's 3
    assert ticks[-1] == (3 * steps_per_window, 3 * steps_per_window)
    # an edit starts from its source, not from noise: nothing to search
    edit = Pick(1)
    searching(pipe, edit, candidates=2).edit(video, "a red ball bounces", strength=0.5, seed=0)
    assert edit.seen == []


def test_settings_are_checked():
    with pytest.raises(ValueError, match="candidates must be >= 1"):
        SampleConfig(candidates=0)
    with pytest.raises(ValueError, match="select_step >= 0"):
        SampleConfig(select_step=-1)


def test_a_choice_after_the_last_step_is_refused_with_the_range(pipe):
    p = searching(pipe, Pick(0), candidates=2, select_step=9)
    with pytest.raises(ValueError, match=r"exceeds the 4 denoising steps.*1\.\.4"):
        p("a red ball bounces", seconds=0.5, seed=0)


def test_the_shipped_verifier_prefers_the_clip_of_its_prompt_and_holds_a_short_clip():
    """The evaluation's video-text model on two rendered world clips: each prompt picks its own."""
    from kinema.world.prompts import scene_from_prompt
    from kinema.world.render import render_scene

    red, blue = (render_scene(scene_from_prompt(p, 0, width=64, height=64))[0]
                 for p in ("a red ball bounces", "a blue box slides to the right"))
    verify = ClipVerifier()
    assert np.argmax(verify([blue, red], "a red ball bounces")) == 1
    assert np.argmax(verify([red, blue], "a blue box slides to the right")) == 1
    still = red[:1]  # one frame: held for the length the model reads, as a static clip
    held = np.repeat(red[:1], 33, axis=0)
    assert np.allclose(verify([still], "a red ball"), verify([held], "a red ball"))


def test_the_command_line_takes_the_search(pipe, tmp_path):
    args = build_parser().parse_args(["generate", "a red ball", "-o", "x.mp4", "--candidates", "3",
                                      "--select-at", "5"])
    assert (args.candidates, args.select_step) == (3, 5)
    assert sampler_argv(args) == ["--candidates", "3", "--select-at", "5"]
    model = tmp_path / "m"
    pipe.save_pretrained(model)
    out = tmp_path / "a.mp4"
    assert main(["generate", "a red ball bounces", "-o", str(out), "--model", str(model), "--seconds", "0.5",
                 "--candidates", "2", "--select-at", "2"]) == 0
    assert read_video(out)[0].shape == (9, 32, 32, 3)
    assert SampleConfig(candidates=2).sampler_settings["candidates"] == 2
    assert "candidates" not in SampleConfig().sampler_settings


def test_the_config_names_the_verifier_and_a_set_one_wins(pipe, monkeypatch):
    import kinema.search

    made = []

    def factory(path=None, pipe=None):
        made.append(path)
        return Pick(1)

    monkeypatch.setitem(kinema.search.VERIFIERS, "attributes", factory)
    p = KinemaPipeline(pipe.vae, pipe.dit, pipe.text_encoder, pipe.null_text,
                       dataclasses.replace(CFG, candidates=2, select_step=2, verifier="attributes"))
    p("a red ball bounces", seconds=0.5, seed=0)
    p("a red ball bounces", seconds=0.5, seed=1)
    assert made == [None] and len(p._verifiers["attributes"].seen) == 2  # built once, on first use
    mine = Pick(0)
    p.verifier = mine
    p("a red ball bounces", seconds=0.5, seed=0)
    assert len(mine.seen) == 1 and len(p._verifiers["attributes"].seen) == 2
    with pytest.raises(ValueError, match="verifier must be one of clip, attributes, denoise"):
        SampleConfig(verifier="parser")
    args = build_parser().parse_args(["generate", "a red ball", "-o", "x.mp4", "--candidates", "2",
                                      "--verifier", "attributes"])
    assert sampler_argv(args) == ["--candidates", "2", "--verifier", "attributes"]
    assert SampleConfig(candidates=2, verifier="attributes").sampler_settings["verifier"] == "attributes"


class Memorised(torch.nn.Module):
    """A DiT that has learnt one video under the prompt: given the prompt (the batch's first half)
    it predicts the exact velocity towards x0, (x_t - x0) / t; given the null text, zero."""

    def __init__(self, x0):
        super().__init__()
        self.x0, self.calls = x0, 0

    def forward(self, x, t, text, mask, fps):
        self.calls += 1
        half = len(x) // 2
        v = (x[:half] - self.x0) / t[:half, None, :, None, None]
        return torch.cat([v, torch.zeros_like(v)])


def test_the_denoising_verifier_scores_what_the_prompt_explains(pipe):
    """On a DiT that denoises one clip perfectly under the prompt, that clip scores the mean
    squared flow target |eps - x0|^2 over the draws (its prompt error is 0) and ranks first."""
    from types import SimpleNamespace

    from kinema.models.vae import from_uint8_frames, latents_to_dit

    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8) for _ in range(3)]
    with torch.no_grad():
        x0 = latents_to_dit(pipe.vae.encode(from_uint8_frames(clips[1]))[0].float(), pipe.vae.cfg)
    dit = Memorised(x0)
    judge = SimpleNamespace(vae=pipe.vae, dit=dit, text_encoder=pipe.text_encoder, null_text=pipe.null_text,
                            config=CFG)
    verify = DenoisingVerifier(judge, draws=4, seed=3)
    scores = verify(clips, "a red ball bounces")
    assert scores.shape == (3,) and int(np.argmax(scores)) == 1 and dit.calls == 3  # one batch per clip
    eps = torch.randn((4, *x0.shape[1:]), generator=torch.Generator().manual_seed(3))
    assert scores[1] == pytest.approx(float(((eps - x0) ** 2).mean()), rel=1e-3)
    # the same noises for every clip of a call and every call: order and repetition do not matter
    assert np.allclose(verify(clips[::-1], "a red ball bounces"), scores[::-1], rtol=1e-4)
    with pytest.raises(ValueError, match="share their frame count"):
        verify([clips[0], clips[0][:5]], "a red ball")
    with pytest.raises(ValueError, match="draws >= 1"):
        DenoisingVerifier(judge, draws=0)


def test_a_search_judges_by_its_own_model_by_default(pipe):
    assert set(VERIFIERS) == set(VERIFIER_NAMES)
    p = KinemaPipeline(pipe.vae, pipe.dit, pipe.text_encoder, pipe.null_text, dataclasses.replace(CFG, candidates=2))
    v = p("a red ball bounces", seconds=0.5, seed=0)
    assert v.frames.shape == (9, 32, 32, 3) and p._verifiers["denoise"].pipe is p
    assert build_parser().parse_args(["generate", "a", "-o", "x.mp4", "--verifier", "denoise"]).verifier == "denoise"


def test_the_reliability_script_scores_perturbed_copies_and_the_honest_oracle():
    """scripts/eval_reliability.py: exact figures on a known case; the perturbations are what they say."""
    import runpy
    from pathlib import Path

    rel = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "eval_reliability.py"))
    # 2 prompts x 2 candidates: (as evaluated, perturbed)
    x = np.array([[[0.5, 1.0], [1.0, 0.5]], [[0.2, 0.2], [0.0, 0.0]]])
    s = rel["reliability"](x)
    assert s["plain"] == pytest.approx(0.35) and s["oracle"] == pytest.approx(0.6)
    assert s["oracle_by_perturbed"] == pytest.approx(0.35)  # the perturbed copy prefers the worse one
    assert s["changed"] == 0.5 and s["mean_abs_change"] == pytest.approx(0.25)
    assert s["oracle_by_perturbed_minus_plain"]["mean"] == pytest.approx(0.0)
    clip = np.random.default_rng(0).integers(0, 256, (3, 8, 10, 3), dtype=np.uint8)
    moved = rel["shifted"](clip)
    assert moved.shape == clip.shape and np.array_equal(moved[:, 1:, 1:], clip[:, :-1, :-1])
    diff = rel["noised"](clip, np.random.default_rng(1)).astype(int) - clip
    assert np.abs(diff).max() <= rel["NOISE_LEVELS"] and (diff != 0).mean() > 0.5
