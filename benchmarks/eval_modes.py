"""Quality of every generation mode of a KinemaPipeline (issue [modes]).

Run: python benchmarks/eval_modes.py [--model DIR] [--out runs/eval-modes] [--num N] [--steps S]
         [--long-seconds 60] [--long-num 1] [--seed 0] [--modes animate,extend,...]

Modes (--modes takes any of them, comma-separated; default all): animate, extend, connect,
loop, edit, stills, sizes (every size bucket x fps 8/12/16/24), long. Writes OUT/modes.json,
OUT/modes.md (a table per mode, targets beside the figures), OUT/long_video.png and a
contact sheet OUT/sheet_<mode>.png per mode.

Source material is the world itself. Prompt i is sample_prompt("id", i), the short caption of
world scene ("id", i); modes that start from frames use that scene's clip (make_world_clip)
at the model's size and fps, and its own caption as the prompt, so the frames are real world
frames and the prompt describes them. Long videos run on the first world scenes from seed
4,000,000 whose own simulation keeps its objects in view for the whole length (long_scenes),
so the consistency target is one the world itself meets. Every figure comes from kinema.eval:
parse_video tracks, evaluate_video adherence, reconstruction.psnr.

Seam velocity jump (extend, connect): with v(t) = c(t) - c(t-1) from a track's centroids and
the seam between frames b-1 and b, the jump is |v(b) - v(b-1)| and the object's typical
change is the median |v(t) - v(t-1)| over the rest of the clip (at least MIN_TYPICAL_PX, the
parser's sub-pixel noise, so a resting object does not divide by ~0). A ratio <= 2 means the
seam is no rougher than twice the object's ordinary motion.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinema.cli import add_sampler_arguments, apply_sampler_arguments
from kinema.eval.adherence import real_tracks
from kinema.eval.evaluate import evaluate_video
from kinema.eval.parser import detect_clip, parse_video
from kinema.eval.reconstruction import psnr, reconstruct
from kinema.pipeline import KinemaPipeline
from kinema.plots import pyplot, save_figure
from kinema.video import Video, fit_frames, save_contact_sheet
from kinema.world.dataset import WORLD_BUCKETS, WorldClip, make_world_clip
from kinema.world.spec import COLOURS
from kinema.world.splits import sample_prompt, sample_scene

MODES = ("animate", "extend", "connect", "loop", "edit", "stills", "sizes", "long")
CLIP_SECONDS = 2.0  # extend and edit start from a 2-s world clip: the training length
CONNECT_SECONDS = 1.0  # connect: A and B are the first and last second of a 3-s clip, 1 s apart
EDIT_STRENGTHS = (0.0, 0.5, 0.7)
SIZE_FPS = (8, 12, 16, 24)
WINDOW_SECONDS = 2.0  # long video: attributes scored per 2-s slice
MIN_TYPICAL_PX = 0.5  # floor of an object's typical velocity change, px/frame^2
SEAM_RATIO_OK = 2.0
EDIT_SEED_OFFSET = 3_000_000  # one-ball scenes for edit are searched from here, past any prompt seed
LONG_SEED_OFFSET = 4_000_000  # long-video scenes are searched from here
LONG_WORLD_KEPT = 0.95  # a long-video scene: the world's own video keeps its objects in this many frames
MAX_SHEET_ROWS = 6

# Targets from issue [modes], shown beside the figures in modes.md.
TARGETS = {
    ("animate", "first_frame_psnr_db"): ">= 28 dB",
    ("extend", "kept_input_max_abs_diff"): "0",
    ("extend", "seam_ratio_median"): f"<= {SEAM_RATIO_OK:g} (within 2x)",
    ("connect", "seam_ratio_median"): f"<= {SEAM_RATIO_OK:g} (within 2x)",
    ("loop", "wrap_over_typical"): "<= 1",
    ("edit", "max_abs_diff@0"): "0",
    ("long", "consistent_frame_fraction"): ">= 0.95",
}


@dataclass(frozen=True)
class Settings:
    num: int  # prompts (or clips) per mode
    steps: int | None  # denoising steps; None: the model's default
    seed: int  # generation seed of each mode's first item; item i uses seed + i
    long_seconds: float
    long_num: int
    out: Path

    def gen(self, i: int) -> dict:
        """Keyword arguments of the pipeline call of a mode's item i: its own seed, so items start
        from different noise (one seed for all gave every item the same noise and its quirks)."""
        return {"num_inference_steps": self.steps, "seed": self.seed + i}


def log(mode: str, i: int, n: int, text: str) -> None:
    print(f"[{mode} {i + 1}/{n}] {text}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- measures


def world_clip(pipe: KinemaPipeline, seed: int, *, seconds: float = CLIP_SECONDS) -> WorldClip:
    """World scene ("id", seed) rendered at the model's default size and fps."""
    cfg = pipe.config
    return make_world_clip("id", seed, fps=cfg.fps, seconds=seconds, width=cfg.width, height=cfg.height)


