"""Evaluate a model folder end to end: `evaluate_model(model_dir, out_dir)` and, for one
video, `score_one(video_path, prompt)`.

Steps of evaluate_model: prompts of each split (sample_prompt(split, i)) -> per prompt and
seed, four videos at the model's size and fps, 2 s long (FVD_FRAMES frames at 16 fps):
the model's, the ceiling's (the simulator's own video of the prompt), the vae row's (that
video encoded and decoded by the model's VAE: the best a DiT over these latents can score)
and the baseline's (an unrelated world clip) -> evaluate_video on each -> optional video-text score and FVD
with a trained video-text model -> report.aggregate per row -> report.write_report.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from kinema.eval.evaluate import evaluate_file, score_video
from kinema.eval.report import ROWS as ALL_ROWS
from kinema.eval.report import aggregate, scores_table, write_report
from kinema.world.splits import SPLITS, sample_prompt

EVAL_SECONDS = 2.0  # every scored clip is 2 s: the training length and the FVD protocol's
BASELINE_SEED_OFFSET = 1_000_000  # baseline and FVD reference scenes: seeds no prompt uses
REFERENCE_SEED_OFFSET = 2_000_000
# how the model row's starting noise is seeded (saved in every report's settings, which
# `--compare` checks): "per-video", noise_seed(split, index, seed), since 2026-12-07; before it,
# every prompt was generated at seed=k, so all prompts of a report shared one starting noise
NOISE_PROTOCOL = "per-video"
NUM_SHEET = 6  # samples on each best / worst contact sheet


def noise_seed(split: str, index: int, seed: int) -> int:
    """The generator seed of the model's video of prompt `index` of `split` at evaluation seed
    `seed`: a different starting noise for every video. Reproduce a report's video with
    pipe(prompt, seconds=2, seed=noise_seed(split, index, seed)).

    With one seed for every prompt (seed=k), all prompts start from the same noise, and a
    model's figures are those of that one draw: on the shipped model the first noise of seed 0
    flickers 1.7 times as much as the next three (docs/experiments.md, "Search over starting
    noise")."""
    digest = hashlib.sha256(f"{split}/{index}/{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _world_clip(split: str, seed: int, fps: float, width: int, height: int) -> np.ndarray:
    from kinema.world.render import render_scene
    from kinema.world.splits import sample_scene

    return render_scene(sample_scene(split, seed, fps=fps, seconds=EVAL_SECONDS, width=width, height=height))[0]


def _ceiling_clip(prompt: str, seed: int, split: str, fps: float, width: int, height: int) -> np.ndarray | None:
    """The simulator's own video of the prompt, or None when no scene realises it."""
    from kinema.world.prompts import scene_from_prompt
    from kinema.world.render import render_scene

    try:
        spec = scene_from_prompt(prompt, seed, fps=fps, seconds=EVAL_SECONDS, width=width, height=height, split=split)
    except (ValueError, RuntimeError):
        return None
    return render_scene(spec)[0]


def _splits(split: str) -> tuple[str, ...]:
    if split == "all":
        return SPLITS
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)} or all")
    return (split,)


def _model_name(path: str | os.PathLike | None) -> str | None:
    """How a report names a model folder: "shipped <name>" for the package's own assets (no
    machine paths in a report that may be committed), else the path as given."""
    if path is None:
        return None
    assets = Path(__file__).resolve().parents[1] / "assets"
    resolved = Path(path).resolve()
    return f"shipped {resolved.name}" if resolved.parent == assets else str(path)


