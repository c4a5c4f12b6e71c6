"""KinemaPipeline on a tiny random model: determinism, save/load, every mode's shapes and
stitching, conditioning kept, and bad input."""

import numpy as np
import pytest
from conftest import tiny_pipeline

from kinema.models.text import TextEncoder
from kinema.pipeline import KinemaPipeline, SampleConfig
from kinema.video import Video, fit_frames, nearest_bucket

SMALL = SampleConfig(num_inference_steps=2, window_frames=9, context_frames=5,
                     buckets=((32, 32), (48, 32), (32, 48)), width=32, height=32, seconds=0.5)


@pytest.fixture(scope="module")
def text_encoder():
    return TextEncoder()


@pytest.fixture(scope="module")
def pipe(text_encoder):
    return tiny_pipeline(SMALL, text_encoder)


class CountingWindows:
    """Stands in for the denoising core: each new frame holds a running counter, so the
    stitched output reveals any dropped or repeated frame; records the clean masks asked for."""

    def __init__(self):
        self.calls = []

    def __call__(self, req, num_frames, *, head=None, tail=None, source=None, strength=1.0):
        self.calls.append((num_frames, None if head is None else len(head), None if tail is None else len(tail)))
        start = 0 if head is None else int(head[-1, 0, 0, 0]) + 1
        out = np.zeros((num_frames, req.height, req.width, 3), np.uint8)
        n_head = 0 if head is None else len(head)
        if head is not None:
            out[:n_head] = head
        out[n_head:] = (start + np.arange(num_frames - n_head))[:, None, None, None] % 256
        if tail is not None and len(tail):
            out[num_frames - len(tail):] = tail
        return out


def test_same_seed_same_video_and_save_reload(pipe, tmp_path):
    a = pipe("a red ball bounces", seconds=0.5, seed=3)
    b = pipe("a red ball bounces", seconds=0.5, seed=3)
    c = pipe("a red ball bounces", seconds=0.5, seed=4)
    assert a.frames.shape == (9, 32, 32, 3) and a.fps == 16
    assert np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.frames, c.frames)
    pipe.save_pretrained(tmp_path / "m")
    reloaded = KinemaPipeline.from_pretrained(tmp_path / "m")
    assert np.array_equal(reloaded("a red ball bounces", seconds=0.5, seed=3).frames, a.frames)


def test_the_models_default_negative_prompt_and_the_null_text(text_encoder):
    """A call without negative_prompt uses the model's (SampleConfig.negative_prompt); "" the null text."""
    import dataclasses

    import torch

    pipe = tiny_pipeline(SMALL, text_encoder)
    torch.manual_seed(1)
    for p in pipe.dit.parameters():  # past adaLN-Zero's zero gates, so the text reaches the output
        torch.nn.init.normal_(p, std=0.05)
    plain = pipe("a red ball bounces", seconds=0.5, seed=3)
    explicit = pipe("a red ball bounces", seconds=0.5, seed=3, negative_prompt="a blue box")
    assert not np.array_equal(plain.frames, explicit.frames)
    pipe.config = dataclasses.replace(pipe.config, negative_prompt="a blue box")
    assert np.array_equal(pipe("a red ball bounces", seconds=0.5, seed=3).frames, explicit.frames)
    assert np.array_equal(pipe("a red ball bounces", seconds=0.5, seed=3, negative_prompt="").frames, plain.frames)


def test_the_stochastic_sampler_is_seeded_saved_and_checked(pipe, tmp_path):
    """sampler="stochastic" draws its step noise from the call's generator: one seed, one video,
    through save/load too; eta 0 is the Euler sampler's video; eta outside [0, 1] is refused."""
    import dataclasses

    model = tiny_pipeline(dataclasses.replace(SMALL, sampler="stochastic", eta=1.0, num_inference_steps=4),
                          pipe.text_encoder)
    a = model("a red ball bounces", seconds=0.5, seed=3)
    assert np.array_equal(a.frames, model("a red ball bounces", seconds=0.5, seed=3).frames)
    model.save_pretrained(tmp_path / "m")
    assert np.array_equal(KinemaPipeline.from_pretrained(tmp_path / "m")("a red ball bounces", seconds=0.5, seed=3).frames,
                          a.frames)
    euler = dataclasses.replace(model.config, sampler="euler")
    model.config = euler
    e = model("a red ball bounces", seconds=0.5, seed=3)
    assert not np.array_equal(a.frames, e.frames)
    model.config = dataclasses.replace(euler, sampler="stochastic", eta=0.0)
    assert np.array_equal(model("a red ball bounces", seconds=0.5, seed=3).frames, e.frames)
    with pytest.raises(ValueError, match="eta"):
        dataclasses.replace(SMALL, sampler="stochastic", eta=1.5)
    with pytest.raises(ValueError, match="stochastic"):
        dataclasses.replace(SMALL, sampler="ddim")