def adherence(frames: np.ndarray, fps: float, prompt: str) -> dict:
    """evaluate_video's adherence scores (colour, shape, count, ..., overall)."""
    return evaluate_video(frames, fps, prompt)["adherence"]


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return 0.0 if a == 0 else math.inf


def consecutive_psnr(frames: np.ndarray) -> float:
    """Median PSNR between consecutive frames: how alike neighbours are in a real clip."""
    return float(np.median([psnr(frames[t], frames[t + 1]) for t in range(len(frames) - 1)]))


def seam_ratios(frames: np.ndarray, boundary: int) -> list[float]:
    """Per object seen at frames boundary-2..boundary: the velocity change across the seam
    before frame `boundary`, over the object's typical (median) change elsewhere."""
    tracks = real_tracks(parse_video(frames))
    c = tracks.centroids  # (T, K, 2), NaN where absent
    change = np.linalg.norm(c[2:] - 2 * c[1:-1] + c[:-2], axis=-1)  # (T-2, K): |v(t+1) - v(t)| at t+1
    j = boundary - 2  # row of |v(b) - v(b-1)|
    out = []
    for k in range(len(tracks)):
        if not np.isfinite(change[j, k]):
            continue
        rest = np.delete(change[:, k], j)
        rest = rest[np.isfinite(rest)]
        typical = max(float(np.median(rest)) if len(rest) else 0.0, MIN_TYPICAL_PX)
        out.append(float(change[j, k] / typical))
    return out


def seam_summary(ratios: list[float]) -> dict:
    r = np.asarray(ratios, dtype=float)
    return {"seam_ratio_median": float(np.median(r)) if len(r) else math.nan,
            f"seam_within_{SEAM_RATIO_OK:g}x_fraction": float(np.mean(r <= SEAM_RATIO_OK)) if len(r) else math.nan,
            "seam_objects": int(len(r))}


def mean(values) -> float:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else math.nan


