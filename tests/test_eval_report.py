"""evaluate_model end to end on a tiny random pipeline (report files, ceiling above baseline),
the per-value audit, and `kinema eval` on good and bad input."""

import json

import pytest
import torch

from kinema.cli import main
from kinema.eval.report import aggregate, count_by_objects, per_value_accuracy, split_markdown
from kinema.models.dit import DiT, DiTConfig
from kinema.models.text import NullText, TextEncoder
from kinema.models.vae import VAE_TINY, VideoVAE
from kinema.pipeline import KinemaPipeline, SampleConfig

TINY_SAMPLE = SampleConfig(num_inference_steps=1, window_frames=33, context_frames=5,
                           buckets=((32, 32),), width=32, height=32, seconds=2.0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    text = TextEncoder()
    vae = VideoVAE(VAE_TINY)
    dit = DiT(DiTConfig(in_channels=VAE_TINY.latent_channels, hidden_size=32, depth=1, num_heads=2, text_dim=text.dim))
    folder = tmp_path_factory.mktemp("tiny") / "model"
    KinemaPipeline(vae, dit, text, NullText(text.dim), TINY_SAMPLE).save_pretrained(folder)
    return folder


def _rec(prompt, colour):
    return {"prompt": prompt, "scores": {"adherence": {"colour": colour, "overall": colour},
                                         "physics": {}, "consistency": {}}}


def test_per_value_audit_flags_a_biased_colour():
    recs = [_rec("a red ball falls", 1.0)] * 5 + [_rec("a blue ball falls", 0.0)] * 5
    audit = per_value_accuracy(recs)["colour"]
    assert audit["best"] == "red" and audit["worst"] == "blue"
    assert audit["spread"] == 1.0 and not audit["within_target"]
    fair = per_value_accuracy([_rec("a red ball falls", 1.0), _rec("a blue ball falls", 1.0)])["colour"]
    assert fair["within_target"] and fair["spread"] == 0.0
    agg = aggregate(recs + [{"prompt": "a red ball", "scores": {"error": "too short"}}])
    assert agg["errors"] == 1 and agg["adherence"]["overall"]["mean"] == pytest.approx(5 / 11)


def _counted(prompt, count, tracks):
    return {"prompt": prompt, "scores": {"adherence": {"count": count, "overall": count}, "physics": {},
                                         "consistency": {}, "num_tracks": tracks}}


def test_count_by_objects_splits_by_the_number_asked():
    recs = [_counted("a red ball falls", 1.0, 1), _counted("a blue box slides left", 0.0, 5),
            _counted("a red ball falls", 0.0, 6), _counted("two blue boxes slide left", 1.0, 2),
            _counted("hello world", 0.0, 3)]  # asks for nothing the parser knows: left out
    by = count_by_objects(recs)
    assert list(by) == ["1", "2"]
    assert by["1"]["n"] == 3 and by["1"]["count"]["mean"] == pytest.approx(1 / 3) and by["1"]["tracks"] == 5.0
    assert by["2"]["n"] == 1 and by["2"]["count"]["mean"] == 1.0 and by["2"]["tracks"] == 2.0
    rows = {"model": aggregate(recs[:4])}
    assert rows["model"]["by_objects"] == count_by_objects(recs[:4])
    md = split_markdown("id", rows, {})
    assert "### Object count by the number of objects asked" in md
    assert "| model | 1 | 3 | 0.333 [" in md and "| 5 |" in md
    assert "distinct" not in md  # no samples given: nothing said about them
    samples = {"model": [{"index": i, "seed": 0, **r} for i, r in enumerate(recs[:4])]}
    assert "4 prompts, 3 distinct: a prompt drawn again" in split_markdown("id", rows, {"samples": samples})
    assert "2 prompts, all distinct." in split_markdown("id", rows, {"samples": {"model": samples["model"][:2]}})


def test_evaluate_model_writes_the_report(model_dir, tmp_path):
    from kinema.eval.run import evaluate_model

    out = tmp_path / "report"
    report = evaluate_model(model_dir, out, num=2, progress=False)
    for name in ("report.json", "report.md", "adherence_id.png", "per_value_id.png", "best_id.png", "worst_id.png"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "report.json").read_text())["settings"]["num"] == 2
    rows = report["splits"]["id"]["rows"]
    assert rows["ceiling"]["adherence"]["colour"]["mean"] > rows["baseline"]["adherence"]["colour"]["mean"]
    assert rows["model"]["num"] == 2 and rows["vae"]["num"] == 2  # the ceiling's videos through the model's VAE
    assert rows["vae"]["adherence"]["colour"]["mean"] < rows["ceiling"]["adherence"]["colour"]["mean"]  # a random VAE
    md = (out / "report.md").read_text()
    assert "| attribute | model | vae | ceiling | baseline |" in md and "Bias audit" in md
    assert "Object count by the number of objects asked" in md


