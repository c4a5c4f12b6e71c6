"""The one inference path: a prompt, and optionally conditioning frames, in; a Video out.

Every mode is a choice of which latent frames are given clean (DESIGN.md, "One model,
every mode"), so every mode ends in `KinemaPipeline._sample_window`, the single place
that encodes conditioning, denoises and decodes:

    text -> video        nothing clean
    image -> video       the first latent frame (the image) clean
    extend forward       the first k latent frames (the clip's end) clean
    extend backward      the last k latent frames (the clip's start) clean
    connect              first k from clip A's end, last k from clip B's start
    loop                 a clip, then a connection from its end back to its start
    long video           repeated forward extension over a sliding window
    edit (SDEdit)        nothing clean; start from the source noised to t = strength

Frames are (T, H, W, 3) uint8 at the API's edges and (1, 3, T, H, W) in [-1, 1] inside.
A window holds 1 + 4k frames (the VAE's causal grouping); windows overlap by
`context_frames` frames, re-encoded from pixels so every window starts with an image
latent exactly as in training.
"""

from __future__ import annotations

import functools
import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kinema import flow, precision
from kinema.checkpoint import (
    config_from_dict,
    config_to_dict,
    load_part,
    load_weights,
    read_model_index,
    save_model_index,
    save_part,
    save_weights,
)
from kinema.models.dit import DiT, DiTConfig
from kinema.models.text import NullText, TextEncoder, TextEncoderConfig, default_disk_cache, stack_texts
from kinema.models.vae import (
    VAEConfig,
    VideoVAE,
    from_uint8_frames,
    latents_from_dit,
    latents_to_dit,
    to_uint8_frames,
)
from kinema.sampling import SampleConfig
from kinema.search import VERIFIERS, Verifier, best_of
from kinema.video import Video, fit_frames

DEFAULT_MODEL_DIR = Path(__file__).parent / "assets" / "default"
MAX_PROMPT_CHARS = 2000
# prompt expansion draws its scene at seed + this, so an expanded caption never describes the
# scene `kinema eval` renders as the reference of the same prompt and seed (its ceiling row)
EXPAND_SEED_OFFSET = 1_000_003

# callback(step, total_steps): called after every denoising step of every window.
ProgressFn = Callable[[int, int], None]

def _snap_frames(n: int) -> int:
    """The nearest frame count of the form 1 + 4k that is >= n."""
    return 1 + 4 * max(0, math.ceil((n - 1) / 4))


@dataclass
class _Request:
    """A checked call: everything the windows need, shared by every mode."""

    text: torch.Tensor  # (1, L, D) prompt token states
    text_mask: torch.Tensor  # (1, L) bool
    uncond: torch.Tensor | None  # (1, L', D) the negative prompt; None: the learned null text
    uncond_mask: torch.Tensor | None  # (1, L') bool
    fps: float
    width: int
    height: int
    steps: int
    guidance: float
    generator: torch.Generator
    callback: ProgressFn | None
    prompt: str = ""  # as typed (before any expansion): what a verifier judges
    total_steps: int = 0
    done_steps: int = 0
    preview: torch.Tensor | None = None  # the clean prediction of the last step taken


