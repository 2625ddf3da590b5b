"""The demo model pipeline: codec learns, `musae demo train` resumes, and the assembled folder is
a MusicGen that loads, generates, steers and captures through the engine like any other."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from musae_core.demo.codec import DemoCodecConfig, DemoCodecModel
from musae_core.demo.codec_train import CodecTrainSpec, SpectralLoss, train_codec
from musae_core.demo.corpus import CorpusSpec, build_corpus
from musae_core.demo.data import load_corpus_audio
from musae_core.demo.lm_train import LMTrainSpec
from musae_core.demo.model_build import LMShape
from musae_core.demo.train import DemoTrainSpec, train_demo
from musae_core.errors import MusaeError
from musae_core.models.base import GenerationRequest
from musae_core.models.loading import load_model
from musae_core.models.residual import capture_residual
from musae_core.steering import AddDirection, steer

if shutil.which("fluidsynth") is None and not os.environ.get("CI"):
    pytest.skip(
        "FluidSynth is not installed (scripts/bootstrap.sh installs it as root)",
        allow_module_level=True,
    )

TINY_CODEC = dict(
    hidden_size=32, intermediate_size=64, encoder_layers=1, decoder_layers=2,
    codebook_size=32, codebook_dim=8, num_quantizers=2, n_fft=640, synth_n_fft=320,
)  # fmt: skip
TINY_SHAPE = LMShape(hidden_size=32, num_layers=2, num_heads=4, ffn_dim=64, text_layers=1,
                     text_ff=64, text_heads=4)  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(
        tmp_path_factory.mktemp("corpus"), CorpusSpec(n_clips=10, seed=5, clip_seconds=2.0)
    )


def _spec(codec_steps: int, lm_steps: int) -> DemoTrainSpec:
    return DemoTrainSpec(
        codec=DemoCodecConfig(**TINY_CODEC),
        codec_train=CodecTrainSpec(batch=4, crop_seconds=0.4, warmup_steps=5,
                                   max_steps=codec_steps, minutes=5),
        shape=TINY_SHAPE,
        lm_train=LMTrainSpec(batch=4, crop_frames=40, warmup=2, max_steps=lm_steps, minutes=5),
    )  # fmt: skip


def test_codec_api_matches_encodec_shapes():
    codec = DemoCodecModel(DemoCodecConfig(**TINY_CODEC)).eval()
    with torch.inference_mode():
        codes = codec.encode(torch.randn(3, 1, 16_000 + 100)).audio_codes
        assert codes.shape == (1, 3, 2, 51)  # padded up to whole 320-sample frames
        assert codes.dtype == torch.int64 and int(codes.max()) < 32
        audio = codec.decode(codes, audio_scales=[None] * 3).audio_values
    assert audio.shape == (3, 1, 51 * 320)


def test_codec_training_beats_its_untrained_self(corpus, tmp_path):
    """Spectral reconstruction after 30 steps is clearly better than at initialisation."""
    config = DemoCodecConfig(**TINY_CODEC)
    audio, _ = load_corpus_audio(corpus, config.sampling_rate)
    loss = SpectralLoss(config.sampling_rate)
    clips = torch.from_numpy(audio[:4])

    def mel_error(codec) -> float:
        with torch.inference_mode():
            codes = codec.encode(clips[:, None]).audio_codes
            return float(loss(codec.decode(codes).audio_values[:, 0], clips)["mel"])

    torch.manual_seed(0)
    before = mel_error(DemoCodecModel(config).eval())
    spec = CodecTrainSpec(batch=4, crop_seconds=0.4, warmup_steps=15, max_steps=30, lr=3e-3,
                          minutes=5)  # fmt: skip
    codec = train_codec(audio, tmp_path, config, spec, log=lambda s: None)
    after = mel_error(codec)
    assert after < 0.8 * before, (before, after)


def test_train_resume_load_generate_steer_capture(corpus, tmp_path):
    out = tmp_path / "run"
    logs = []
    folder = train_demo(corpus, out, _spec(6, 3), log=logs.append)
    assert (folder / "model.safetensors").exists() and (folder / "musae_demo.json").exists()
    # resuming a finished run trains nothing more and rebuilds the same model
    step = torch.load(out / "lm_ckpt.pt", weights_only=False)["step"]
    train_demo(corpus, out, _spec(6, 3), log=logs.append)
    assert torch.load(out / "lm_ckpt.pt", weights_only=False)["step"] == step == 3

    model = load_model(str(folder), device="cpu", dtype="fp32")
    assert model.sample_rate == 16_000 and model.frame_rate == 50.0
    assert model.num_codebooks == 2 and model.num_layers == 2
    request = GenerationRequest(prompts=("slow minor flute melody",), duration=0.4, seed=1)
    take = model.generate(request)
    assert take.audio.shape == (1, 1, 6400) and take.codes.shape == (1, 2, 20)
    assert np.isfinite(take.audio).all()
    again = model.generate(request)
    assert np.array_equal(take.codes, again.codes)

    direction = torch.randn(model.d_model, generator=torch.Generator().manual_seed(0))
    with steer(model, [AddDirection(layer=1, direction=direction, alpha=1.0, beta=50.0)]):
        steered = model.generate(request)
    assert not np.array_equal(take.codes, steered.codes)

    with capture_residual(model, [0, 1]) as rec:
        model.teacher_force(torch.from_numpy(take.codes), ["slow minor flute melody"])
    assert rec.activations(1, n_frames=20).shape == (1, 20, model.d_model)
    codes = model.encode(torch.from_numpy(take.audio[:, 0]))
    assert codes.shape == (1, 2, 20)


def test_train_refuses_unfinished_corpus(tmp_path):
    with pytest.raises(MusaeError, match="not a finished demo corpus"):
        train_demo(tmp_path, tmp_path / "out", _spec(1, 1))


def test_factor_classifier_learns_and_round_trips(corpus, tmp_path):
    from musae_core.demo.corpus import load_factors
    from musae_core.demo.factor_classifier import (
        FactorClassifier,
        audio_features,
        train_factor_classifier,
    )

    audio, records = load_corpus_audio(corpus, 16_000)
    feats = np.stack([audio_features(a, 16_000) for a in audio])
    classifier, accuracy = train_factor_classifier(feats, records, 16_000, folds=2,
                                                   factors=("dynamics", "mode"))  # fmt: skip
    assert set(accuracy) == {"dynamics", "mode"} and records == load_factors(corpus)
    classifier.save(tmp_path / "clf.npz")
    loaded = FactorClassifier.load(tmp_path / "clf.npz")
    assert loaded.predict(audio[:3], 16_000) == classifier.predict(audio[:3], 16_000)
    assert loaded.heads["mode"].columns is not None  # mode reads only the key features
    with pytest.raises(MusaeError, match="expects 16000"):
        loaded.predict(audio[:1], 32_000)