def test_a_model_only_evaluation_scores_the_same_model_row_and_pairs_with_a_full_one(model_dir, tmp_path):
    """rows=("model",) (`kinema eval --model-only`) skips the vae, ceiling and baseline rows: the
    model's records equal a full run's, so --compare pairs the two; the other rows are absent
    (a comparison of them is refused with the rows there are), and rows without the model are refused."""
    from kinema.eval.compare import compare_reports
    from kinema.eval.run import evaluate_model

    full = evaluate_model(model_dir, tmp_path / "full", num=1, progress=False)
    only = evaluate_model(model_dir, tmp_path / "only", num=1, rows=("model",), progress=False)
    assert set(only["splits"]["id"]["rows"]) == {"model"} and only["settings"]["rows"] == "model"
    assert "rows" not in full["settings"]
    same = [json.dumps(r["splits"]["id"]["samples"]["model"], sort_keys=True) for r in (only, full)]  # NaN-safe
    assert same[0] == same[1]
    assert "| attribute | model |" in (tmp_path / "only" / "report.md").read_text()
    diff = compare_reports(full, only)["splits"]["id"]["scores"]["overall"]
    assert diff["diff"] == 0.0 and diff["n"] == 1
    with pytest.raises(ValueError, match="row 'vae' is not in the reports; choose one of model"):
        compare_reports(full, only, row="vae")
    for bad in (("vae",), ("model", "critic"), ("model", "model")):
        with pytest.raises(ValueError, match="rows must name 'model'"):
            evaluate_model(model_dir, tmp_path / "bad", num=1, rows=bad, progress=False)



def test_an_evaluation_without_the_vae_row_never_runs_the_vae(model_dir, tmp_path, monkeypatch):
    from kinema.eval import reconstruction
    from kinema.eval.run import evaluate_model

    monkeypatch.setattr(reconstruction, "reconstruct", lambda *a, **k: pytest.fail("the vae row was not asked for"))
    report = evaluate_model(model_dir, tmp_path / "r", num=1, rows=("model", "ceiling"), progress=False)
    assert list(report["splits"]["id"]["rows"]) == ["model", "ceiling"]


def test_evaluate_model_samples_with_the_given_guidance_shift_and_sampler(tmp_path):
    import dataclasses

    import numpy as np
    from conftest import tiny_pipeline

    from kinema.eval.run import evaluate_model, noise_seed
    from kinema.video import read_video, write_video
    from kinema.world.splits import sample_prompt

    folder = tmp_path / "model"
    pipe = tiny_pipeline(dataclasses.replace(TINY_SAMPLE, guidance_scale=4.0, num_inference_steps=3))
    torch.manual_seed(1)
    for p in (*pipe.dit.blocks[0].cross.proj.parameters(), *pipe.dit.blocks[0].ada.parameters()):
        torch.nn.init.normal_(p, std=0.05)  # let the text (so guidance) and t (so the shift) change v
    pipe.save_pretrained(folder)
    report = evaluate_model(folder, tmp_path / "r", num=1, guidance_scale=1.0, shift=3.0, sampler="heun",
                            progress=False)
    settings = report["settings"]
    assert (settings["guidance_scale"], settings["shift"], settings["sampler"]) == (1.0, 3.0, "heun")
    got = read_video(tmp_path / "r" / "videos" / "id_0000_s0.mp4")[0]

    def written(guidance, shift, sampler="heun"):  # the same video through the same encoder
        p = KinemaPipeline.from_pretrained(folder)
        p.config = dataclasses.replace(p.config, shift=shift, sampler=sampler)
        v = p(sample_prompt("id", 0), seconds=2.0, seed=noise_seed("id", 0, 0), guidance_scale=guidance)
        write_video(tmp_path / "want.mp4", v.frames, v.fps)
        return read_video(tmp_path / "want.mp4")[0]

    np.testing.assert_array_equal(got, written(1.0, 3.0))
    assert not np.array_equal(got, written(1.0, 3.0, "euler"))  # the sampler is applied
    assert not np.array_equal(got, written(4.0, 1.5, "euler"))  # the saved defaults give another video
    with pytest.raises(ValueError, match="guidance_scale"):
        evaluate_model(folder, tmp_path / "bad", num=1, guidance_scale=-1.0, progress=False)
    with pytest.raises(ValueError, match="sampler"):
        evaluate_model(folder, tmp_path / "bad", num=1, sampler="rk4", progress=False)
    # the stochastic sampler's settings reach the calls and the report
    report = evaluate_model(folder, tmp_path / "s", num=1, sampler="stochastic", eta=0.5, eta_t_min=0.2,
                            progress=False)
    assert {k: report["settings"][k] for k in ("sampler", "eta", "eta_t_min")} == \
        {"sampler": "stochastic", "eta": 0.5, "eta_t_min": 0.2}
    p = KinemaPipeline.from_pretrained(folder)
    p.config = dataclasses.replace(p.config, sampler="stochastic", eta=0.5, eta_t_min=0.2)
    v = p(sample_prompt("id", 0), seconds=2.0, seed=noise_seed("id", 0, 0))
    write_video(tmp_path / "want.mp4", v.frames, v.fps)
    np.testing.assert_array_equal(read_video(tmp_path / "s" / "videos" / "id_0000_s0.mp4")[0],
                                  read_video(tmp_path / "want.mp4")[0])
    with pytest.raises(ValueError, match="eta"):
        evaluate_model(folder, tmp_path / "bad", num=1, sampler="stochastic", eta=2.0, progress=False)
    with pytest.raises(ValueError, match="unknown sampler settings.*guidance_t_max"):
        evaluate_model(folder, tmp_path / "bad", num=1, guidance_window=0.5, progress=False)
    report = evaluate_model(folder, tmp_path / "gi", num=1, guidance_t_max=0.5, guidance_rule="zero_star",
                            progress=False)
    assert {k: report["settings"][k] for k in ("guidance_t_max", "guidance_rule")} == \
        {"guidance_t_max": 0.5, "guidance_rule": "zero_star"}
    assert "guidance_t_min" not in report["settings"]  # at its default: not a setting to compare
    # from_index: prompts from that index on (a held-out half), scored and named by their index
    report = evaluate_model(folder, tmp_path / "later", num=1, from_index=3, progress=False)
    (rec,) = report["splits"]["id"]["samples"]["model"]
    assert (rec["index"], rec["prompt"], report["settings"]["from_index"]) == (3, sample_prompt("id", 3), 3)
    v = KinemaPipeline.from_pretrained(folder)(sample_prompt("id", 3), seconds=2.0, seed=noise_seed("id", 3, 0))
    write_video(tmp_path / "want.mp4", v.frames, v.fps)
    np.testing.assert_array_equal(read_video(tmp_path / "later" / "videos" / "id_0003_s0.mp4")[0],
                                  read_video(tmp_path / "want.mp4")[0])
    with pytest.raises(ValueError, match="from_index"):
        evaluate_model(folder, tmp_path / "bad", num=1, from_index=-1, progress=False)