def evaluate_model(
    model_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    split: str = "id",
    num: int = 200,
    seeds: int = 1,
    from_index: int = 0,
    steps: int | None = None,
    guidance_scale: float | None = None,
    clip_model: str | os.PathLike | None = None,
    rows: tuple[str, ...] = ALL_ROWS,
    progress: bool = True,
    **sampling,
) -> dict:
    """Generate, score and report; returns the report dict (also out_dir/report.json).

    model_dir: a folder written by KinemaPipeline.save_pretrained (None: the shipped model).
    split: id | ood | combo | all. num: prompts per split, from prompt index from_index on (100
    with num 100: the second half of 200, to check settings the first half chose); seeds: videos
    per prompt (seed 0..seeds-1). steps, guidance_scale and `sampling`, the SampleConfig fields of
    the sampler (shift, sampler, eta, eta_t_min, expert_boundary, negative_prompt ("" for the null
    text), refine_strength, refine_smooth, guidance_t_min, guidance_t_max, guidance_rule,
    steady_steps, steady_iters, steady_lr, steady_score): sampler
    settings (None: the model's saved defaults), so one model folder is scored at several settings.
    clip_model: a folder written by `kinema train clip`, for the video-text score and FVD of
    every row. rows: the rows to score, "model" among them; the other three do not depend on the
    sampler settings, so a run that compares settings with `--compare` may leave them out (15% of
    the time of a 12-prompt run on a 2-core CPU: 87 s instead of 102 s).
    """
    from tqdm.auto import tqdm

    from kinema.eval.reconstruction import reconstruct
    from kinema.pipeline import KinemaPipeline
    from kinema.sampling import SAMPLER_FIELDS
    from kinema.video import write_video

    # 1. check inputs, load models
    splits = _splits(split)
    if not isinstance(num, int) or num < 1 or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"num and seeds must be integers >= 1, got num={num!r}, seeds={seeds!r}")
    if not isinstance(from_index, int) or from_index < 0:
        raise ValueError(f"from_index must be an integer >= 0, got {from_index!r}")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    rows = tuple(rows)
    if "model" not in rows or not set(rows) <= set(ALL_ROWS) or len(set(rows)) != len(rows):
        raise ValueError(f"rows must name 'model' and any of {', '.join(ALL_ROWS[1:])} once each, got {rows}")
    valid = ("shift", "negative_prompt", *SAMPLER_FIELDS)
    unknown = sorted(set(sampling) - set(valid))
    if unknown:
        raise ValueError(f"unknown sampler settings {unknown}; valid: {', '.join(valid)}")
    if sampling.get("shift") is not None and sampling["shift"] <= 0:
        raise ValueError(f"shift must be > 0 (1 = no shift), got {sampling['shift']}")
    pipe = KinemaPipeline.from_pretrained(model_dir)
    # sampler settings held as the model's defaults for every call; SampleConfig checks them
    pipe.config = pipe.config.override(**sampling)
    clip = None
    if clip_model is not None:
        from kinema.eval.clip import load_clip_model

        clip = load_clip_model(clip_model)
    cfg = pipe.config
    fps, width, height = cfg.fps, cfg.width, cfg.height
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)

    report = {"model": _model_name(model_dir) or "default",
              "settings": report_settings(pipe, splits, num=num, from_index=from_index, seeds=seeds, steps=steps,
                                          guidance_scale=guidance_scale, clip_model=clip_model),
              "splits": {}}
    if rows != ALL_ROWS:
        report["settings"]["rows"] = "+".join(rows)
    t0 = time.monotonic()
    for s in splits:
        # 2. every row's video of every (prompt, seed), scored as they come
        records = {r: [] for r in ALL_ROWS if r in rows}
        feats = {r: [] for r in records}
        bar = tqdm(total=num * seeds, desc=f"evaluating ({s})", unit="video", disable=not progress, file=sys.stderr)
        for i in range(from_index, from_index + num):
            prompt = sample_prompt(s, i)
            for k in range(seeds):
                generator_seed = noise_seed(s, i, k)
                video = pipe(prompt, seconds=EVAL_SECONDS, seed=generator_seed, num_inference_steps=steps,
                             guidance_scale=guidance_scale)
                name = f"{s}_{i:04d}_s{k}.mp4"
                write_video(out / "videos" / name, video.frames, video.fps)
                clips = {"model": video.frames}  # the rows asked for, in ALL_ROWS' order
                if "vae" in rows or "ceiling" in rows:
                    ceiling = _ceiling_clip(prompt, k, s, fps, width, height)
                    if "vae" in rows:
                        clips["vae"] = None if ceiling is None else reconstruct(pipe.vae, ceiling)
                    if "ceiling" in rows:
                        clips["ceiling"] = ceiling
                if "baseline" in rows:
                    clips["baseline"] = _world_clip("id", BASELINE_SEED_OFFSET + i * seeds + k, fps, width, height)
                for r, frames in clips.items():
                    rec = {"prompt": prompt, "split": s, "index": i, "seed": k}
                    if frames is None:
                        rec["scores"] = {"error": "no simulated scene realises this prompt"}
                    else:
                        rec["scores"] = score_video(frames, video.fps if r == "model" else fps, prompt)
                        if clip is not None:
                            _clip_scores(clip, frames, prompt, rec, feats[r])
                    if r == "model":
                        rec["video"] = f"videos/{name}"
                        rec["noise_seed"] = generator_seed
                    records[r].append(rec)
                bar.update(1)
                bar.set_postfix(adherence=f"{np.nanmean([_overall(r) for r in records['model']]):.2f}")
        bar.close()

        # 3. aggregate; FVD against world clips of the training distribution
        result = {"rows": {r: aggregate(v) for r, v in records.items()}, "samples": records}
        if clip is not None:
            result["fvd"] = _fvd_rows(clip, feats, fps, width, height, progress)
        report["splits"][s] = result

        # 4. contact sheets of the model's best and worst samples (by overall adherence)
        save_sample_sheets(out, records["model"], s, height)
    report["settings"]["seconds_taken"] = round(time.monotonic() - t0, 1)

    # 5. write
    json_path, md_path = write_report(report, out)
    if progress:
        print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return report


