"""Paired comparison of two evaluation reports: the math on known cases, pairing by (index,
seed), mismatched prompts refused, and `kinema eval --compare` writing its table and plot."""

import json

import numpy as np
import pytest

from kinema.cli import main
from kinema.eval.compare import compare_reports, comparison_markdown, paired_difference


def _report(name, overall, *, prompts=None, appears=None):
    samples = []
    for i, v in enumerate(overall):
        scores = {"adherence": {"overall": v, "colour": 1.0},
                  "consistency": {"appears": appears[i] if appears else 0}}
        samples.append({"prompt": (prompts or [f"a red ball falls {i}"] * len(overall))[i], "split": "id",
                        "index": i, "seed": 0, "scores": scores})
    return {"model": name, "settings": {"steps": 20, "seconds_taken": 5.0}, "splits": {"id": {"samples": {"model": samples}}}}


def test_paired_difference_of_a_constant_shift_is_exact():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, 50)
    d = paired_difference(a, a + 0.1)
    # every pair differs by 0.1: the mean and both ends of the interval are 0.1, however spread a is
    assert d["diff"] == pytest.approx(0.1) and d["lo"] == pytest.approx(0.1) and d["hi"] == pytest.approx(0.1)
    assert d["mean_b"] - d["mean_a"] == pytest.approx(0.1) and d["n"] == 50


def test_paired_difference_drops_nan_pairs_and_checks_lengths():
    d = paired_difference([0.0, np.nan, 1.0], [1.0, 0.5, np.nan])
    assert d["n"] == 1 and d["diff"] == 1.0
    with pytest.raises(ValueError, match="one value per pair"):
        paired_difference([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="no pair"):
        paired_difference([np.nan], [1.0])


def test_pairing_beats_unpaired_spread():
    # a wide spread over prompts, a small consistent gain: paired interval excludes 0
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, 100)
    b = a + 0.02 + rng.normal(0, 0.01, 100)
    res = compare_reports(_report("A", a.tolist()), _report("B", b.tolist()))
    d = res["splits"]["id"]["scores"]["overall"]
    assert d["lo"] > 0 and d["diff"] == pytest.approx(float(np.mean(b - a)))
    assert res["splits"]["id"]["pairs"] == 100
    assert res["splits"]["id"]["scores"]["colour"]["diff"] == 0.0


def test_compare_pairs_by_index_and_refuses_different_prompts():
    a = _report("A", [0.0, 1.0, 0.5])
    b = _report("B", [1.0, 1.0])  # only the first two prompts: pairs are the shared ones
    res = compare_reports(a, b)
    assert res["splits"]["id"]["pairs"] == 2 and res["splits"]["id"]["scores"]["overall"]["diff"] == 0.5
    c = _report("C", [0.0, 1.0, 0.5], prompts=["x", "y", "z"])
    with pytest.raises(ValueError, match="different prompts"):
        compare_reports(a, c)
    with pytest.raises(ValueError, match="row 'vae'"):
        compare_reports(a, a, row="vae")
    same = ["a red ball falls", "a blue box slides", "a red ball falls"]  # a prompt drawn twice
    res = compare_reports(_report("A", [0.0, 1.0, 0.5], prompts=same), _report("B", [1.0, 1.0, 1.0], prompts=same))
    assert (res["splits"]["id"]["pairs"], res["splits"]["id"]["distinct_prompts"]) == (3, 2)
    assert "## id (3 pairs, 2 distinct prompts)" in comparison_markdown(res)