def test_cli_eval_video_prints_scores(tmp_path, capsys):
    out = tmp_path / "ball.mp4"
    assert main(["world", "render", "a red ball bounces", "-o", str(out), "--size", "64x64"]) == 0
    capsys.readouterr()
    assert main(["eval", "--video", str(out), "--prompt", "a red ball bounces"]) == 0
    text = capsys.readouterr().out
    assert "adherence:" in text and "colour" in text and "1.000" in text


def test_cli_eval_bad_input_exits_2(tmp_path, capsys):
    assert main(["eval", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    assert main(["eval", "--video", str(bad), "--prompt", "a red ball"]) == 2
    assert main(["eval", "--video", str(tmp_path / "none.mp4"), "--prompt", "a red ball"]) == 2
    assert main(["eval", "--video", str(bad)]) == 2
    assert "error" in capsys.readouterr().err


def test_every_model_video_starts_from_its_own_noise_and_replays_from_its_seed(model_dir, tmp_path):
    """The model row seeds each (split, index, seed) apart (noise_seed): two prompts never share a
    starting noise, and pipe(prompt, seed=rec["noise_seed"]) gives the report's video back."""
    import numpy as np

    from kinema.eval.run import NOISE_PROTOCOL, evaluate_model, noise_seed
    from kinema.pipeline import KinemaPipeline
    from kinema.video import read_video, write_video

    report = evaluate_model(model_dir, tmp_path / "r", num=2, seeds=2, rows=("model",), progress=False)
    assert report["settings"]["noise"] == NOISE_PROTOCOL
    recs = report["splits"]["id"]["samples"]["model"]
    assert [r["noise_seed"] for r in recs] == [noise_seed("id", i, k) for i in range(2) for k in range(2)]
    assert len({r["noise_seed"] for r in recs}) == 4 and noise_seed("ood", 0, 0) != noise_seed("id", 0, 0)
    pipe = KinemaPipeline.from_pretrained(model_dir)

    def through_mp4(seed):  # the same encoder as the report's videos
        v = pipe(recs[1]["prompt"], seconds=2.0, seed=seed)
        write_video(tmp_path / "want.mp4", v.frames, v.fps)
        return read_video(tmp_path / "want.mp4")[0]

    written = read_video(tmp_path / "r" / recs[1]["video"])[0]
    np.testing.assert_array_equal(written, through_mp4(recs[1]["noise_seed"]))
    assert not np.array_equal(written, through_mp4(recs[0]["noise_seed"]))  # another video's noise