def report_settings(pipe, splits, *, num: int, from_index: int, seeds: int, steps: int | None,
                    guidance_scale: float | None, clip_model: str | os.PathLike | None) -> dict:
    """A report's settings: the run's and the pipeline's sampler settings, as `--compare` reads them."""
    cfg = pipe.config
    return {"splits": "+".join(splits), "num": num, "from_index": from_index, "seeds": seeds,
            "steps": steps or cfg.num_inference_steps,
            "guidance_scale": cfg.guidance_scale if guidance_scale is None else guidance_scale,
            "shift": cfg.shift, **cfg.sampler_settings, "negative_prompt": cfg.negative_prompt,
            **({"expert_boundary": cfg.expert_boundary} if pipe.high_noise_dit is not None else {}),
            "size": f"{cfg.width}x{cfg.height}", "fps": cfg.fps, "seconds": EVAL_SECONDS,
            "clip_model": _model_name(clip_model), "noise": NOISE_PROTOCOL}


def save_sample_sheets(out: Path, records: list[dict], split: str, height: int) -> None:
    """out/best_<split>.png and out/worst_<split>.png: the samples of highest and lowest overall adherence."""
    from kinema.video import save_contact_sheet

    order = sorted(range(len(records)), key=lambda j: _overall(records[j]))
    for tag, pick in (("worst", order[:NUM_SHEET]), ("best", order[::-1][:NUM_SHEET])):
        videos = [_read_frames(out / records[j]["video"]) for j in pick]
        labels = [f"{_overall(records[j]):.2f} {records[j]['prompt']}"[:60] for j in pick]
        save_contact_sheet(out / f"{tag}_{split}.png", videos, labels=labels, max_frames=8, scale=max(1, 96 // height))


def _read_frames(path: Path) -> np.ndarray:
    from kinema.video import read_video

    return read_video(path)[0]


def _overall(rec: dict) -> float:
    v = rec["scores"].get("adherence", {}).get("overall", np.nan)
    return 0.0 if "error" in rec["scores"] else float(v)


def _clip_scores(clip, frames: np.ndarray, prompt: str, rec: dict, feats: list) -> None:
    from kinema.eval.clip import features, similarity

    if len(frames) < clip.cfg.num_frames:
        return
    rec["clip_score"] = float(similarity(clip, [frames], [prompt])[0, 0])
    feats.append(features(clip, [frames])[0])


def fvd_reference(clip, n: int, fps: float, width: int, height: int, split: str = "id") -> tuple[np.ndarray, float]:
    """The FVD reference at N = n: features of n world clips of `split` (scenes from
    REFERENCE_SEED_OFFSET on, which no prompt uses), and the real-vs-real floor, the distance
    between them and the next n clips. Every FVD of the evaluation is measured against these."""
    from kinema.eval.clip import features, frechet_distance

    ref = [_world_clip(split, REFERENCE_SEED_OFFSET + j, fps, width, height) for j in range(2 * n)]
    fa = features(clip, ref[:n])
    return fa, frechet_distance(fa, features(clip, ref[n:]))


def _fvd_rows(clip, feats: dict, fps: float, width: int, height: int, progress: bool) -> dict:
    """FVD of every row against world clips, and the real-vs-real floor, all with the same N."""
    from kinema.eval.clip import FVD_NUM_CLIPS, frechet_distance

    n = min(FVD_NUM_CLIPS, *(len(f) for f in feats.values()))
    if n < 2:
        return {}
    fa, floor = fvd_reference(clip, n, fps, width, height)
    out = {"n": n, "floor": floor}
    for r, f in feats.items():
        out[r] = frechet_distance(np.stack(f[:n]), fa)
    if n < FVD_NUM_CLIPS and progress:
        print(f"note: FVD uses N={n} clips per set (the protocol's {FVD_NUM_CLIPS} needs --num x --seeds >= "
              f"{FVD_NUM_CLIPS}); compare it only with numbers of the same N", file=sys.stderr)
    return out


def score_one(video_path: str | os.PathLike, prompt: str, *, show: bool = True) -> dict:
    """evaluate_file(video_path, prompt), printed as a per-attribute table when show."""
    scores = evaluate_file(video_path, prompt)
    if show:
        print(f"{video_path}: {prompt!r}")
        print(scores_table(scores))
    return scores
