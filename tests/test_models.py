"""The transformers MusicGen backend on the tiny model: shapes, rates, reproducibility, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musae_core.errors import Cancelled, MusaeError
from musae_core.jobs import CancelToken
from musae_core.models.base import GenerationRequest
from musae_core.models.loading import load_model
from musae_core.models.sampling import SamplingSettings
from musae_core.models.tiny import build_tiny_musicgen, save_tiny_musicgen


def test_tiny_model_exposes_musicgen_shape(tiny_model):
    assert tiny_model.sample_rate == 32_000
    assert tiny_model.frame_rate == 50
    assert tiny_model.num_codebooks == 4
    assert tiny_model.num_layers == 4
    assert tiny_model.hook_points()[2] == "blocks.2.hook_resid_post"


def test_generation_is_reproducible_and_seed_dependent(tiny_model):
    request = GenerationRequest(prompts=("slow flute",), duration=1.0, seed=7)
    a = tiny_model.generate(request)
    b = tiny_model.generate(request)
    c = tiny_model.generate(GenerationRequest(prompts=("slow flute",), duration=1.0, seed=8))
    assert a.audio.shape == (1, 1, 32_000)
    assert a.codes.shape == (1, 4, 50)
    assert np.array_equal(a.audio, b.audio) and np.array_equal(a.codes, b.codes)
    assert not np.array_equal(a.codes, c.codes)


@pytest.mark.parametrize("model_id", ["tiny", "tiny-melody"])
def test_generation_uses_the_installed_transformers_cache_argument(model_id):
    """No deprecated keyword reaches the decoder: a take raises nothing under -W error."""
    import warnings

    model = load_model(model_id, device="cpu", dtype="fp32")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        take = model.generate(GenerationRequest(prompts=("slow flute",), duration=0.2, seed=1))
    assert np.isfinite(take.audio).all()


def test_generation_leaves_global_rng_alone(tiny_model):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_model.generate(GenerationRequest(duration=0.2, seed=1))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("model_id", ["tiny", "tiny-stereo", "tiny-melody"])
def test_greedy_decoding_matches_transformers_generate(model_id):
    """musae's own decoding loop reproduces model.generate token for token (mono and stereo)."""
    model = load_model(model_id, device="cpu", dtype="fp32")
    ids = model.tokenizer(["bright piano"], return_tensors="pt")
    steps = 50 + max(model.delays)
    reference = model.hf.generate(**ids, do_sample=False, guidance_scale=3.0, max_new_tokens=steps)
    take = model.generate(
        GenerationRequest(
            prompts=("bright piano",), duration=1.0, sampling=SamplingSettings(temperature=0)
        )
    )
    assert take.audio.shape == (1, model.audio_channels, 32_000)
    assert torch.allclose(torch.from_numpy(take.audio), reference[..., :32_000])
    codes = model.encode(torch.from_numpy(take.audio[:, 0]))
    assert codes.shape == (1, model.num_codebooks, 50)
    assert torch.isfinite(model.teacher_force(codes).loss).all()


def test_batch_of_prompts_and_variants(tiny_model):
    take = tiny_model.generate(
        GenerationRequest(prompts=("a", "b"), variants=2, duration=0.4, seed=3)
    )
    assert take.audio.shape[0] == 4
    assert not np.array_equal(take.codes[0], take.codes[1])  # variants differ


def test_progress_reports_every_step_and_cancel_stops(tiny_model):
    seen = []
    tiny_model.generate(GenerationRequest(duration=0.2), progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (13, 13) and len(seen) == 13  # 10 frames + 3 delay steps

    token = CancelToken()

    def cancel_at_three(done, total):
        if done == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        tiny_model.generate(GenerationRequest(duration=2.0), progress=cancel_at_three, cancel=token)
    for layer in tiny_model.hf.decoder.model.decoder.layers:
        assert not layer._forward_hooks


def test_encode_teacher_force_round_trip(tiny_model):
    take = tiny_model.generate(GenerationRequest(duration=0.6, seed=2))
    codes = tiny_model.encode(torch.from_numpy(take.audio[:, 0]))
    assert codes.shape == (1, 4, 30)
    out = tiny_model.teacher_force(codes)
    assert out.n_frames == 30 and torch.isfinite(out.loss).all()
    # the model assigns higher likelihood to its own greedy continuation than to shuffled codes
    greedy = tiny_model.generate(
        GenerationRequest(duration=0.6, sampling=SamplingSettings(temperature=0.0, cfg_scale=1.0))
    )
    own = tiny_model.teacher_force(torch.from_numpy(greedy.codes)).loss
    shuffled = torch.from_numpy(greedy.codes)[..., torch.randperm(30)]
    assert own < tiny_model.teacher_force(shuffled).loss


def test_duration_limits(tiny_model):
    with pytest.raises(MusaeError, match="positive"):
        tiny_model.generate(GenerationRequest(duration=0))
    with pytest.raises(MusaeError, match="limit"):
        tiny_model.generate(GenerationRequest(duration=31))


def test_bad_layer_and_model_ids(tiny_model, tmp_path):
    with pytest.raises(MusaeError, match="Layer 9"):
        tiny_model.residual_module(9)
    with pytest.raises(MusaeError, match="Unknown model"):
        load_model("no-such-thing", device="cpu")
    with pytest.raises(MusaeError, match="musae download facebook/musicgen-small"):
        load_model("facebook/musicgen-small", device="cpu", cache_dir=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MusaeError, match="does not hold a complete MusicGen"):
        load_model(str(empty), device="cpu")


def test_local_folder_loads_same_weights(tmp_path):
    folder = save_tiny_musicgen(tmp_path / "tiny-folder", seed=0)
    from_folder = load_model(str(folder), device="cpu", dtype="fp32")
    built, _ = build_tiny_musicgen(0)
    for (name, a), (_, b) in zip(
        from_folder.hf.state_dict().items(), built.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    request = GenerationRequest(prompts=("x",), duration=0.3, seed=5)
    tiny = load_model("tiny", device="cpu", dtype="fp32")
    assert np.array_equal(from_folder.generate(request).codes, tiny.generate(request).codes)