class KinemaPipeline:
    """Text (and image/video) to video with a VAE, a text encoder and a DiT.

    >>> pipe = KinemaPipeline.from_pretrained()
    >>> video = pipe("a red ball bounces", seconds=2, seed=0)
    >>> video.save("ball.mp4")
    """

    def __init__(
        self,
        vae: VideoVAE,
        dit: DiT,
        text_encoder: TextEncoder,
        null_text: NullText,
        config: SampleConfig = SampleConfig(),
        *,
        high_noise_dit: DiT | None = None,
        high_noise_null_text: NullText | None = None,
    ):
        """high_noise_dit: an optional second DiT over the same latents and text, for the steps at
        noise levels >= config.expert_boundary (with its own learned null text, or dit's)."""
        for name, model in (("DiT", dit), ("high-noise DiT", high_noise_dit)):
            if model is None:
                continue
            if model.cfg.in_channels != vae.cfg.latent_channels:
                raise ValueError(
                    f"{name} expects {model.cfg.in_channels} latent channels but the VAE makes "
                    f"{vae.cfg.latent_channels}; pair the DiT with the VAE it was trained on"
                )
            if model.cfg.text_dim != text_encoder.dim:
                raise ValueError(
                    f"{name} expects text states of width {model.cfg.text_dim} but the text encoder gives "
                    f"{text_encoder.dim}"
                )
        if high_noise_null_text is not None and high_noise_dit is None:
            raise ValueError("high_noise_null_text without high_noise_dit; give both or neither")
        self.vae, self.dit, self.text_encoder, self.null_text = vae.eval(), dit.eval(), text_encoder, null_text.eval()
        self.high_noise_dit = None if high_noise_dit is None else high_noise_dit.eval()
        self.high_noise_null_text = self.null_text if high_noise_null_text is None else high_noise_null_text.eval()
        self.config = config
        # judges the candidates of a search over noise (config.candidates > 1); any
        # (clips, prompt) -> scores callable (kinema.search.Verifier); None: config.verifier's
        self.verifier: Verifier | None = None
        self._verifiers: dict[str, Verifier] = {}  # the named ones, loaded on first use

    # ------------------------------------------------------------------ loading and saving

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> "KinemaPipeline":
        """Load a model folder written by save_pretrained; None loads the shipped default model.

        Prompt encodings are kept on disk (`kinema.models.text.default_disk_cache()`, set by
        KINEMA_CACHE_DIR): the text encoder loads only for a prompt not encoded before."""
        folder = Path(path) if path is not None else DEFAULT_MODEL_DIR
        if not folder.is_dir():
            if path is None:
                raise FileNotFoundError(
                    f"the default model is missing at {folder}; reinstall Kinema from a full checkout "
                    "or pass a model folder (--model DIR)"
                )
            raise FileNotFoundError(f"model folder {folder} does not exist; pass a folder written by save_pretrained")
        parts = read_model_index(folder)
        for name in ("vae", "dit", "null_text", "text_encoder", "sample"):
            if name not in parts:
                raise ValueError(f"{folder}/model_index.json lists no '{name}' part; re-export the model")
        vae = load_part(folder / parts["vae"]["path"], VideoVAE, VAEConfig)
        dit = load_part(folder / parts["dit"]["path"], DiT, DiTConfig)
        null_spec = parts["null_text"]
        null_text = _load_null_text(folder, null_spec)
        text_cfg = config_from_dict(parts["text_encoder"]["config"], TextEncoderConfig, source="model_index.json")
        sample_cfg = config_from_dict(parts["sample"]["config"], SampleConfig, source="model_index.json")
        high_dit = high_null = None
        if "dit_high_noise" in parts:  # optional: a high-noise expert
            high_dit = load_part(folder / parts["dit_high_noise"]["path"], DiT, DiTConfig).float()
            high_null = _load_null_text(folder, parts.get("null_text_high_noise", null_spec))
        text_encoder = TextEncoder(text_cfg, disk_cache=default_disk_cache())
        return cls(vae.float(), dit.float(), text_encoder, null_text, sample_cfg,
                   high_noise_dit=high_dit, high_noise_null_text=high_null)

    def save_pretrained(self, path: str | Path, *, dtype: torch.dtype | None = None) -> Path:
        """Write config.json + model.safetensors per part and model_index.json (dtype: e.g. torch.bfloat16)."""
        folder = Path(path)
        save_part(folder / "vae", self.vae, self.vae.cfg, dtype=dtype)
        save_part(folder / "dit", self.dit, self.dit.cfg, dtype=dtype)
        save_weights(folder / "null_text.safetensors", self.null_text.state_dict(), dtype=dtype)
        parts = {
            "vae": {"path": "vae", "class": "VideoVAE"},
            "dit": {"path": "dit", "class": "DiT"},
            "null_text": _null_text_spec(self.null_text, "null_text.safetensors"),
            "text_encoder": {"config": config_to_dict(self.text_encoder.cfg)},
            "sample": {"config": config_to_dict(self.config)},
        }
        if self.high_noise_dit is not None:
            save_part(folder / "dit_high_noise", self.high_noise_dit, self.high_noise_dit.cfg, dtype=dtype)
            save_weights(folder / "null_text_high_noise.safetensors", self.high_noise_null_text.state_dict(),
                         dtype=dtype)
            parts["dit_high_noise"] = {"path": "dit_high_noise", "class": "DiT"}
            parts["null_text_high_noise"] = _null_text_spec(self.high_noise_null_text,
                                                            "null_text_high_noise.safetensors")
        save_model_index(folder, parts)
        return folder

    # ------------------------------------------------------------------ text to video

    @torch.no_grad()
    def __call__(
        self,
        prompt: str,
        *,
        negative_prompt: str | None = None,
        seconds: float | None = None,
        num_frames: int | None = None,
        fps: float | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        callback: ProgressFn | None = None,
    ) -> Video:
        """Generate a video (num_frames=1 or seconds=0 with num_frames: a still image).

        Clips longer than one window are generated by sliding-window forward extension,
        so memory stays bounded by the window whatever the length.
        """
        # 1. check inputs and encode the prompt
        req = self._request(prompt, negative_prompt, fps, height, width, num_inference_steps,
                            guidance_scale, seed, generator, callback, expand=self.config.expand_prompt)
        n = self._num_frames(seconds, num_frames, req.fps)
        # 2. plan the windows: the first is text-to-video, the rest extend it
        cfg = self.config
        first = min(n, cfg.window_frames)
        new_per_window = cfg.window_frames - cfg.context_frames
        extra = max(0, _snap_frames(n) - first)
        req.total_steps = (self._window_steps(req, _snap_frames(first))
                           + self._window_steps(req) * math.ceil(extra / new_per_window))
        # 3-6. timesteps, noise, denoise, decode: one window at a time
        frames = self._sample_window(req, _snap_frames(first))[:first]
        if n > first:
            frames = self._extend_frames(req, frames, n - first)
        return Video(frames[:n], req.fps)

    # ------------------------------------------------------------------ the other modes

    @torch.no_grad()
    def animate(self, image: np.ndarray, prompt: str, *, seconds: float | None = None, **kwargs) -> Video:
        """Image to video: the image (H, W, 3) uint8 is the first frame (resized to the output size)."""
        req = self._request(prompt, **self._common(kwargs))
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.dtype} {image.shape}")
        n = self._num_frames(seconds, kwargs.get("num_frames"), req.fps)
        head = fit_frames(image[None], req.width, req.height)  # (1, H, W, 3)
        first = min(_snap_frames(n), self.config.window_frames)
        req.total_steps = self._window_steps(req, first) + self._window_steps(req) * math.ceil(
            max(0, n - first) / (self.config.window_frames - self.config.context_frames))
        window = self._sample_window(req, first, head=head)
        frames = np.concatenate([head, window[1:]])
        if n > len(frames):
            frames = self._extend_frames(req, frames, n - len(frames))
        return Video(frames[:n], req.fps)

    @torch.no_grad()
    def extend(self, video: Video, prompt: str, *, seconds: float, backward: bool = False, **kwargs) -> Video:
        """Continue a clip forward (or, backward=True, invent what came before it) by `seconds`.

        The given frames are kept exactly as decoded from the input, not regenerated.
        """
        kwargs.setdefault("fps", video.fps)
        kwargs.setdefault("width", video.width)
        kwargs.setdefault("height", video.height)
        req = self._request(prompt, **self._common(kwargs))
        frames = self._fit_video(video, req, "extend")
        if len(frames) < 5:
            raise ValueError(f"the clip has {len(frames)} frames; extending needs at least 5")
        if not 0 < seconds <= self.config.max_seconds:
            raise ValueError(f"seconds must be in (0, {self.config.max_seconds:g}], got {seconds}")
        n_new = max(1, int(round(seconds * req.fps)))
        per = self.config.window_frames - self.config.context_frames
        req.total_steps = self._window_steps(req) * math.ceil(n_new / per)
        if not backward:
            return Video(self._extend_frames(req, frames, n_new), req.fps)
        out = frames
        while len(out) - len(frames) < n_new:
            ctx = self._context_len(len(out))
            tail = out[:ctx]
            window = self._sample_window(req, self.config.window_frames, tail=tail)
            out = np.concatenate([window[: len(window) - ctx], out])
        return Video(out[len(out) - len(frames) - n_new:], req.fps)

    @torch.no_grad()
    def connect(self, video_a: Video, video_b: Video, prompt: str, *, seconds: float = 1.0, **kwargs) -> Video:
        """A transition of about `seconds` from the end of clip A to the start of clip B: A + new + B."""
        if (video_a.width, video_a.height) != (video_b.width, video_b.height):
            raise ValueError(
                f"clips A ({video_a.width}x{video_a.height}) and B ({video_b.width}x{video_b.height}) differ in size; "
                "resize one to match the other"
            )
        kwargs.setdefault("fps", video_a.fps)
        kwargs.setdefault("width", video_a.width)
        kwargs.setdefault("height", video_a.height)
        req = self._request(prompt, **self._common(kwargs))
        a, b = self._fit_video(video_a, req, "connect"), self._fit_video(video_b, req, "connect")
        if len(a) < 5 or len(b) < 4:
            raise ValueError(f"clips of {len(a)} and {len(b)} frames are too short to connect; give at least 5 and 4")
        req.total_steps = self._window_steps(req)
        middle = self._transition(req, a, b, seconds)
        return Video(np.concatenate([a, middle, b]), req.fps)

    @torch.no_grad()
    def loop(self, prompt: str, *, seconds: float | None = None, transition_seconds: float = 0.75, **kwargs) -> Video:
        """A seamless loop: a clip, then a generated transition from its end back to its start."""
        req = self._request(prompt, **self._common(kwargs), expand=self.config.expand_prompt)
        n = self._num_frames(seconds, kwargs.get("num_frames"), req.fps)
        n_body = max(9, n - int(round(transition_seconds * req.fps)))
        if n_body > self.config.window_frames:
            raise ValueError(f"loops are at most {self.config.window_frames + transition_seconds * req.fps:.0f} frames; ask for fewer seconds")
        req.total_steps = 2 * self._window_steps(req)
        body = self._sample_window(req, _snap_frames(n_body))[:n_body]
        middle = self._transition(req, body, body, max(n - n_body, 4) / req.fps)
        return Video(np.concatenate([body, middle]), req.fps)

    @torch.no_grad()
    def edit(self, video: Video, prompt: str, *, strength: float = 0.6, **kwargs) -> Video:
        """SDEdit (Meng et al. 2022): noise the clip to t = strength, denoise toward the prompt.

        strength 0 returns the input; 1 ignores it. Long clips are edited window by window,
        each later window conditioned on the end of the edited one before it.
        """
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        kwargs.setdefault("fps", video.fps)
        kwargs.setdefault("width", video.width)
        kwargs.setdefault("height", video.height)
        req = self._request(prompt, **self._common(kwargs))
        frames = self._fit_video(video, req, "edit")
        if strength == 0.0:
            return Video(frames.copy(), req.fps)
        steps = max(1, int(round(req.steps * strength)))
        req.steps = steps
        cfg = self.config
        spans = [(0, min(len(frames), cfg.window_frames))]
        while spans[-1][1] < len(frames):
            s = spans[-1][1] - cfg.context_frames
            spans.append((s, min(len(frames), s + cfg.window_frames)))
        req.total_steps = steps * len(spans)
        out: list[np.ndarray] = []
        for i, (s, e) in enumerate(spans):
            src = frames[s:e]
            n = _snap_frames(len(src))
            src = np.concatenate([src, np.repeat(src[-1:], n - len(src), axis=0)])  # pad to 1 + 4k
            head = None if i == 0 else np.concatenate(out)[-cfg.context_frames:]
            window = self._sample_window(req, n, head=head, source=src, strength=strength)[: e - s]
            out.append(window if i == 0 else window[cfg.context_frames:])
        return Video(np.concatenate(out), req.fps)

    # ------------------------------------------------------------------ shared machinery

    def _extend_frames(self, req: _Request, frames: np.ndarray, n_new: int) -> np.ndarray:
        """Append n_new frames by sliding windows, each conditioned on the last context frames."""
        target = len(frames) + n_new
        out = np.empty((target, *frames.shape[1:]), np.uint8)  # filled in place: no final copy of a long video
        out[: len(frames)] = frames
        filled, tail = len(frames), frames
        while filled < target:
            ctx = self._context_len(len(tail))
            head = tail[-ctx:]
            window = self._sample_window(req, self.config.window_frames, head=head)
            new = window[ctx:][: target - filled]
            out[filled : filled + len(new)] = new
            filled += len(new)
            tail = np.concatenate([head, new])
        return out

    def _transition(self, req: _Request, a: np.ndarray, b: np.ndarray, seconds: float) -> np.ndarray:
        """Frames between a's end and b's start, about `seconds` long (a multiple of 4 frames)."""
        head = a[-self._context_len(len(a)):]
        n_tail = min(4 * ((self.config.context_frames - 1) // 4), 4 * (len(b) // 4))
        tail = b[:n_tail]
        gap = 4 * max(1, int(round(seconds * req.fps / 4)))
        window = self._sample_window(req, len(head) + gap + len(tail), head=head, tail=tail)
        return window[len(head): len(head) + gap]

    def _context_len(self, available: int) -> int:
        """Frames of context to condition on: context_frames, or the most (1 + 4k) available."""
        return min(self.config.context_frames, 1 + 4 * ((available - 1) // 4))

    def _sample_window(
        self,
        req: _Request,
        num_frames: int,
        *,
        head: np.ndarray | None = None,
        tail: np.ndarray | None = None,
        source: np.ndarray | None = None,
        strength: float = 1.0,
    ) -> np.ndarray:
        """The one denoising core. Returns num_frames (1 + 4k) frames (T, H, W, 3) uint8.

        head: 1 + 4j frames given as the window's start; tail: 4m frames given as its end;
        source: num_frames frames to edit from t = strength. Given frames are encoded by the
        VAE and their latent frames held clean (t = 0) while the rest are denoised.
        """
        vae_cfg, cfg = self.vae.cfg, self.config
        C, s = vae_cfg.latent_channels, vae_cfg.spatial_factor
        t_lat = 1 + (num_frames - 1) // 4
        shape = (1, C, t_lat, req.height // s, req.width // s)
        # 3. conditioning latents: encode a full window with the given frames in place
        clean, clean_mask, x0 = None, None, None
        if head is not None or tail is not None or source is not None:
            pixels = np.full((num_frames, req.height, req.width, 3), 127, np.uint8) if source is None else source.copy()
            k_head = k_tail = 0
            if tail is not None and len(tail):
                # The encoder is causal: the tail's latents depend on the frames before it. Gray
                # there encodes objects that appear from nothing (a clip unlike any trained on);
                # holding the tail's first frame still is the nearest guess to its real past.
                if source is None:
                    pixels[: num_frames - len(tail)] = tail[0]
                pixels[num_frames - len(tail):] = tail
                k_tail = len(tail) // 4
            if head is not None:
                pixels[: len(head)] = head
                k_head = 1 + (len(head) - 1) // 4
            with self._autocast():
                mean, _ = self.vae.encode(from_uint8_frames(pixels))
            z = latents_to_dit(mean.float(), vae_cfg)  # (1, C, t, h, w)
            if source is not None:
                x0 = z
            if k_head or k_tail:
                clean = z
                clean_mask = flow.condition_mask(t_lat, first=k_head, last=k_tail)[None]  # (1, t)
        # 4. timesteps and starting noise (SDEdit starts from the noised source)
        ts = flow.timesteps(req.steps, shift=cfg.shift, start=strength if x0 is not None else 1.0)
        noise = flow.frame_noise(shape, req.generator, shared=cfg.noise_shared)
        x = flow.interpolate(x0, noise, torch.full(shape[:1] + shape[2:3], float(ts[0]))) if x0 is not None else noise
        # 5. denoise with classifier-free guidance
        sampler = {"euler": flow.sample_euler, "heun": flow.sample_heun, "dpm++": flow.sample_dpm2m,
                   "stochastic": functools.partial(flow.sample_stochastic, eta=cfg.eta, t_min=cfg.eta_t_min,
                                                   generator=req.generator, noise_shared=cfg.noise_shared)}[cfg.sampler]
        velocity = self._velocity(req)
        solve = functools.partial(sampler, velocity, clean=clean, clean_mask=clean_mask,
                                  callback=self._step_callback(req))
        # variance guidance steadies the first steps of a window drawn from noise (not an edit's)
        guide = (flow.variance_guide(velocity, steps=cfg.steady_steps, iters=cfg.steady_iters, lr=cfg.steady_lr,
                                     score=flow.STEADY_SCORES[cfg.steady_score])
                 if cfg.steady_steps and x0 is None else None)
        if x0 is None and cfg.candidates > 1:
            lat = self._search(req, solve, guide, noise, shape, ts)
        else:
            lat = solve(x, ts, guide=guide)
        refine_steps = self._refine_steps(req, num_frames) if x0 is None else 0
        if refine_steps:
            lat = self._refine(req, solve, lat, refine_steps)
        # 6. decode
        return self._decode(lat)

    def _decode(self, lat: torch.Tensor) -> np.ndarray:
        """DiT latents (1, C, t, h, w) -> frames (T, H, W, 3) uint8."""
        with self._autocast():
            video = self.vae.decode(latents_from_dit(lat, self.vae.cfg), chunk_frames=4)
        return to_uint8_frames(video)[0]

    def _search(self, req: _Request, solve: Callable, guide, noise: torch.Tensor, shape: tuple,
                ts: torch.Tensor) -> torch.Tensor:
        """Best of config.candidates windows (kinema.search.best_of), the first from `noise`."""
        cfg = self.config
        draws = iter([noise])

        def draw() -> torch.Tensor:
            given = next(draws, None)
            return given if given is not None else flow.frame_noise(shape, req.generator, shared=cfg.noise_shared)

        def solve_part(x, ts_part, first):
            shifted = None if guide is None else (lambda i, x, tf: guide(i + first, x, tf))
            return solve(x, ts_part, guide=shifted), req.preview

        verify = self.verifier
        if verify is None:
            if cfg.verifier not in self._verifiers:
                self._verifiers[cfg.verifier] = VERIFIERS[cfg.verifier](pipe=self)
            verify = self._verifiers[cfg.verifier]

        def judge(previews):
            return verify([self._decode(p) for p in previews], req.prompt)

        lat, _ = best_of(cfg.candidates, draw, solve_part, ts, cfg.select_step or req.steps, judge)
        return lat

    def _refine(self, req: _Request, solve: Callable, lat: torch.Tensor, steps: int) -> torch.Tensor:
        """Self-refinement: the first pass's latents, low-passed along time, noised again to t =
        refine_strength and denoised once more (SDEdit of the model's own draft, Meng et al. 2022).

        The shipped model's flicker is born at the top of the noise range, where each frame's own noise
        becomes its own objects, yet from a tenth of a steady clip at t = 0.9 it keeps the clip
        steady (docs/experiments.md, "Where the flicker begins"). The time filter fades what the draft shows
        in one latent frame only and keeps what stays, so the second pass starts from a steadier
        layout than noise gives it. With refine_smooth = 0 it is one restart of Restart sampling
        (Xu et al. 2023: noise added back to a higher t, the ODE solved again, which contracts the
        errors the first solve accumulated); FreeInit (Wu et al. 2023) re-samples from a draft's
        low frequencies in the same spirit. solve(x, ts): the window's sampler with its guidance and
        given (clean) frames, which it re-imposes, so they stay clean.
        Off by default: on the shipped model it steadies clips (a quarter fewer vanishing objects)
        and ties on `id` adherence, but loses object count on held-out combinations, and without
        the filter shape on `id` (docs/experiments.md, "Self-refinement").
        """
        cfg = self.config
        draft = flow.smooth_frames(lat, cfg.refine_smooth)
        ts = flow.timesteps(steps, shift=cfg.shift, start=cfg.refine_strength)
        noise = flow.frame_noise(lat.shape, req.generator, shared=cfg.noise_shared)
        x = flow.interpolate(draft, noise, torch.full(lat.shape[:1] + lat.shape[2:3], float(ts[0])))
        return solve(x, ts)

    def _refine_steps(self, req: _Request, num_frames: int) -> int:
        """Steps of the refinement pass of a window of num_frames drawn from noise (0: none; a
        still has no time to filter)."""
        strength = self.config.refine_strength
        return max(1, round(req.steps * strength)) if strength > 0 and num_frames > 1 else 0

    def _window_steps(self, req: _Request, num_frames: int | None = None) -> int:
        """Denoising steps of a window drawn from noise (for the progress total)."""
        cfg = self.config
        n = cfg.window_frames if num_frames is None else num_frames
        search = (cfg.candidates - 1) * (cfg.select_step or req.steps)
        return req.steps + search + self._refine_steps(req, n)

    def _velocity(self, req: _Request) -> flow.VelocityFn:
        """v(x, t) with classifier-free guidance, both branches in one batch. With a high-noise
        expert, a step whose noise level (the highest over frames: given frames sit at 0) is at
        least expert_boundary goes to it, every other step to the main DiT."""
        fps = torch.full((2,), req.fps)
        main = (self.dit, *self._guidance_text(req, self.null_text))
        high = main
        if self.high_noise_dit is not None:
            high = (self.high_noise_dit, *self._guidance_text(req, self.high_noise_null_text))

        cfg = self.config

        def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            level = float(t.max())  # the step's noise level (given frames sit at 0)
            dit, text, mask = high if level >= cfg.expert_boundary else main
            if req.guidance == 1.0 or not cfg.guidance_t_min <= level <= cfg.guidance_t_max:
                with self._autocast():
                    return dit(x, t, text[:1], mask[:1], fps[:1]).float()
            with self._autocast():
                v = dit(torch.cat([x, x]), torch.cat([t, t]), text, mask, fps).float()
            return flow.guided_velocity(v[:1], v[1:], req.guidance, zero_star=cfg.guidance_rule == "zero_star")

        return velocity

    @staticmethod
    def _guidance_text(req: _Request, null_text: NullText) -> tuple[torch.Tensor, torch.Tensor]:
        """The prompt and the unconditional side (the negative prompt, else null_text) as one
        padded batch: (2, L, D) states and a (2, L) mask."""
        if req.uncond is None:
            uncond, uncond_mask = null_text(1)
            uncond = uncond.detach().float()
        else:
            uncond, uncond_mask = req.uncond, req.uncond_mask
        return stack_texts((req.text, req.text_mask), (uncond, uncond_mask))

    def _step_callback(self, req: _Request):
        def cb(step, t, x, x0_pred):
            req.done_steps += 1
            req.preview = x0_pred
            if req.callback is not None:
                req.callback(req.done_steps, max(req.total_steps, req.done_steps))
        return cb

    def _autocast(self):
        return precision.autocast("cpu")

    @staticmethod
    def _common(kwargs: dict) -> dict:
        keys = ("negative_prompt", "fps", "height", "width", "num_inference_steps", "guidance_scale",
                "seed", "generator", "callback")
        unknown = set(kwargs) - set(keys) - {"num_frames"}
        if unknown:
            raise TypeError(f"unexpected arguments {sorted(unknown)}; valid: {sorted(keys)}")
        return {k: kwargs[k] for k in keys if k in kwargs}

    def _request(
        self, prompt, negative_prompt=None, fps=None, height=None, width=None, num_inference_steps=None,
        guidance_scale=None, seed=None, generator=None, callback=None, expand=False,
    ) -> _Request:
        """Check every input, then encode the prompt (expanded first if `expand`: see expand) and
        the unconditional text."""
        cfg = self.config
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("the prompt is empty; describe the video, e.g. 'a red ball bounces on the floor'")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise ValueError(f"the prompt has {len(prompt)} characters; keep it under {MAX_PROMPT_CHARS}")
        fps = float(cfg.fps if fps is None else fps)
        if not 1 <= fps <= 60:
            raise ValueError(f"fps must be in 1..60, got {fps:g}")
        width = cfg.width if width is None else int(width)
        height = cfg.height if height is None else int(height)
        if (width, height) not in cfg.buckets:
            sizes = ", ".join(f"{w}x{h}" for w, h in cfg.buckets)
            raise ValueError(f"size {width}x{height} is not supported by this model; use one of {sizes}")
        steps = cfg.num_inference_steps if num_inference_steps is None else int(num_inference_steps)
        if steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {steps}")
        if cfg.select_step > steps:
            raise ValueError(f"select_step {cfg.select_step} exceeds the {steps} denoising steps; choose the "
                             f"candidate within them (1..{steps}) or after the last (0)")
        guidance = cfg.guidance_scale if guidance_scale is None else float(guidance_scale)
        if guidance < 0:
            raise ValueError(f"guidance_scale must be >= 0, got {guidance}")
        if generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        typed = prompt
        if expand:
            prompt = self.expand(prompt, seed=seed, fps=fps, width=width, height=height)
        text, text_mask = self.text_encoder.encode([prompt])
        if negative_prompt is None:  # the model's default; "" asks for the null text
            negative_prompt = cfg.negative_prompt
        uncond = uncond_mask = None  # None: each DiT's learned null text
        if negative_prompt:
            uncond, uncond_mask = self.text_encoder.encode([negative_prompt])
            uncond = uncond.float()
        return _Request(text.float(), text_mask, uncond, uncond_mask, fps, width, height,
                        steps, guidance, generator, callback, prompt=typed)

    def expand(self, prompt: str, *, seed: int | None = None, fps: float | None = None, width: int | None = None,
               height: int | None = None) -> str:
        """Sora-style prompt expansion: the detailed caption of a scene the world's simulator draws
        for `prompt` (kinema.world.prompts.expand_prompt, at seed + EXPAND_SEED_OFFSET, a clip of
        the model's default length at fps and size), in the form of the detailed captions the
        model trained on, which name the number of objects, their sizes, each one's verbs in
        order, the background and the camera. What the prompt leaves open is drawn from the
        world's distribution. A prompt the world cannot read whole (a word outside its
        vocabulary, no object) or cannot realise is returned as given.

        The modes that start from text alone (__call__, loop) apply it when the model's
        config.expand_prompt is set; the result depends on the seed as the video does (a call
        that passes a generator and no seed expands at seed 0).
        """
        from kinema.world.prompts import expand_prompt, parse_prompt

        cfg = self.config
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # unknown words: handled below
                parsed = parse_prompt(prompt)
            if parsed.unknown_words or not parsed.objects:
                return prompt
            return expand_prompt(prompt, EXPAND_SEED_OFFSET + (0 if seed is None else int(seed)),
                                 fps=cfg.fps if fps is None else fps, seconds=cfg.seconds,
                                 width=cfg.width if width is None else width,
                                 height=cfg.height if height is None else height)
        except ValueError:
            return prompt

    def _num_frames(self, seconds: float | None, num_frames: int | None, fps: float) -> int:
        if num_frames is not None:
            if num_frames < 1 or num_frames > self.config.max_seconds * fps + 1:
                raise ValueError(f"num_frames must be in 1..{int(self.config.max_seconds * fps) + 1}, got {num_frames}")
            return int(num_frames)
        seconds = self.config.seconds if seconds is None else seconds
        if not 0 < seconds <= self.config.max_seconds:
            raise ValueError(f"seconds must be in (0, {self.config.max_seconds:g}], got {seconds}")
        return int(round(seconds * fps)) + 1

    def _fit_video(self, video: Video, req: _Request, mode: str) -> np.ndarray:
        """The clip's frames at the request's size (resized with a printed note if needed)."""
        if (video.width, video.height) != (req.width, req.height):
            print(f"note: {mode}: fitting the clip from {video.width}x{video.height} to {req.width}x{req.height}",
                  file=sys.stderr)
        return fit_frames(video.frames, req.width, req.height)


def _load_null_text(folder: Path, spec: dict) -> NullText:
    """The learned null text described by a model_index.json entry."""
    null_text = NullText(spec["dim"], spec["num_tokens"])
    path = folder / spec["path"]
    if not path.is_file():
        raise FileNotFoundError(f"missing {path}; the model folder is incomplete")
    load_weights(null_text, path)
    return null_text.float()


def _null_text_spec(null_text: NullText, path: str) -> dict:
    return {"path": path, "dim": null_text.tokens.shape[1], "num_tokens": null_text.num_tokens}
