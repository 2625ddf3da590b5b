"""The demo model pipeline: codec learns, `musae demo train` resumes, and the assembled folder is
a MusicGen that loads, generates, steers and captures through the engine like any other."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from musae_core.demo.codec_train import CodecTrainSpec, train_codec
from musae_core.demo.corpus import CorpusSpec, build_corpus
from musae_core.demo.data import load_corpus_audio
from musae_core.demo.lm_train import LMTrainSpec
from musae_core.demo.model_build import LMShape
from musae_core.demo.train import DemoTrainSpec, train_demo
from musae_core.errors import MusaeError
from musae_core.models.base import GenerationRequest
from musae_core.models.loading import load_model
from musae_core.models.residual import capture_residual
from musae_core.models.semitone_codec import SemitoneCodecConfig, SemitoneCodecModel
from musae_core.steering import AddDirection, steer

if shutil.which("fluidsynth") is None and not os.environ.get("CI"):
    pytest.skip(
        "FluidSynth is not installed (scripts/bootstrap.sh installs it as root)",
        allow_module_level=True,
    )

TINY_CODEC = dict(codebook_size=32, num_quantizers=2, griffin_lim_iters=4)
TINY_SHAPE = LMShape(
    hidden_size=32, num_layers=2, num_heads=4, ffn_dim=64, text_layers=1, text_ff=64, text_heads=4
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(
        tmp_path_factory.mktemp("corpus"), CorpusSpec(n_clips=10, seed=5, clip_seconds=2.0)
    )


def _spec(codec_steps: int, lm_steps: int) -> DemoTrainSpec:
    return DemoTrainSpec(
        codec=SemitoneCodecConfig(**TINY_CODEC),
        codec_train=CodecTrainSpec(iterations=codec_steps),
        shape=TINY_SHAPE,
        lm_train=LMTrainSpec(batch=4, crop_frames=40, warmup=2, max_steps=lm_steps, minutes=600),
    )


def test_codec_api_matches_encodec_shapes():
    codec = SemitoneCodecModel(SemitoneCodecConfig(**TINY_CODEC)).eval()
    with torch.inference_mode():
        codes = codec.encode(torch.randn(3, 1, 16_000 + 100)).audio_codes
        assert codes.shape == (1, 3, 2, 51)  # padded up to whole 320-sample frames
        assert codes.dtype == torch.int64 and int(codes.max()) < 32
        audio = codec.decode(codes, audio_scales=[None] * 3).audio_values
    assert audio.shape == (3, 1, 51 * 320)


@pytest.mark.slow
def test_codec_training_keeps_pitch_and_resumes(corpus, tmp_path):
    """k-means codebooks reconstruct the notes (chroma) far better than random codebooks, and
    a run stopped after its first stage resumes with the second."""
    from musae_core.demo.codec_train import CKPT, codec_finished, evaluate_codec
    from musae_core.errors import Cancelled
    from musae_core.jobs import CancelToken

    config = SemitoneCodecConfig(**TINY_CODEC)
    audio, _ = load_corpus_audio(corpus, config.sampling_rate)
    torch.manual_seed(0)
    before = evaluate_codec(SemitoneCodecModel(config).eval(), audio[:4])
    cancel = CancelToken()
    logs = []

    def stop_after_first_stage(text: str) -> None:
        logs.append(text)
        cancel.cancel()

    with pytest.raises(Cancelled):
        train_codec(
            audio,
            tmp_path,
            config,
            CodecTrainSpec(iterations=8),
            cancel=cancel,
            log=stop_after_first_stage,
        )
    assert not codec_finished(tmp_path / CKPT)
    codec = train_codec(audio, tmp_path, config, CodecTrainSpec(iterations=8), log=logs.append)
    assert codec_finished(tmp_path / CKPT) and "resuming codec training after stage 1" in logs
    after = evaluate_codec(codec, audio[:4])
    assert after["chroma_corr"] > before["chroma_corr"] + 0.2, (before, after)
    assert after["mel_l1"] < before["mel_l1"]


@pytest.mark.slow
def test_train_resume_load_generate_steer_capture(corpus, tmp_path):
    out = tmp_path / "run"
    logs = []
    folder = train_demo(corpus, out, _spec(6, 3), log=logs.append)
    assert (folder / "model.safetensors").exists() and (folder / "musae_demo.json").exists()
    # resuming a finished run trains nothing more and rebuilds the same model
    step = torch.load(out / "lm_ckpt.pt", weights_only=True)["step"]
    train_demo(corpus, out, _spec(6, 3), log=logs.append)
    assert torch.load(out / "lm_ckpt.pt", weights_only=True)["step"] == step == 3
    # resuming with another LM shape names the checkpoint and the fix instead of a size dump
    wider = _spec(6, 3)
    wider.shape = replace(TINY_SHAPE, hidden_size=64, ffn_dim=128)
    with pytest.raises(MusaeError, match=r"lm_ckpt\.pt holds an LM of another shape") as err:
        train_demo(corpus, out, wider, log=logs.append)
    assert "--lm-width" in err.value.fix

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


def test_train_device_choice_and_lm_size_checks(monkeypatch):
    from musae_core.demo.cli import _check_lm_size, _device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _device("auto") == "cpu" and _device("cpu") == "cpu"
    with pytest.raises(MusaeError, match="no GPU"):
        _device("cuda")
    _check_lm_size(64, 256, 6)  # fine: refused sizes would fail only after the codec stage
    with pytest.raises(MusaeError, match="multiple of 32"):
        _check_lm_size(8, 200, None)
    with pytest.raises(MusaeError, match=">= 1"):
        _check_lm_size(0, None, None)


def test_train_refuses_unfinished_corpus(tmp_path):
    with pytest.raises(MusaeError, match="not a finished demo corpus"):
        train_demo(tmp_path, tmp_path / "out", _spec(1, 1))


@pytest.mark.slow
def test_factor_classifier_learns_and_round_trips(corpus, tmp_path):
    from musae_core.demo.corpus import load_factors
    from musae_core.demo.factor_classifier import (
        FactorClassifier,
        audio_features,
        train_factor_classifier,
    )

    audio, records = load_corpus_audio(corpus, 16_000)
    feats = np.stack([audio_features(a, 16_000) for a in audio])
    classifier, accuracy = train_factor_classifier(
        feats, records, 16_000, folds=2, factors=("dynamics", "mode")
    )
    assert set(accuracy) == {"dynamics", "mode"} and records == load_factors(corpus)
    classifier.save(tmp_path / "clf.npz")
    loaded = FactorClassifier.load(tmp_path / "clf.npz")
    assert loaded.predict(audio[:3], 16_000) == classifier.predict(audio[:3], 16_000)
    assert loaded.heads["mode"].columns is not None  # mode reads only the key features
    with pytest.raises(MusaeError, match="expects 16000"):
        loaded.predict(audio[:1], 32_000)
    loaded.mean, loaded.std = loaded.mean[:-1], loaded.std[:-1]  # saved by an older musae
    with pytest.raises(MusaeError, match="retrain it"):
        loaded.predict(audio[:1], 16_000)


@pytest.mark.slow
def test_classifier_corpus_must_be_another_seed(corpus):
    from musae_core.demo.classifier_train import heldout_audio

    with pytest.raises(MusaeError, match="same seed"):
        heldout_audio(corpus, corpus, 16_000)
    audio, records = heldout_audio(corpus, None, 16_000)
    assert [r["clip"] for r in records] == ["000009"] and len(audio) == 1


@pytest.mark.slow
def test_features_build_and_scorecard_end_to_end(tmp_path_factory):
    """`musae demo features` then `musae demo score` on a tiny model: a database whose snippets
    are whole clips in Opus, classifier and descriptor labels, and every scorecard section."""
    from musae_core.demo.features_build import FeatureBuildSpec, build_demo_features
    from musae_core.demo.score import ScoreSpec, run_score
    from musae_core.demo.scorecard_doc import save_scorecard
    from musae_core.demo.steering_score import SteeringScoreSettings
    from musae_core.features.db import FeatureDB

    corpus = build_corpus(
        tmp_path_factory.mktemp("corpus20"), CorpusSpec(n_clips=20, seed=3, clip_seconds=2.0)
    )
    folder = train_demo(corpus, tmp_path_factory.mktemp("run"), _spec(4, 4), log=lambda _: None)
    out = tmp_path_factory.mktemp("features")
    extra = build_corpus(
        tmp_path_factory.mktemp("classifier_corpus"),
        CorpusSpec(n_clips=5, seed=4, clip_seconds=2.0),
    )
    spec = FeatureBuildSpec(
        expansion=2,
        k=4,
        epochs=2,
        analysis_train_clips=3,
        top_n=3,
        baseline_size=4,
        classifier_corpus=str(extra),
    )
    logged: list[str] = []
    build_demo_features(folder, corpus, out, spec, log=logged.append)
    # association labels tag the analysis store's 3 training clips, never its 2 held-out ones
    assert any(line.startswith("association: 3 clips") for line in logged), logged
    report = json.loads((out / "factor_classifier.json").read_text())
    assert report["clips"] == 2 + 5  # the corpus's held-out clips and every clip of the other
    snippets = sorted(p.suffix for p in (out / "features.snippets").iterdir())
    assert snippets and set(snippets) == {".opus"}
    assert len(snippets) <= 2 + 3  # whole clips: one file per analysed clip at most
    with FeatureDB.open(out / "features.db", readonly=True) as db:
        live = [row.id for row in db.query(hide_dead=True)]
        sources = {lab.source for j in live for lab in db.labels(j)}
    assert live and "classifier" in sources
    # a rerun finds every stage done
    build_demo_features(folder, corpus, out, spec, log=lambda _: None)

    score = ScoreSpec(
        steering=SteeringScoreSettings(max_features=2, duration=0.4),
        steering_prompts=6,
        prompt_take_seconds=0.4,
        prompt_rounds=1,
    )
    report = run_score(folder, out, corpus, score)
    values = [v["value"] for v in report["recovery"]["values"]]
    assert "instrument=" + "piano" in values or len(values) >= 8
    assert all(0.0 <= v["f1"] <= 1.0 for v in report["recovery"]["values"])
    assert report["prompt_following"]["takes"] == 24
    judge = report["prompt_following"]["token_judge"]  # fitted on the 2 + 5 held-out clips
    assert set(judge["accuracy"]) == set(judge["heldout_cv_accuracy"]) == {"instrument"}
    json_path, md_path = save_scorecard(report, tmp_path_factory.mktemp("doc") / "card")
    assert json_path.exists() and "Prompt following" in md_path.read_text()
    probes = report["probes"]["factors"]
    assert set(probes) >= {"instrument", "mode", "key"}
    assert all(0.0 <= row[k] <= 1.0 for row in probes.values() for k in ("residual", "sae"))
    assert "| key |" in md_path.read_text()

    from musae_core.cli import main
    from musae_core.demo.ship import ship_demo, user_demo_project
    from musae_core.sae import load_sae
    from musae_core.workstation.project import Project

    shipped = tmp_path_factory.mktemp("resources") / "demo"
    assert (
        main(["demo", "ship", "--model", str(folder), "--features", str(out), "--to", str(shipped)])
        == 0
    )
    project_path = shipped / "demo.musae.json"
    assert project_path == ship_demo(folder, out, shipped)  # shipping again replaces it
    assert (shipped / "model" / "model.safetensors").exists()
    user = tmp_path_factory.mktemp("user")
    mine = user_demo_project(shipped, user)
    assert mine is not None and mine != project_path and not (mine.parent / "model").exists()
    project = Project.load(mine)
    assert project.model_id == "demo" and Path(project.feature_db_path).parent == mine.parent
    from musae_core.demo.tokenizer import demo_tokenizer

    tokenizer = demo_tokenizer()  # the default prompt speaks the corpus' caption vocabulary
    assert tokenizer.unk_token_id not in tokenizer(project.master.prompt)["input_ids"]
    assert load_sae(project.sae_path).cfg.d_sae == load_sae(out / "sae").cfg.d_sae
    with FeatureDB.open(project.feature_db_path) as db:  # the user's copy is writable
        db.set_favourite(live[0], True)
    assert user_demo_project(shipped, user) == mine  # copied once per shipped version
    loaded = load_model(str(shipped / "model"), device="cpu", dtype="fp32")
    assert next(loaded.hf.parameters()).dtype == torch.float32


def test_flip_mode_swaps_every_mode_word():
    from musae_core.demo.factors import flip_mode

    assert flip_mode("slow soft minor flute melody, low register, in C minor") == (
        "slow soft major flute melody, low register, in C major"
    )
    assert flip_mode("fast loud major piano melody, in Eb major with drums").count("minor") == 2
    assert flip_mode("no mode word here") == "no mode word here"


@pytest.mark.slow
def test_mode_contrast_makes_the_lm_read_the_mode_word(tmp_path):
    """Codes whose token set depends on the mode word: the contrast term makes the flipped
    caption cost more than plain likelihood training does in the same number of steps."""
    from musae_core.demo.lm_train import mode_gap, train_lm
    from musae_core.demo.model_build import build_demo_musicgen
    from musae_core.demo.tokenizer import demo_tokenizer

    rng = np.random.default_rng(0)
    modes = ["major", "minor"] * 8
    codes = np.stack([rng.integers(0, 16, (2, 40)) + (16 if m == "minor" else 0) for m in modes])
    captions = [f"slow soft {m} flute melody, in C {m}" for m in modes]
    codec = SemitoneCodecModel(SemitoneCodecConfig(**TINY_CODEC)).eval()
    gaps = {}
    for weight in (0.0, 1.0):
        hf = build_demo_musicgen(codec, TINY_SHAPE, seed=0)
        spec = LMTrainSpec(
            batch=8,
            crop_frames=40,
            warmup=2,
            max_steps=25,
            minutes=600,  # the 25 steps bound it, not the clock (a busy CPU once cut it short)
            lr=3e-3,
            start_at_zero=1.0,
            mode_contrast=weight,
            contrast_margin=0.5,
        )
        logs = []
        out = tmp_path / f"contrast{weight}"
        out.mkdir()
        train_lm(hf, codes, captions, out, spec, log=logs.append)
        assert ("mode_gap" in logs[-1]) == (weight > 0)
        with torch.inference_mode():
            x = torch.from_numpy(codes[:, :, :8])  # the first frames, before the tokens tell
            gaps[weight] = float(mode_gap(hf, demo_tokenizer(), x, captions).mean())
    assert gaps[1.0] > gaps[0.0] + 0.2, gaps  # measured: 2.57 vs 1.96
    with pytest.raises(MusaeError, match="contrast-frames must be >= 1"):
        train_lm(hf, codes, captions, tmp_path, replace(spec, contrast_frames=0))


def test_a_step_budget_makes_the_lm_schedule_independent_of_the_clock(monkeypatch, tmp_path):
    """With --lm-steps the learning rate follows steps: a machine ten times slower (the clock
    runs ten times faster per step) trains the same model; before, the cosine schedule read
    the wall clock and the slow machine decayed the learning rate sooner."""
    from musae_core.demo import lm_train
    from musae_core.demo.model_build import build_demo_musicgen

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 32, (8, 2, 40))
    captions = ["slow soft major flute melody, in C major"] * 8
    codec = SemitoneCodecModel(SemitoneCodecConfig(**TINY_CODEC)).eval()
    spec = LMTrainSpec(batch=4, crop_frames=40, warmup=2, max_steps=6, minutes=0.5, lr=3e-3)
    weights = []
    for seconds_per_read in (1e-6, 0.3):  # 0.3 s a clock read: most of the 30 s budget
        reads = itertools.count()
        monkeypatch.setattr(
            lm_train.time, "perf_counter", lambda r=reads, s=seconds_per_read: next(r) * s
        )
        hf = build_demo_musicgen(codec, TINY_SHAPE, seed=0)
        out = tmp_path / f"run{seconds_per_read}"
        out.mkdir()
        lm_train.train_lm(hf, codes, captions, out, spec, log=lambda s: None)
        weights.append(torch.cat([p.detach().flatten() for p in hf.decoder.parameters()]))
    assert torch.equal(weights[0], weights[1])
