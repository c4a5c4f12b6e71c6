"""A model's sampling settings: SampleConfig, saved with the model (model_index.json) and
overridable per call, and SAMPLER_FIELDS, the fields that choose how it samples.

The pipeline (`kinema.pipeline`, which re-exports both) reads them; the command line's sampler
flags (`kinema.cli.SAMPLER_FLAGS`) and `kinema eval`'s settings name one field each.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# the SampleConfig fields that choose how a model samples (not what it generates; expand_prompt
# rewords the prompt, in the world's words): the sampler
# flags of every generation command (kinema.cli.SAMPLER_FLAGS) and evaluate_model's settings
SAMPLER_FIELDS = ("sampler", "eta", "eta_t_min", "expert_boundary", "refine_strength", "refine_smooth",
                  "guidance_t_min", "guidance_t_max", "guidance_rule", "steady_steps", "steady_iters", "steady_lr",
                  "steady_score", "expand_prompt", "candidates", "select_step", "verifier")
# the samplers of kinema.flow, by SampleConfig.sampler (the pipeline maps each name to its function)
SAMPLER_NAMES = ("euler", "heun", "dpm++", "stochastic")
# the names of kinema.search.VERIFIERS (not imported here: this module is torch-free)
VERIFIER_NAMES = ("clip", "attributes", "denoise")


@dataclass(frozen=True)
class SampleConfig:
    """Inference defaults saved with a model (in model_index.json); every field can be overridden per call."""

    num_inference_steps: int = 20
    guidance_scale: float = 4.0
    shift: float = 1.5  # timestep shift toward noise (SD3); match the training shift
    noise_shared: float = 0.0  # the starting noise's variance common to all frames; match the training's
    # euler | heun (two passes a step) | dpm++ (second order from the last step's prediction, one
    # pass a step) | stochastic (ancestral, re-noises eta of each step)
    sampler: str = "euler"
    eta: float = 1.0  # the stochastic sampler's noise: 0 = Euler, 1 = DDPM's posterior
    eta_t_min: float = 0.0  # ... added only on steps that start above this t (deterministic below)
    # self-refinement of windows drawn from noise: the first pass's latents are low-passed along
    # time (refine_smooth passes of a [1, 2, 1] / 4 kernel over the latent frames), noised again
    # to t = refine_strength and denoised once more; 0 = one pass. See _refine.
    refine_strength: float = 0.0
    refine_smooth: int = 2
    # classifier-free guidance only on steps whose noise level t lies in [guidance_t_min,
    # guidance_t_max]; the others take the conditional velocity alone, one DiT pass (Kynkaanniemi
    # et al. 2024, "Applying guidance in a limited interval"). guidance_rule "zero_star": CFG-Zero*
    # (flow.guided_velocity).
    guidance_t_min: float = 0.0
    guidance_t_max: float = 1.0
    guidance_rule: str = "cfg"
    # variance guidance (flow.variance_guide) on the first steady_steps steps of a window drawn
    # from noise: steady_iters Adam steps of size steady_lr move the sample towards a clean
    # prediction whose frames keep their statistics (objects that do not appear or vanish); each
    # guided step costs about 1 + 3 * steady_iters DiT passes instead of 1 (a backward pass
    # costs about two); 0 = off.
    steady_steps: int = 0
    steady_iters: int = 3
    steady_lr: float = 0.007
    steady_score: str = "moments"  # moments: motion-blind (flow.moment_drift); flowmo: FlowMo's own
    # Sora-style prompt expansion (KinemaPipeline.expand) for the modes that start from text alone
    # (generate, loop): the DiT is given the detailed caption of a scene the world's simulator
    # draws for the prompt ("A scene with one object on a gray background. A small red ball falls
    # and then bounces. The camera is static."), the level of detail its training captions have.
    # Only for models trained on the world: its simulator writes the caption.
    expand_prompt: bool = False
    # search over starting noise (kinema.search.best_of): each window drawn from noise is drawn
    # `candidates` times from as many noises (the first the plain call's) and the one the
    # verifier scores highest against the prompt is kept; select_step > 0 chooses after that many
    # steps, on each candidate's decoded clean prediction, and solves only the winner on (0: after
    # every step). Costs about candidates x the steps before the choice, plus one decode per
    # candidate. verifier: one of kinema.search.VERIFIERS: "denoise" (the model itself,
    # kinema.search.DenoisingVerifier; the only one whose pick beat the plain candidate on the
    # shipped model, docs/experiments.md "The generator as its own verifier"), "clip" (the
    # evaluation's video-text model) or "attributes" (the attribute reader,
    # kinema.eval.attributes); a callable set as KinemaPipeline.verifier takes precedence.
    candidates: int = 1
    select_step: int = 0
    verifier: str = "denoise"
    # the unconditional side of guidance when a call names no negative prompt; None: the learned
    # null text. A model sets it to steer away from what its unspecific prompts average over.
    negative_prompt: str | None = None
    # with a high-noise expert (a second DiT, the model folder's part "dit_high_noise"), the steps
    # that start at a noise level t >= expert_boundary use it and the rest the main DiT, as Wan 2.2
    # splits denoising between a layout expert and a detail expert; ignored without one
    expert_boundary: float = 0.9
    fps: float = 16.0
    width: int = 128
    height: int = 128
    seconds: float = 2.0
    buckets: tuple[tuple[int, int], ...] = ((128, 128), (160, 96), (96, 160))  # (width, height)
    window_frames: int = 33  # frames one denoising window covers: the training clip length
    context_frames: int = 9  # frames a window inherits from the one before (extension, long video)
    max_seconds: float = 60.0

    def override(self, **values) -> "SampleConfig":
        """A copy with the given fields replaced; a value of None keeps this config's."""
        given = {k: v for k, v in values.items() if v is not None}
        return dataclasses.replace(self, **given) if given else self

    @property
    def sampler_settings(self) -> dict:
        """The sampler and, for the stochastic one, its noise settings; noise shared across frames
        where the model has it, and every option that is on (for reports)."""
        return {"sampler": self.sampler,
                **({"eta": self.eta, "eta_t_min": self.eta_t_min} if self.sampler == "stochastic" else {}),
                **({"noise_shared": self.noise_shared} if self.noise_shared else {}),
                **({"guidance_t_min": self.guidance_t_min} if self.guidance_t_min > 0 else {}),
                **({"guidance_t_max": self.guidance_t_max} if self.guidance_t_max < 1 else {}),
                **({"guidance_rule": self.guidance_rule} if self.guidance_rule != "cfg" else {}),
                **({"refine_strength": self.refine_strength, "refine_smooth": self.refine_smooth}
                   if self.refine_strength else {}),
                **({"steady_steps": self.steady_steps, "steady_iters": self.steady_iters,
                    "steady_lr": self.steady_lr, "steady_score": self.steady_score} if self.steady_steps else {}),
                **({"expand_prompt": True} if self.expand_prompt else {}),
                **({"candidates": self.candidates, "select_step": self.select_step, "verifier": self.verifier}
                   if self.candidates > 1 else {})}

    def __post_init__(self):
        object.__setattr__(self, "buckets", tuple(tuple(int(v) for v in b) for b in self.buckets))
        if self.sampler not in SAMPLER_NAMES:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLER_NAMES)}; got {self.sampler!r}")
        if self.guidance_rule not in ("cfg", "zero_star"):
            raise ValueError(f"guidance_rule must be 'cfg' or 'zero_star', got {self.guidance_rule!r}")
        if self.steady_steps < 0 or self.steady_iters < 1 or self.steady_lr <= 0:
            raise ValueError(f"steady_steps must be >= 0 (0: off), steady_iters >= 1 and steady_lr > 0; got "
                             f"{self.steady_steps}, {self.steady_iters}, {self.steady_lr}")
        if self.steady_score not in ("moments", "flowmo"):
            raise ValueError(f"steady_score must be 'moments' or 'flowmo', got {self.steady_score!r}")
        if not isinstance(self.expand_prompt, bool):
            raise ValueError(f"expand_prompt must be true or false, got {self.expand_prompt!r}")
        if self.candidates < 1 or self.select_step < 0:
            raise ValueError(f"candidates must be >= 1 (1: no search) and select_step >= 0 (0: choose after the "
                             f"last step); got {self.candidates}, {self.select_step}")
        if self.verifier not in VERIFIER_NAMES:
            raise ValueError(f"verifier must be one of {', '.join(VERIFIER_NAMES)}; got {self.verifier!r}")
        if self.refine_smooth < 0:
            raise ValueError(f"refine_smooth must be >= 0 (passes of the time filter), got {self.refine_smooth}")
        for name in ("eta", "eta_t_min", "expert_boundary", "refine_strength", "guidance_t_min", "guidance_t_max"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.guidance_t_min > self.guidance_t_max:
            raise ValueError(f"guidance_t_min ({self.guidance_t_min}) must not exceed guidance_t_max "
                             f"({self.guidance_t_max})")
        if not 0.0 <= self.noise_shared < 1.0:
            raise ValueError(f"noise_shared must be in [0, 1) (0 = iid noise per frame), got {self.noise_shared}")
        for name in ("window_frames", "context_frames"):
            n = getattr(self, name)
            if n < 1 or (n - 1) % 4:
                raise ValueError(f"{name} must be 1 + 4k frames, got {n}")
        if self.context_frames >= self.window_frames:
            raise ValueError("context_frames must be smaller than window_frames")
        if (self.width, self.height) not in self.buckets:
            raise ValueError(f"default size {self.width}x{self.height} must be one of the buckets {self.buckets}")