def test_a_model_trained_on_shared_noise_starts_from_it(pipe, tmp_path, monkeypatch):
    """SampleConfig.noise_shared (from the training run's) sets the starting noise's frame
    correlation, is saved with the model and changes the video; 0 is the iid draw of before."""
    import dataclasses

    import torch

    from kinema import flow

    model = tiny_pipeline(dataclasses.replace(SMALL, noise_shared=0.8), pipe.text_encoder)
    model.save_pretrained(tmp_path / "m")
    assert KinemaPipeline.from_pretrained(tmp_path / "m").config.noise_shared == 0.8
    assert model.config.sampler_settings["noise_shared"] == 0.8 and "noise_shared" not in SMALL.sampler_settings  # reports
    starts, euler = [], flow.sample_euler
    monkeypatch.setattr(flow, "sample_euler", lambda v, x, ts, **k: starts.append(x.clone()) or euler(v, x, ts, **k))
    shared = model("a red ball bounces", seconds=2.0, seed=3)  # 33 frames: several 9-frame windows
    n = len(starts)
    model.config = dataclasses.replace(model.config, noise_shared=0.0)
    iid = model("a red ball bounces", seconds=2.0, seed=3)
    assert not np.array_equal(shared.frames, iid.frames)
    for windows, want in ((starts[:n], 0.8), (starts[n:], 0.0)):
        x = torch.cat(windows, dim=0)  # (windows, C, T, h, w): every window draws its own start
        pairs = torch.stack([x[:, :, 0].flatten(), x[:, :, -1].flatten()])  # first and last latent frame
        assert abs(torch.corrcoef(pairs)[0, 1].item() - want) < 0.1, want
    with pytest.raises(ValueError, match="noise_shared"):
        dataclasses.replace(SMALL, noise_shared=1.0)