def sheet(s: Settings, mode: str, videos: list[np.ndarray], labels: list[str]) -> None:
    """OUT/sheet_<mode>.png: one row per video (the first MAX_SHEET_ROWS), 8 frames each."""
    videos, labels = videos[:MAX_SHEET_ROWS], [t[:70] for t in labels[:MAX_SHEET_ROWS]]
    height = max(v.shape[1] for v in videos)
    save_contact_sheet(s.out / f"sheet_{mode}.png", videos, labels=labels, max_frames=8, scale=max(1, 96 // height))


# ----------------------------------------------------------------------------- modes


def eval_animate(pipe: KinemaPipeline, s: Settings) -> dict:
    """Image to video from the first frame of world clip i. Frame 0 should be the image;
    frame 1 vs frame 0 shows the seam, beside the same figure of the world clip itself."""
    items, videos = [], []
    for i in range(s.num):
        clip = world_clip(pipe, i)
        prompt, image = clip.captions["short"], clip.frames[0]
        video = pipe.animate(image, prompt, **s.gen(i))
        target = fit_frames(image[None], video.width, video.height)[0]
        adh = adherence(video.frames, video.fps, prompt)
        items.append({"prompt": prompt, "first_frame_psnr_db": psnr(video.frames[0], target),
                      "frame1_psnr_db": psnr(video.frames[1], video.frames[0]),
                      "world_frame1_psnr_db": psnr(clip.frames[1], clip.frames[0]),
                      "overall": adh["overall"], "colour": adh.get("colour"), "shape": adh.get("shape")})
        videos.append(video.frames)
        log("animate", i, s.num, f"frame-0 PSNR {items[-1]['first_frame_psnr_db']:.1f} dB, "
                                 f"adherence {adh['overall']:.2f}: {prompt}")
    sheet(s, "animate", videos, [it["prompt"] for it in items])
    summary = {k: mean(it[k] for it in items) for k in ("first_frame_psnr_db", "frame1_psnr_db",
                                                        "world_frame1_psnr_db", "overall", "colour", "shape")}
    return {"summary": summary, "items": items}


def vae_continuation(pipe: KinemaPipeline, frames: np.ndarray, n: int, n_new: int) -> np.ndarray:
    """frames[:n] followed by the VAE's reconstruction of the real frames[n:n + n_new], in the
    window the pipeline's forward extension denoises: what a perfect generator could give."""
    ctx, w = pipe.config.context_frames, pipe.config.window_frames
    recon = reconstruct(pipe.vae, frames[n - ctx: n - ctx + w])
    return np.concatenate([frames[:n], recon[ctx: ctx + n_new]])


def eval_extend(pipe: KinemaPipeline, s: Settings) -> dict:
    """1 s forward and 1 s backward from a 2-s world clip: input kept, seam smooth.

    Two references for the forward seam: the world's own clip running on past the seam
    ("world"), and the input followed by the VAE's reconstruction of that real continuation
    ("vae"), the best any generator decoding through this VAE can do."""
    items, videos, labels = [], [], []
    for i in range(s.num):
        clip = world_clip(pipe, i)
        prompt, src = clip.captions["short"], clip.frames
        n = len(src)
        fwd = pipe.extend(Video(src, pipe.config.fps), prompt, seconds=1.0, **s.gen(i))
        bwd = pipe.extend(Video(src, pipe.config.fps), prompt, seconds=1.0, backward=True, **s.gen(i))
        n_new = bwd.num_frames - n
        longer = world_clip(pipe, i, seconds=CLIP_SECONDS + 1.0 + pipe.config.window_frames / pipe.config.fps).frames
        assert np.array_equal(longer[:n], src), "a world scene simulated longer must start the same"
        item = {"prompt": prompt,
                "forward": {"kept_input_max_abs_diff": max_abs_diff(fwd.frames[:n], src),
                            "seam_ratios": seam_ratios(fwd.frames, n)},
                "forward_world": {"seam_ratios": seam_ratios(longer[: n + n_new], n)},
                "forward_vae": {"seam_ratios": seam_ratios(vae_continuation(pipe, longer, n, n_new), n)},
                "backward": {"kept_input_max_abs_diff": max_abs_diff(bwd.frames[n_new:], src),
                             "seam_ratios": seam_ratios(bwd.frames, n_new)}}
        items.append(item)
        videos += [src, fwd.frames, bwd.frames]
        labels += [f"input: {prompt}", "forward +1 s", "backward +1 s"]
        log("extend", i, s.num, f"kept diff fwd {item['forward']['kept_input_max_abs_diff']}, "
                                f"bwd {item['backward']['kept_input_max_abs_diff']}: {prompt}")
    sheet(s, "extend", videos, labels)
    summary = {"kept_input_max_abs_diff": max(it[d]["kept_input_max_abs_diff"] for it in items
                                              for d in ("forward", "backward"))}
    for d in ("forward", "backward", "forward_world", "forward_vae"):
        seams = seam_summary([r for it in items for r in it[d]["seam_ratios"]])
        summary.update({f"{k}_{d}": v for k, v in seams.items()})
    summary.update(seam_summary([r for it in items for d in ("forward", "backward") for r in it[d]["seam_ratios"]]))
    return {"summary": summary, "items": items}


def eval_connect(pipe: KinemaPipeline, s: Settings) -> dict:
    """A = first second, B = last second of a 3-s world clip; connect invents the second between."""
    items, videos = [], []
    for i in range(s.num):
        clip = world_clip(pipe, i, seconds=2 * CONNECT_SECONDS + 1.0)
        prompt, fps = clip.captions["short"], pipe.config.fps
        k = int(round(CONNECT_SECONDS * fps)) + 1
        a, b = clip.frames[:k], clip.frames[-k:]
        out = pipe.connect(Video(a, fps), Video(b, fps), prompt, seconds=1.0, **s.gen(i)).frames
        start, end = len(a), len(out) - len(b)  # the transition is out[start:end]
        items.append({"prompt": prompt,
                      "start_psnr_db": psnr(out[start], a[-1]), "end_psnr_db": psnr(out[end - 1], b[0]),
                      "world_consecutive_psnr_db": consecutive_psnr(clip.frames),
                      "kept_max_abs_diff": max(max_abs_diff(out[:start], a), max_abs_diff(out[end:], b)),
                      "seam_ratios_a": seam_ratios(out, start), "seam_ratios_b": seam_ratios(out, end)})
        videos.append(out)
        log("connect", i, s.num, f"PSNR start {items[-1]['start_psnr_db']:.1f} dB, "
                                 f"end {items[-1]['end_psnr_db']:.1f} dB: {prompt}")
    sheet(s, "connect", videos, [it["prompt"] for it in items])
    summary = {k: mean(it[k] for it in items) for k in ("start_psnr_db", "end_psnr_db", "world_consecutive_psnr_db")}
    summary["kept_max_abs_diff"] = max(it["kept_max_abs_diff"] for it in items)
    summary.update(seam_summary([r for it in items for r in it["seam_ratios_a"] + it["seam_ratios_b"]]))
    return {"summary": summary, "items": items}


def eval_loop(pipe: KinemaPipeline, s: Settings) -> dict:
    """The wrap (last frame -> first) should be no bigger a step than an ordinary frame step."""
    items, videos = [], []
    for i in range(s.num):
        prompt = sample_prompt("id", i)
        f = pipe.loop(prompt, **s.gen(i)).frames
        wrap = mean_abs_diff(f[-1], f[0])
        typical = float(np.median([mean_abs_diff(f[t + 1], f[t]) for t in range(len(f) - 1)]))
        items.append({"prompt": prompt, "wrap_mad": wrap, "typical_mad": typical,
                      "wrap_over_typical": ratio(wrap, typical)})
        videos.append(np.concatenate([f[-4:], f[:4]]))  # the wrap in the middle of the row
        log("loop", i, s.num, f"wrap / typical {items[-1]['wrap_over_typical']:.2f}: {prompt}")
    sheet(s, "loop", videos, [f"last 4 | first 4: {it['prompt']}" for it in items])
    summary = {k: mean(it[k] for it in items) for k in ("wrap_mad", "typical_mad")}
    summary["wrap_over_typical"] = float(np.median([it["wrap_over_typical"] for it in items]))
    return {"summary": summary, "items": items}


def one_ball_clips(pipe: KinemaPipeline, num: int) -> list[WorldClip]:
    """The first `num` world scenes from EDIT_SEED_OFFSET on that hold exactly one ball."""
    cfg, clips, seed = pipe.config, [], EDIT_SEED_OFFSET
    while len(clips) < num:
        spec = sample_scene("id", seed, fps=cfg.fps, seconds=CLIP_SECONDS, width=cfg.width, height=cfg.height)
        if len(spec.objects) == 1 and spec.objects[0].shape == "ball":
            clips.append(world_clip(pipe, seed))
        seed += 1
    return clips


def edit_outcome(src_tracks, out: np.ndarray, colour: str) -> tuple[bool, float]:
    """(the edited ball has `colour`, median px between source and edited track). The edited
    track is the one whose first centroid is nearest the source ball's first centroid."""
    src = src_tracks.centroids[:, int(np.argmax(src_tracks.present().sum(0)))]  # (T, 2) the ball
    first = src[np.flatnonzero(np.isfinite(src[:, 0]))[0]]
    tracks = real_tracks(parse_video(out))
    if not len(tracks):
        return False, math.nan
    starts = [tracks.centroids[np.flatnonzero(tracks.present()[:, k])[0], k] for k in range(len(tracks))]
    k = int(np.argmin([np.linalg.norm(p - first) for p in starts]))
    dist = np.linalg.norm(tracks.centroids[:, k] - src, axis=-1)
    return tracks.colours[k] == colour, float(np.nanmedian(dist)) if np.isfinite(dist).any() else math.nan


def eval_edit(pipe: KinemaPipeline, s: Settings) -> dict:
    """SDEdit a one-ball clip toward its caption with the colour word swapped."""
    items, videos, labels = [], [], []
    for i, clip in enumerate(one_ball_clips(pipe, s.num)):
        old = clip.spec.objects[0].colour
        others = [c for c in COLOURS if c != old]
        new = others[i % len(others)]
        prompt = re.sub(rf"\b{old}\b", new, clip.captions["short"], count=1)
        src_tracks = real_tracks(parse_video(clip.frames))
        src_tracks = src_tracks if len(src_tracks) else None
        item = {"prompt": prompt, "from": old, "to": new, "strengths": {}}
        videos.append(clip.frames)
        labels.append(f"source: {clip.captions['short']}")
        for st in EDIT_STRENGTHS:
            out = pipe.edit(Video(clip.frames, pipe.config.fps), prompt, strength=st, **s.gen(i)).frames
            hit, dev = edit_outcome(src_tracks, out, new) if src_tracks is not None else (False, math.nan)
            item["strengths"][f"{st:g}"] = {"new_colour": hit, "deviation_px": dev,
                                            "max_abs_diff": max_abs_diff(out, clip.frames)}
            videos.append(out)
            labels.append(f"strength {st:g}: {prompt}")
        items.append(item)
        log("edit", i, s.num, f"{old} -> {new}: " + ", ".join(
            f"s={k} {'hit' if v['new_colour'] else 'miss'} {v['deviation_px']:.1f} px"
            for k, v in item["strengths"].items()))
    sheet(s, "edit", videos, labels)
    summary = {}
    for st in EDIT_STRENGTHS:
        per = [it["strengths"][f"{st:g}"] for it in items]
        summary[f"new_colour_fraction@{st:g}"] = mean(float(p["new_colour"]) for p in per)
        summary[f"deviation_px_median@{st:g}"] = float(np.nanmedian([p["deviation_px"] for p in per])) \
            if any(np.isfinite(p["deviation_px"]) for p in per) else math.nan
    summary["max_abs_diff@0"] = max(it["strengths"]["0"]["max_abs_diff"] for it in items)
    return {"summary": summary, "items": items}


def eval_stills(pipe: KinemaPipeline, s: Settings) -> dict:
    """One frame per prompt, scored as a 5-frame static clip (evaluate_video needs 5 frames;
    motion fails equally for every object, so colour and shape are scored as usual)."""
    items, stills = [], []
    for i in range(s.num):
        prompt = sample_prompt("id", i)
        video = pipe(prompt, num_frames=1, **s.gen(i))
        adh = adherence(np.repeat(video.frames, 5, axis=0), video.fps, prompt)
        items.append({"prompt": prompt, "frames": video.num_frames, "colour": adh.get("colour"),
                      "shape": adh.get("shape"), "count": adh.get("count")})
        stills.append(video.frames[0])
        log("stills", i, s.num, f"colour {fmt(adh.get('colour'))}, shape {fmt(adh.get('shape'))}: {prompt}")
    sheet(s, "stills", [np.stack(stills)], [f"{len(stills)} stills"])
    summary = {k: mean(it[k] for it in items) for k in ("colour", "shape", "count")}
    summary["one_frame_each"] = all(it["frames"] == 1 for it in items)
    return {"summary": summary, "items": items}


def eval_sizes(pipe: KinemaPipeline, s: Settings) -> dict:
    """One clip per (size bucket, fps): size and rate carried, colour and shape right."""
    combos = [(b, fps) for b in pipe.config.buckets for fps in SIZE_FPS]
    items, videos = [], []
    for j, ((w, h), fps) in enumerate(combos):
        prompt = sample_prompt("id", j % s.num)
        video = pipe(prompt, width=w, height=h, fps=fps, **s.gen(j))
        adh = adherence(video.frames, video.fps, prompt)
        items.append({"prompt": prompt, "size": f"{w}x{h}", "fps": fps,
                      "size_out": f"{video.width}x{video.height}", "fps_out": video.fps, "frames": video.num_frames,
                      "carried": (video.width, video.height, video.fps) == (w, h, fps),
                      "colour": adh.get("colour"), "shape": adh.get("shape")})
        videos.append(video.frames)
        log("sizes", j, len(combos), f"{w}x{h} @ {fps} fps -> {items[-1]['size_out']} @ {video.fps:g} fps, "
                                     f"colour {fmt(adh.get('colour'))}, shape {fmt(adh.get('shape'))}")
    sheet(s, "sizes", videos[:: len(SIZE_FPS)], [f"{it['size']} @ {it['fps']} fps" for it in items[:: len(SIZE_FPS)]])
    summary = {"all_carried": all(it["carried"] for it in items),
               "colour": mean(it["colour"] for it in items), "shape": mean(it["shape"] for it in items),
               "buckets": " ".join(f"{w}x{h}" for w, h in pipe.config.buckets),
               "world_buckets": " ".join(f"{w}x{h}" for w, h in WORLD_BUCKETS)}
    return {"summary": summary, "items": items}


def window_scores(frames: np.ndarray, fps: float, prompt: str) -> list[dict]:
    """Adherence of each WINDOW_SECONDS slice (frames shared at the slice ends)."""
    w = int(round(WINDOW_SECONDS * fps))
    n = max(1, (len(frames) - 1) // w)
    out = []
    for k in range(n):
        adh = adherence(frames[k * w: k * w + w + 1], fps, prompt)
        out.append({"start_s": k * w / fps, "colour": adh.get("colour"), "shape": adh.get("shape"),
                    "count": adh.get("count"), "overall": adh["overall"]})
    return out


def consistent_fraction(frames: np.ndarray, fps: float) -> float:
    """Fraction of frames whose object count and colour set equal the first window's."""
    first = real_tracks(parse_video(frames[: int(round(WINDOW_SECONDS * fps)) + 1]))
    want = (len(first), set(first.colours))
    dets = detect_clip(frames)
    return float(np.mean([(len(d), {o.colour for o in d}) == want for d in dets]))


def long_scenes(pipe: KinemaPipeline, num: int, seconds: float) -> tuple[list[tuple[int, float]], int]:
    """The first `num` world scenes from LONG_SEED_OFFSET on whose own `seconds`-long video keeps
    its first window's objects in at least LONG_WORLD_KEPT of its frames, as (seed, that
    fraction), and how many were tried.

    On other scenes balls roll out of view or objects overlap for good, so the world itself
    fails the consistency figure (67.6% on id prompts 0-2); on these the target is reachable.
    """
    found, seed = [], LONG_SEED_OFFSET
    while len(found) < num:
        if seed - LONG_SEED_OFFSET >= 100 * num:
            raise RuntimeError(f"only {len(found)} of {seed - LONG_SEED_OFFSET} world scenes keep their objects in "
                               f"view for {seconds:g} s; ask for fewer --long-num or shorter --long-seconds")
        kept = consistent_fraction(world_clip(pipe, seed, seconds=seconds).frames, pipe.config.fps)
        if kept >= LONG_WORLD_KEPT:
            found.append((seed, kept))
        seed += 1
    return found, seed - LONG_SEED_OFFSET


def eval_long(pipe: KinemaPipeline, s: Settings) -> dict:
    """--long-seconds of video on scenes that stay in view: attributes per 2-s window, drift of
    the object set, cost."""
    scenes, tried = long_scenes(pipe, s.long_num, s.long_seconds)
    log("long", 0, s.long_num, f"{len(scenes)} of {tried} world scenes keep their objects in view "
                               f"for {s.long_seconds:g} s")
    items, videos = [], []
    for i, (seed, world_kept) in enumerate(scenes):
        prompt = sample_prompt("id", seed)
        t0 = time.perf_counter()
        video = pipe(prompt, seconds=s.long_seconds, **s.gen(i))
        wall = time.perf_counter() - t0
        items.append({"prompt": prompt, "scene_seed": seed, "frames": video.num_frames, "wall_s": wall,
                      "wall_s_per_output_s": wall / s.long_seconds,
                      "windows": window_scores(video.frames, video.fps, prompt),
                      "consistent_frame_fraction": consistent_fraction(video.frames, video.fps),
                      "world_consistent_frame_fraction": world_kept})
        videos.append(video.frames)
        log("long", i, s.long_num, f"{video.num_frames} frames in {wall:.1f} s, consistent frames "
                                   f"{items[-1]['consistent_frame_fraction']:.2f}: {prompt}")
    plot_long(items, s.out / "long_video.png")
    save_contact_sheet(s.out / "sheet_long.png", videos[0], labels=[items[0]["prompt"][:70]], max_frames=16,
                       scale=max(1, 96 // videos[0].shape[1]))
    windows = [w for it in items for w in it["windows"]]
    summary = {k: mean(w[k] for w in windows) for k in ("colour", "shape", "count")}
    summary.update({"consistent_frame_fraction": mean(it["consistent_frame_fraction"] for it in items),
                    # the same figure on the world's own video of each scene (>= LONG_WORLD_KEPT by choice)
                    "world_consistent_frame_fraction": mean(it["world_consistent_frame_fraction"] for it in items),
                    "scenes_in_view": f"{len(scenes)} of {tried}",
                    "wall_s_per_output_s": mean(it["wall_s_per_output_s"] for it in items),
                    # ru_maxrss is KiB on Linux, the process's peak so far (long runs last, so: of the run)
                    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    return {"summary": summary, "items": items}


def plot_long(items: list[dict], path: Path) -> None:
    """Colour, shape and count accuracy per 2-s window (mean over the long videos)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    starts = [w["start_s"] for w in items[0]["windows"]]
    for key in ("colour", "shape", "count"):
        acc = [mean(it["windows"][k][key] for it in items if k < len(it["windows"])) for k in range(len(starts))]
        ax.plot(starts, acc, marker="o", label=key)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("window start (s)")
    ax.set_ylabel(f"accuracy per {WINDOW_SECONDS:g}-s window")
    ax.set_title(f"long video, {len(items)} prompt(s)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


# ----------------------------------------------------------------------------- report


def fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return "∞" if math.isinf(v) else f"{v:.3g}"
    return str(v)


def markdown(report: dict) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in report["settings"].items())
    md = ["# Kinema generation modes", "", f"Model: `{report['model']}`. Settings: {settings}.", "",
          "PSNR is ∞ when the frames are identical. Seam ratio: velocity change across the seam over the "
          "object's typical change (see benchmarks/eval_modes.py).", ""]
    for mode, res in report["modes"].items():
        md += [f"## {mode}", "", f"{res['seconds_taken']:.1f} s. ![{mode}](sheet_{mode}.png)", "",
               "| figure | value | target |", "|---|---|---|"]
        md += [f"| {k} | {fmt(v)} | {TARGETS.get((mode, k), '–')} |" for k, v in res["summary"].items()]
        if mode == "sizes":
            md += ["", "| size | fps | out | carried | colour | shape |", "|---|---|---|---|---|---|"]
            md += [f"| {it['size']} | {it['fps']} | {it['size_out']} @ {it['fps_out']:g} | {fmt(it['carried'])} | "
                   f"{fmt(it['colour'])} | {fmt(it['shape'])} |" for it in res["items"]]
        if mode == "long":
            md += ["", "![per-window accuracy](long_video.png)"]
        md.append("")
    return "\n".join(md)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    p.add_argument("--out", default="runs/eval-modes", help="output folder")
    p.add_argument("--num", type=int, default=8, help="prompts per mode")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--long-seconds", type=float, default=60.0, help="length of each long video")
    p.add_argument("--long-num", type=int, default=1, help="long videos (world scenes that stay in view, from seed 4,000,000)")
    p.add_argument("--seed", type=int, default=0, help="generation seed of each mode's first item; item i uses seed + i")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    add_sampler_arguments(p)  # for every call
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(args.modes) - set(MODES))
    if unknown:
        p.error(f"unknown mode(s) {', '.join(unknown)}; choose from {','.join(MODES)}")
    if args.num < 1 or args.long_num < 1 or (args.steps is not None and args.steps < 1):
        p.error("--num, --long-num and --steps must be >= 1")
    return args


def _strict_json(value):
    """Infinite PSNRs (identical frames) as the string "inf": strict JSON has no Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    return value


def main(argv=None) -> dict:
    args = parse_args(argv)
    # 1. load the model, make the output folder
    pipe = apply_sampler_arguments(KinemaPipeline.from_pretrained(args.model), args)
    s = Settings(args.num, args.steps, args.seed, args.long_seconds, args.long_num, Path(args.out))
    s.out.mkdir(parents=True, exist_ok=True)
    report = {"model": args.model or "default",
              "settings": {"num": s.num, "steps": s.steps or pipe.config.num_inference_steps, "seed": s.seed,
                           "long_seconds": s.long_seconds, "long_num": s.long_num,
                           "size": f"{pipe.config.width}x{pipe.config.height}", "fps": pipe.config.fps,
                           **pipe.config.sampler_settings},
              "modes": {}}
    # 2. every selected mode, in MODES order (long last: its peak RSS is the run's)
    runners = {"animate": eval_animate, "extend": eval_extend, "connect": eval_connect, "loop": eval_loop,
               "edit": eval_edit, "stills": eval_stills, "sizes": eval_sizes, "long": eval_long}
    for mode in [m for m in MODES if m in args.modes]:
        t0 = time.perf_counter()
        report["modes"][mode] = runners[mode](pipe, s)
        report["modes"][mode]["seconds_taken"] = time.perf_counter() - t0
    # 3. write
    (s.out / "modes.json").write_text(json.dumps(_strict_json(report), indent=1) + "\n")
    (s.out / "modes.md").write_text(markdown(report))
    print(f"wrote {s.out / 'modes.json'} and {s.out / 'modes.md'}", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