def test_compare_on_a_subset_of_prompts():
    prompts = ["a red ball falls", "a box slides, the camera pans left", "a ball rolls, the Camera zooms in"]
    a = _report("A", [0.0, 0.0, 0.5], prompts=prompts)
    b = _report("B", [1.0, 0.5, 1.0], prompts=prompts)
    named = compare_reports(a, b, where="camera")["splits"]["id"]
    assert named["pairs"] == 2 and named["scores"]["overall"]["diff"] == 0.5
    unnamed = compare_reports(a, b, where="!camera")["splits"]["id"]
    assert unnamed["pairs"] == 1 and unnamed["scores"]["overall"]["diff"] == 1.0
    with pytest.raises(ValueError, match="no pair's prompt contains 'gravity'"):
        compare_reports(a, b, where="gravity")
    later = compare_reports(a, b, from_index=1)["splits"]["id"]
    assert later["pairs"] == 2 and later["scores"]["overall"]["diff"] == 0.5
    assert compare_reports(a, b, from_index=1, where="camera")["splits"]["id"]["pairs"] == 2
    with pytest.raises(ValueError, match="no prompt index is at least 3"):
        compare_reports(a, b, from_index=3)
    prompts = ["a red ball falls", "two red balls fall", "a red ball collides with a blue box"]
    a = _report("A", [0.0, 0.0, 0.5], prompts=prompts)
    b = _report("B", [1.0, 0.5, 1.0], prompts=prompts)
    one = compare_reports(a, b, objects=1)["splits"]["id"]
    assert one["pairs"] == 1 and one["scores"]["overall"]["diff"] == 1.0
    two = compare_reports(a, b, objects=2)["splits"]["id"]
    assert two["pairs"] == 2 and two["scores"]["overall"]["diff"] == 0.5
    with pytest.raises(ValueError, match="asks for 3 object"):
        compare_reports(a, b, objects=3)


def test_cli_eval_compare_writes_table_and_plot(tmp_path, capsys):
    for name, vals, app in (("a", [0.2, 0.4, 0.6], [3, 2, 1]), ("b", [0.3, 0.5, 0.7], [1, 1, 1])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps(_report(name, vals, appears=app)))
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "| overall | 0.400 | 0.500 | +0.100 |" in out and "| appears | 2.000 | 1.000 | -1.000 |" in out
    assert "## id (3 pairs)" in out  # three distinct prompts: no note
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 0
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text())["splits"]["id"]["pairs"] == 3
    assert "Settings that differ" not in out  # the same settings
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    b["settings"] = {"steps": 40, "seconds_taken": 9.0, "expert_boundary": 0.9}
    (tmp_path / "b" / "report.json").write_text(json.dumps(b))
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "Settings that differ: expert_boundary - (A), 0.9 (B); steps 20 (A), 40 (B)." in capsys.readouterr().out
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--where", "!falls 1"]) == 0
    assert "prompts without 'falls 1'" in capsys.readouterr().out
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--from-index", "1"]) == 0
    assert "| overall | 0.500 | 0.600 | +0.100 |" in (out := capsys.readouterr().out) and "from index 1 on" in out
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--objects", "1"]) == 0
    assert "prompts asking for 1 object(s)" in capsys.readouterr().out
    for flag in (["--where", "camera"], ["--objects", "2"]):  # a filter without a comparison is refused, not ignored
        assert main(["eval", *flag]) == 2
        assert "use them with --compare" in capsys.readouterr().err
    assert main(["eval", "--vae", str(tmp_path / "a"), "--from-index", "5"]) == 2  # no prompts to pick there
    assert "not of --vae or --video" in capsys.readouterr().err
    # --row pairs another row: these reports have only the model's, so "vae" is named as missing
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--row", "vae"]) == 2
    assert "row 'vae' is not in the reports" in capsys.readouterr().err
    assert main(["eval", "--row", "vae"]) == 2
    # a missing report is a clear error with exit code 2
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "nowhere")]) == 2
    assert "no evaluation report" in capsys.readouterr().err


def test_compare_refuses_model_rows_whose_noise_was_seeded_differently():
    """Reports from before per-video noise seeds gave every prompt one noise per seed: pairing their
    model row with a newer report's would pair prompts, not noises."""
    old, new = _report("A", [0.5, 0.6]), _report("B", [0.6, 0.7])
    new["settings"]["noise"] = "per-video"
    with pytest.raises(ValueError, match="starting noise differently.*one per seed in A, per-video in B"):
        compare_reports(old, new)
    newer = _report("C", [0.6, 0.8])
    newer["settings"]["noise"] = "per-video"
    assert compare_reports(new, newer)["splits"]["id"]["scores"]["overall"]["diff"] == pytest.approx(0.05)