def test_refinement_resamples_the_time_filtered_draft_and_counts_its_steps(pipe, tmp_path, monkeypatch):
    """refine_strength > 0: each window drawn from noise is sampled twice, the second time from
    its first pass low-passed along time and noised to t = refine_strength, with round(steps *
    strength) steps; stills and edits are sampled once; progress counts every step; saved with
    the model, seeded, and checked."""
    import dataclasses

    import torch

    from kinema import flow

    cfg = dataclasses.replace(SMALL, num_inference_steps=4, refine_strength=0.75, refine_smooth=2)
    model = tiny_pipeline(cfg, pipe.text_encoder)
    model.save_pretrained(tmp_path / "m")
    assert KinemaPipeline.from_pretrained(tmp_path / "m").config.refine_strength == 0.75
    assert model.config.sampler_settings["refine_strength"] == 0.75 and "refine_strength" not in SMALL.sampler_settings
    calls, euler = [], flow.sample_euler

    def recording(v, x, ts, **k):
        out = euler(v, x, ts, **k)
        calls.append((x.clone(), ts.clone(), out.clone()))
        return out

    monkeypatch.setattr(flow, "sample_euler", recording)
    draws = []
    noise = flow.frame_noise
    monkeypatch.setattr(flow, "frame_noise", lambda *a, **k: draws.append(noise(*a, **k)) or draws[-1])
    a = model("a red ball bounces", seconds=0.5, seed=3)
    assert len(calls) == 2
    (x1, ts1, lat1), (x2, ts2, _) = calls
    assert float(ts1[0]) == 1.0 and len(ts1) == 5
    assert float(ts2[0]) == 0.75 and len(ts2) == 4  # round(4 * 0.75) steps from t = 0.75
    want = flow.interpolate(flow.smooth_frames(lat1, 2), draws[1], torch.full((1, x2.shape[2]), 0.75))
    assert torch.allclose(x2, want)
    assert np.array_equal(model("a red ball bounces", seconds=0.5, seed=3).frames, a.frames)  # seeded
    model.config = dataclasses.replace(cfg, refine_strength=0.0)
    assert not np.array_equal(model("a red ball bounces", seconds=0.5, seed=3).frames, a.frames)
    model.config = cfg
    calls.clear()
    model("a red ball", num_frames=1, seed=0)  # a still: nothing to filter along time
    model.edit(a, "a blue ball bounces", strength=0.5)  # starts from the source, not from noise
    assert len(calls) == 2 and float(calls[1][1][0]) == 0.5
    for run in (lambda cb: model("a red ball bounces", seconds=1.5, seed=0, callback=cb),  # 3 windows
                lambda cb: model.animate(a.frames[0], "a red ball", seconds=1.0, callback=cb),
                lambda cb: model.extend(a, "a red ball", seconds=0.5, backward=True, callback=cb),
                lambda cb: model.connect(a, a, "a red ball", callback=cb),
                lambda cb: model.loop("a red ball", seconds=1.0, callback=cb)):
        seen = []
        run(lambda i, total: seen.append((i, total)))
        assert seen[-1][0] == seen[-1][1] == seen[0][1] == len(seen)  # the total is known from the start
    for bad in ({"refine_strength": 1.5}, {"refine_smooth": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            dataclasses.replace(SMALL, **bad)


def _with_expert(base, boundary, *, dit=None, null_text=None, seed=5):
    """base's model with a high-noise expert: dit (default: a fresh random DiT of base's shape)."""
    import copy
    import dataclasses

    import torch

    if dit is None:
        torch.manual_seed(seed)
        dit = type(base.dit)(base.dit.cfg)
        for p in dit.parameters():
            torch.nn.init.normal_(p, std=0.05)
    return KinemaPipeline(base.vae, base.dit, base.text_encoder, base.null_text,
                          dataclasses.replace(base.config, expert_boundary=boundary, num_inference_steps=4),
                          high_noise_dit=dit, high_noise_null_text=null_text or copy.deepcopy(base.null_text))


def test_a_high_noise_expert_takes_exactly_the_steps_from_its_boundary(pipe, tmp_path):
    """Steps that start at t >= expert_boundary go to the high-noise DiT (with its own null text),
    the rest to the main one; an expert equal to the main DiT changes nothing; saved and reloaded."""
    import copy

    import torch

    from kinema import flow

    seen = {"main": [], "high": []}
    model = _with_expert(pipe, 0.6)
    hooks = [m.register_forward_pre_hook(lambda mod, args, key=key: seen[key].append(round(float(args[1].max()), 4)))
             for key, m in (("main", model.dit), ("high", model.high_noise_dit))]
    try:
        a = model("a red ball bounces", seconds=0.5, seed=3)
        seen_t2v = {k: list(v) for k, v in seen.items()}
        seen["main"].clear(), seen["high"].clear()
        model.extend(a, "a red ball bounces", seconds=0.25, seed=3)  # given frames sit at t = 0
    finally:
        for h in hooks:
            h.remove()
    ts = [round(float(t), 4) for t in flow.timesteps(4, shift=model.config.shift)[:-1]]
    for got in (seen_t2v, seen):
        assert got["high"] == [t for t in ts if t >= 0.6] and got["main"] == [t for t in ts if t < 0.6]
    assert seen["high"] and seen["main"]

    # a main DiT past adaLN-Zero's zero gates (so the text reaches the output), alone and with
    # itself as the expert: the same video; with its own null text as the expert's: another
    rand = model.high_noise_dit
    alone = KinemaPipeline(pipe.vae, rand, pipe.text_encoder, pipe.null_text, model.config)
    b = alone("a red ball bounces", seconds=0.5, seed=3)
    assert not np.array_equal(a.frames, b.frames)
    twin = KinemaPipeline(pipe.vae, rand, pipe.text_encoder, pipe.null_text, model.config,
                          high_noise_dit=copy.deepcopy(rand))
    assert np.array_equal(twin("a red ball bounces", seconds=0.5, seed=3).frames, b.frames)
    other_null = copy.deepcopy(pipe.null_text)
    with torch.no_grad():
        other_null.tokens.add_(1.0)
    own = KinemaPipeline(pipe.vae, rand, pipe.text_encoder, pipe.null_text, model.config,
                         high_noise_dit=copy.deepcopy(rand), high_noise_null_text=other_null)
    assert not np.array_equal(own("a red ball bounces", seconds=0.5, seed=3).frames, b.frames)

    model.save_pretrained(tmp_path / "m")
    reloaded = KinemaPipeline.from_pretrained(tmp_path / "m")
    assert reloaded.config.expert_boundary == 0.6 and reloaded.high_noise_dit is not None
    assert np.array_equal(reloaded("a red ball bounces", seconds=0.5, seed=3).frames, a.frames)


def test_guidance_runs_only_on_the_steps_inside_its_interval(pipe, tmp_path):
    """Steps whose noise level lies in [guidance_t_min, guidance_t_max] run the DiT on the prompt and
    the null text together (batch 2), the others on the prompt alone (batch 1); given frames (t = 0)
    do not count; an interval that holds no step is guidance 1; saved and reloaded with the model."""
    import dataclasses

    from kinema import flow

    model = KinemaPipeline(pipe.vae, pipe.dit, pipe.text_encoder, pipe.null_text,
                           dataclasses.replace(pipe.config, num_inference_steps=4, guidance_scale=3.0,
                                               guidance_t_min=0.3, guidance_t_max=0.9))
    seen = []
    hook = model.dit.register_forward_pre_hook(lambda mod, args: seen.append((args[0].shape[0], round(float(args[1].max()), 4))))
    try:
        a = model("a red ball bounces", seconds=0.5, seed=3)
        seen_t2v = list(seen)
        seen.clear()
        model.extend(a, "a red ball bounces", seconds=0.25, seed=3)
    finally:
        hook.remove()
    ts = [round(float(t), 4) for t in flow.timesteps(4, shift=model.config.shift)[:-1]]
    for got in (seen_t2v, seen):
        assert got == [(2 if 0.3 <= t <= 0.9 else 1, t) for t in ts]
    assert {b for b, _ in seen_t2v} == {1, 2}

    # a DiT past adaLN-Zero's zero gates, so the text (and guidance) reaches the output
    rand = _with_expert(pipe, 1.0).high_noise_dit
    never, unguided, everywhere = (
        KinemaPipeline(pipe.vae, rand, pipe.text_encoder, pipe.null_text, dataclasses.replace(model.config, **change))
        for change in ({"guidance_t_min": 0.0, "guidance_t_max": 0.0}, {"guidance_scale": 1.0},
                       {"guidance_t_min": 0.0, "guidance_t_max": 1.0}))
    video = never("a red ball bounces", seconds=0.5, seed=3).frames
    assert np.array_equal(video, unguided("a red ball bounces", seconds=0.5, seed=3).frames)
    assert not np.array_equal(video, everywhere("a red ball bounces", seconds=0.5, seed=3).frames)

    model.save_pretrained(tmp_path / "m")
    reloaded = KinemaPipeline.from_pretrained(tmp_path / "m")
    assert (reloaded.config.guidance_t_min, reloaded.config.guidance_t_max) == (0.3, 0.9)
    assert np.array_equal(reloaded("a red ball bounces", seconds=0.5, seed=3).frames, a.frames)
    for bad, match in (({"guidance_t_min": 0.8, "guidance_t_max": 0.2}, "must not exceed"),
                       ({"guidance_t_max": 1.5}, "guidance_t_max must be in"),
                       ({"guidance_t_min": 2.0}, "guidance_t_min must be in"), ({"guidance_rule": "apg"}, "guidance_rule")):
        with pytest.raises(ValueError, match=match):
            SampleConfig(**bad)


def test_a_high_noise_expert_is_checked_and_exported_from_a_model_on_the_same_latents(pipe, tmp_path):
    import dataclasses

    from kinema.export import export_model
    from kinema.models.dit import DiT
    from kinema.models.vae import VideoVAE

    with pytest.raises(ValueError, match="expert_boundary"):
        dataclasses.replace(SMALL, expert_boundary=1.5)
    wrong = DiT(dataclasses.replace(pipe.dit.cfg, in_channels=pipe.dit.cfg.in_channels + 1))
    with pytest.raises(ValueError, match="high-noise DiT expects"):
        KinemaPipeline(pipe.vae, pipe.dit, pipe.text_encoder, pipe.null_text, SMALL, high_noise_dit=wrong)

    pipe.save_pretrained(tmp_path / "main")
    expert = _with_expert(pipe, 0.5)
    KinemaPipeline(pipe.vae, expert.high_noise_dit, pipe.text_encoder, expert.high_noise_null_text,
                   SMALL).save_pretrained(tmp_path / "expert")
    out = KinemaPipeline.from_pretrained(export_model(tmp_path / "main", tmp_path / "moe",
                                                      high_noise=tmp_path / "expert", sample={"expert_boundary": 0.5}))
    assert out.config.expert_boundary == 0.5
    for k, v in expert.high_noise_dit.state_dict().items():
        assert torch_equal_bf16(v, out.high_noise_dit.state_dict()[k]), k
    for k, v in pipe.dit.state_dict().items():
        assert torch_equal_bf16(v, out.dit.state_dict()[k]), k
    # an expert trained on another VAE's latents is refused
    KinemaPipeline(VideoVAE(pipe.vae.cfg), expert.high_noise_dit, pipe.text_encoder, pipe.null_text,
                   SMALL).save_pretrained(tmp_path / "foreign")
    with pytest.raises(ValueError, match="same latent cache"):
        export_model(tmp_path / "main", tmp_path / "bad", high_noise=tmp_path / "foreign")
    assert not (tmp_path / "bad").exists()


def torch_equal_bf16(a, b) -> bool:
    import torch

    return torch.equal(a.bfloat16(), b.bfloat16())


def test_fps_size_and_still(pipe):
    v = pipe("a blue box", seconds=0.5, fps=8, width=48, height=32)
    assert v.frames.shape == (5, 32, 48, 3) and v.fps == 8
    still = pipe("a blue box", num_frames=1)
    assert still.frames.shape == (1, 32, 32, 3)


def test_long_video_stitches_windows_without_gaps(pipe, monkeypatch):
    fake = CountingWindows()
    monkeypatch.setattr(pipe, "_sample_window", fake)
    v = pipe("a ball", seconds=2.0)  # 33 frames from windows of 9 with 5 of context
    assert v.num_frames == 33
    assert np.array_equal(v.frames[:, 0, 0, 0], np.arange(33))
    assert all(n == 9 for n, _, _ in fake.calls)
    assert [h for _, h, _ in fake.calls[1:]] == [5] * (len(fake.calls) - 1)


def test_extend_forward_and_backward_keep_the_input(pipe):
    clip = pipe("a red ball falls", seconds=0.5, seed=1)
    fwd = pipe.extend(clip, "a red ball falls", seconds=1.0)
    assert fwd.num_frames == clip.num_frames + 16
    assert np.array_equal(fwd.frames[: clip.num_frames], clip.frames)
    back = pipe.extend(clip, "a red ball falls", seconds=0.5, backward=True)
    assert back.num_frames == clip.num_frames + 8
    assert np.array_equal(back.frames[-clip.num_frames:], clip.frames)


def test_extend_backward_stitches_without_gaps(pipe, monkeypatch):
    clip = Video(np.full((9, 32, 32, 3), 200, np.uint8), 16)
    fake = CountingWindows()
    monkeypatch.setattr(pipe, "_sample_window", fake)
    out = pipe.extend(clip, "a ball", seconds=1.0, backward=True)
    assert out.num_frames == 9 + 16
    assert np.array_equal(out.frames[-9:], clip.frames)
    assert all(t is not None and t > 0 for _, _, t in fake.calls)


def test_a_tail_is_encoded_after_its_first_frame_held_still(pipe, monkeypatch):
    # the causal VAE's latents of given end frames depend on what precedes them: the frames
    # to generate are filled with the tail's first frame (not gray) for the conditioning encode
    a = Video(np.full((9, 32, 32, 3), 30, np.uint8), 16)
    b = Video(np.stack([np.full((32, 32, 3), 100 + i, np.uint8) for i in range(8)]), 16)
    seen = []
    encode = pipe.vae.encode
    monkeypatch.setattr(pipe.vae, "encode", lambda x, **kw: (seen.append(x[0, 0, :, 0, 0].clone()), encode(x, **kw))[1])
    pipe.connect(a, b, "a ball", seconds=0.5)
    levels = np.round((seen[0].numpy() + 1) * 127.5).astype(int).tolist()  # one value per frame
    n_head, n_gap, n_tail = pipe.config.context_frames, 8, 4  # 5 of A's frames, 0.5 s, one latent frame of B
    assert levels == [30] * n_head + [100] * n_gap + [100 + i for i in range(n_tail)]


def test_animate_first_frame_is_the_image(pipe):
    image = np.zeros((40, 40, 3), np.uint8)
    image[10:30, 10:30] = (220, 40, 40)
    v = pipe.animate(image, "a red box", seconds=0.5)
    assert v.frames.shape == (9, 32, 32, 3)
    assert np.array_equal(v.frames[0], fit_frames(image[None], 32, 32)[0])


def test_connect_and_loop_shapes(pipe):
    a = pipe("a red ball", seconds=0.5, seed=1)
    b = pipe("a blue ball", seconds=0.5, seed=2)
    c = pipe.connect(a, b, "a ball", seconds=0.5)
    assert np.array_equal(c.frames[: a.num_frames], a.frames)
    assert np.array_equal(c.frames[-b.num_frames:], b.frames)
    assert c.num_frames == a.num_frames + 8 + b.num_frames
    loop = pipe.loop("a ball", seconds=1.0)
    assert loop.num_frames == 17


def test_edit_strength_zero_is_identity_and_shapes(pipe):
    clip = pipe("a red ball", seconds=0.5, seed=1)
    assert np.array_equal(pipe.edit(clip, "a blue ball", strength=0.0).frames, clip.frames)
    long = Video(np.concatenate([clip.frames, clip.frames, clip.frames[:3]]), 16)  # 21 frames
    edited = pipe.edit(long, "a blue ball", strength=0.5)
    assert edited.frames.shape == long.frames.shape
    with pytest.raises(ValueError, match="strength"):
        pipe.edit(clip, "x", strength=1.5)


@pytest.mark.parametrize("call, match", [
    (lambda p: p(""), "empty"),
    (lambda p: p("a" * 2001), "2000"),
    (lambda p: p("a ball", width=30, height=32), "32x32"),
    (lambda p: p("a ball", seconds=0), "seconds"),
    (lambda p: p("a ball", seconds=61), "seconds"),
    (lambda p: p("a ball", fps=0), "fps"),
])
def test_bad_input(pipe, call, match):
    with pytest.raises(ValueError, match=match):
        call(pipe)


def test_mode_bad_input(pipe):
    short = Video(np.zeros((3, 32, 32, 3), np.uint8), 16)
    with pytest.raises(ValueError, match="at least 5"):
        pipe.extend(short, "a ball", seconds=1.0)
    a = Video(np.zeros((9, 32, 32, 3), np.uint8), 16)
    b = Video(np.zeros((9, 48, 32, 3), np.uint8), 16)
    with pytest.raises(ValueError, match="differ in size"):
        pipe.connect(a, b, "a ball")


def test_missing_model_files(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "dit" / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        KinemaPipeline.from_pretrained(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        KinemaPipeline.from_pretrained(tmp_path / "nowhere")


def test_nearest_bucket():
    buckets = ((128, 128), (160, 96), (96, 160))
    assert nearest_bucket(1920, 1080, buckets) == (160, 96)
    assert nearest_bucket(500, 510, buckets) == (128, 128)
    assert nearest_bucket(300, 640, buckets) == (96, 160)


def test_fit_frames_crops_to_the_aspect_then_resizes():
    wide = np.zeros((1, 40, 80, 3), np.uint8)
    wide[:, :, 20:60] = 255  # the centre 40x40 square is white, the sides black
    out = fit_frames(wide, 32, 32)
    assert out.shape == (1, 32, 32, 3) and out.min() == 255  # sides cropped, not squeezed in
    tall = np.zeros((2, 90, 30, 3), np.uint8)
    assert fit_frames(tall, 48, 32).shape == (2, 32, 48, 3)
    same = np.arange(2 * 32 * 48 * 3, dtype=np.uint64).astype(np.uint8).reshape(2, 32, 48, 3)
    assert fit_frames(same, 48, 32) is same
