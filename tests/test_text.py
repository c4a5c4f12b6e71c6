"""Text encoder (offline, shapes, cache), other encoder families, NullText and drop_text."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from kinema.models.text import (
    NullText,
    TextEncoder,
    TextEncoderConfig,
    default_disk_cache,
    drop_text,
    packaged_model_path,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(TextEncoderConfig())


def test_loads_offline_without_network(tmp_path):
    code = textwrap.dedent(
        """
        from kinema.models.text import TextEncoder
        import sys
        enc = TextEncoder()
        states, mask = enc.encode(["a red ball bounces", "a box"])
        assert "transformers" not in sys.modules  # the default encoder runs in-repo
        print(tuple(states.shape), tuple(mask.shape), enc.dim)
        """
    )
    dead = "http://127.0.0.1:9"  # nothing listens there: any network attempt fails
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf_home"),  # an empty hub cache: the weights must come from the package
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
        http_proxy=dead,
        https_proxy=dead,
        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "(2, 7, 384) (2, 7) 384"  # [CLS] a red ball bounce ##s [SEP]


def test_in_repo_bert_matches_transformers(encoder):
    """The default encoder runs kinema.models.bert: the same token ids as transformers' tokenizer and
    the same states as its BertModel, for one prompt and for a padded batch."""
    from transformers import AutoModel, AutoTokenizer

    from kinema.models.bert import BertEncoder

    assert isinstance(encoder.model, BertEncoder)
    path = packaged_model_path()
    reference = AutoModel.from_pretrained(path, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    prompts = ["a red ball bounces on the floor", "", "A GREEN Triangle, falls!! café", "ball " * 200, "a box\tslides  left\n"]
    for prompt in prompts:
        expected = tokenizer([prompt], truncation=True, max_length=64, return_tensors="pt")
        assert torch.equal(encoder.tokenizer(prompt, 64), expected["input_ids"]), prompt
        with torch.no_grad():
            want = reference(**expected).last_hidden_state[0]
        torch.testing.assert_close(encoder.encode([prompt])[0][0], want, atol=1e-5, rtol=1e-5)
    batch = tokenizer(prompts[:3], padding=True, return_tensors="pt")  # padded keys must be ignored
    with torch.no_grad():
        want = reference(**batch).last_hidden_state
        got = encoder.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(got[real], want[real], atol=1e-5, rtol=1e-5)


def test_in_repo_bert_names_a_missing_weight(tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from kinema.models.bert import BertEncoder, plain_bert

    for f in packaged_model_path().iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    weights = load_file(str(tmp_path / "model.safetensors"))
    del weights["encoder.layer.3.intermediate.dense.weight"]
    save_file(weights, str(tmp_path / "model.safetensors"))
    assert plain_bert(tmp_path)
    with pytest.raises(RuntimeError, match=r"layers\.3\.ffn_in\.weight"):
        BertEncoder.from_folder(tmp_path)
    (tmp_path / "tokenizer.json").unlink()  # no tokenizer.json: transformers' path instead
    assert not plain_bert(tmp_path)


def test_shapes_mask_and_padding(encoder):
    prompts = ["a red ball bounces on the floor", "a box", ""]
    states, mask = encoder.encode(prompts)
    assert encoder.dim == 384
    assert states.dtype == torch.float32 and mask.dtype == torch.bool
    assert states.shape[0] == 3 and states.shape[2] == 384 and mask.shape == states.shape[:2]
    lengths = mask.sum(dim=1)
    assert lengths.max() == states.shape[1]  # padded to the longest in the batch
    assert lengths[0] > lengths[1] > lengths[2] == 2  # "" is [CLS] [SEP]
    assert torch.all(states[~mask] == 0)
    assert mask[:, 0].all() and not mask[2, 2:].any()
    # truncation at max_length
    long_states, long_mask = encoder.encode(["ball " * 200])
    assert long_states.shape[1] == 64 and long_mask.all()


def test_cache_hit_identical_and_prompts_differ(encoder):
    encoder.clear_cache()
    a, ma = encoder.encode(["a red ball bounces", "a blue box slides"])
    calls = []
    handle = encoder.model.register_forward_hook(lambda *args: calls.append(1))
    try:
        b, mb = encoder.encode(["a red ball bounces", "a blue box slides"])
    finally:
        handle.remove()
    assert not calls  # served from the cache
    assert torch.equal(a, b) and torch.equal(ma, mb)
    # a row does not depend on its batch mates, bit for bit (each prompt is encoded alone), so a
    # resumed run whose cache starts empty replays the uninterrupted one
    encoder.clear_cache()
    alone, _ = encoder.encode(["a red ball bounces"])
    n = alone.shape[1]
    assert torch.equal(alone[0], a[0, :n])
    encoder.clear_cache()
    mixed, _ = encoder.encode(["a blue box slides to the right across the whole floor", "a red ball bounces"])
    assert torch.equal(mixed[1, :n], alone[0])
    other, _ = encoder.encode(["a green triangle falls"])
    m = min(n, other.shape[1])
    assert (other[0, 1:m] - alone[0, 1:m]).abs().max() > 1e-2


def test_cache_is_bounded(encoder, monkeypatch):
    monkeypatch.setattr(encoder, "cfg", TextEncoderConfig(cache_size=2))  # reuse the loaded weights
    encoder.clear_cache()
    encoder.encode(["one", "two", "three"])
    encoder.encode(["one"])  # re-encoded, evicting the least recently used
    assert list(encoder._cache) == ["three", "one"]


def test_cache_hit_survives_eviction_by_its_batch_mates(encoder, monkeypatch):
    # a full cache, then a batch mixing a hit ("a") with misses: storing the misses evicts the
    # oldest entries, which must not include the hit this very batch reads (a training crash)
    monkeypatch.setattr(encoder, "cfg", TextEncoderConfig(cache_size=2))
    encoder.clear_cache()
    encoder.encode(["a", "b"])
    first, _ = encoder.encode(["a"])
    encoder.clear_cache()
    encoder.encode(["a", "b"])
    states, _ = encoder.encode(["a", "c", "d"])
    torch.testing.assert_close(states[0, : first.shape[1]], first[0])
    assert len(encoder._cache) == 2


def test_disk_cache_loads_the_encoder_only_for_a_new_prompt(encoder, tmp_path):
    prompts = ["a red ball bounces", "a box"]
    expected, expected_mask = encoder.encode(prompts)  # no disk cache: the weights load at once
    first = TextEncoder(disk_cache=tmp_path)
    assert first.model is None and first.dim == 384  # the width comes from config.json
    states, mask = first.encode(prompts)
    assert first.model is not None
    assert torch.equal(states, expected) and torch.equal(mask, expected_mask)
    files = list(tmp_path.rglob("*.safetensors"))
    assert len(files) == 2 and len({f.parent for f in files}) == 1  # one folder per encoder fingerprint

    second = TextEncoder(disk_cache=tmp_path)  # another process, in effect
    again, again_mask = second.encode(prompts[::-1])
    assert second.model is None  # both prompts came from disk: nothing loaded
    assert torch.equal(again[1, : mask[0].sum()], expected[0, : mask[0].sum()])
    assert torch.equal(again[0, : mask[1].sum()], expected[1, : mask[1].sum()])
    assert again_mask.sum(1).tolist() == mask.sum(1).tolist()[::-1]
    new, _ = second.encode(["a green triangle falls"])  # a new prompt loads the encoder
    assert second.model is not None
    assert torch.equal(new, encoder.encode(["a green triangle falls"])[0])
    asked = TextEncoder(disk_cache=tmp_path)
    assert asked.is_cached("a box") and not asked.is_cached("never encoded")
    read = []
    asked._read_disk = lambda p: read.append(p)  # a disk hit seen by is_cached is not read again
    assert torch.equal(asked.encode(["a box"])[0][0, : mask[1].sum()], expected[1, : mask[1].sum()]) and not read
    warm = TextEncoder(disk_cache=tmp_path).load()  # loaded up front, as a server would
    assert warm.model is not None and warm.load() is warm and warm.dim == 384


def test_disk_cache_recomputes_a_corrupt_or_foreign_file(encoder, tmp_path):
    from safetensors import safe_open

    prompts = ["a red ball", "a blue box"]
    TextEncoder(disk_cache=tmp_path).encode(prompts)
    files = {}
    for f in tmp_path.rglob("*.safetensors"):
        with safe_open(str(f), framework="pt") as g:
            files[g.metadata()["prompt"]] = f
    red = files["a red ball"].read_bytes()
    files["a red ball"].write_bytes(b"not a safetensors file")  # torn or corrupt
    files["a blue box"].write_bytes(red)  # another prompt's states, as after a hash collision
    reader = TextEncoder(disk_cache=tmp_path)
    states, _ = reader.encode(prompts)
    assert reader.model is not None  # both were misses, not errors and not wrong answers
    assert torch.equal(states, encoder.encode(prompts)[0])
    third = TextEncoder(disk_cache=tmp_path)  # both files were rewritten whole
    assert torch.equal(third.encode(prompts)[0], states) and third.model is None


def test_disk_cache_is_keyed_by_max_length(tmp_path):
    prompt = "a red ball bounces on the floor and rolls"
    short, _ = TextEncoder(TextEncoderConfig(max_length=4), disk_cache=tmp_path).encode([prompt])
    full = TextEncoder(disk_cache=tmp_path)
    states, _ = full.encode([prompt])
    assert short.shape[1] == 4 and states.shape[1] > 4 and full.model is not None
    assert len({f.parent for f in tmp_path.rglob("*.safetensors")}) == 2


def test_an_unwritable_disk_cache_warns_once_and_still_encodes(encoder, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    enc = TextEncoder(disk_cache=blocker / "cache")  # its folder cannot be made under a file
    with pytest.warns(UserWarning, match="KINEMA_CACHE_DIR"):
        states, _ = enc.encode(["a red ball"])
    assert torch.equal(states, encoder.encode(["a red ball"])[0])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.encode(["a blue box"])  # warned once, then the disk cache is off
    assert enc.disk_cache is None


def test_default_disk_cache_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KINEMA_CACHE_DIR", str(tmp_path / "k"))
    assert default_disk_cache() == tmp_path / "k" / "text"
    monkeypatch.setenv("KINEMA_CACHE_DIR", "off")
    assert default_disk_cache() is None
    monkeypatch.delenv("KINEMA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_disk_cache() == tmp_path / "xdg" / "kinema" / "text"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_disk_cache() == Path.home() / ".cache" / "kinema" / "text"


def test_train_mode_keeps_encoder_frozen(encoder):
    encoder.train()
    assert not encoder.model.training
    assert not any(p.requires_grad for p in encoder.parameters())


def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "no_such_model"
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        TextEncoder(TextEncoderConfig(path=str(missing)))
    with pytest.raises(FileNotFoundError, match="config.json"):
        TextEncoder(TextEncoderConfig(path=str(tmp_path)))


def test_bad_prompt_list(encoder):
    with pytest.raises(ValueError, match=r"\[prompt\]"):
        encoder.encode("a single string")


@pytest.mark.parametrize("family", ["t5", "clip"])
def test_other_encoder_families(tmp_path, family):
    """Tiny random T5 / CLIP text encoders saved locally, with the MiniLM tokenizer."""
    from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from kinema.models.bert import BertEncoder

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(packaged_model_path(), local_files_only=True)
    if family == "t5":
        cfg = T5Config(vocab_size=tok.vocab_size, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2)
        model = T5EncoderModel(cfg)
    else:
        cfg = CLIPTextConfig(
            vocab_size=tok.vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2, max_position_embeddings=32, projection_dim=16,
        )
        model = CLIPTextModel(cfg)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    enc = TextEncoder(TextEncoderConfig(path=str(tmp_path), max_length=32))
    assert enc.dim == 16 and not isinstance(enc.model, BertEncoder)  # run by transformers
    states, mask = enc.encode(["a red ball", "a blue box slides left"])
    assert states.shape == (2, mask.shape[1], 16) and mask.sum(1).tolist()[1] > mask.sum(1).tolist()[0]
    assert torch.isfinite(states).all()


def test_null_text_forward():
    torch.manual_seed(0)
    null = NullText(8, num_tokens=3)
    states, mask = null(5)
    assert states.shape == (5, 3, 8) and mask.shape == (5, 3) and mask.all()
    assert torch.equal(states[4], null.tokens)
    assert 0 < null.tokens.std() < 0.1


def test_drop_text_values_shapes_and_grad():
    torch.manual_seed(0)
    null = NullText(8, num_tokens=3)
    states = torch.randn(4, 2, 8)  # L=2 < n=3: output is padded to 3
    mask = torch.tensor([[True, True], [True, False], [True, True], [True, False]])
    drop = torch.tensor([True, False, False, True])
    out, out_mask = drop_text(states, mask, null, drop)
    assert out.shape == (4, 3, 8) and out_mask.shape == (4, 3)
    assert torch.equal(out[0], null.tokens.detach()) and out_mask[0].all()
    assert torch.equal(out[1, :2], states[1]) and torch.all(out[1, 2] == 0)
    assert out_mask[1].tolist() == [True, False, False]
    out.sum().backward()
    assert null.tokens.grad is not None and null.tokens.grad.abs().sum() > 0

    # L >= n: dropped rows are the null tokens followed by masked zeros
    long = torch.randn(2, 6, 8)
    out2, m2 = drop_text(long, torch.ones(2, 6, dtype=torch.bool), null, torch.tensor([False, True]))
    assert out2.shape == (2, 6, 8) and torch.equal(out2[0], long[0])
    assert torch.equal(out2[1, :3], null.tokens.detach()) and torch.all(out2[1, 3:] == 0)
    assert m2[1].tolist() == [True] * 3 + [False] * 3

    with pytest.raises(ValueError, match="drop_text expects"):
        drop_text(long, torch.ones(2, 6, dtype=torch.bool), NullText(4), torch.tensor([False, True]))
