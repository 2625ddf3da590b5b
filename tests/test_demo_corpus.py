"""The demo corpus: reproducible, resumable, and its factor labels are true of the audio."""

from __future__ import annotations

import os
import shutil

import librosa
import numpy as np
import pytest
import soundfile as sf

from musae_core.demo.corpus import CorpusSpec, build_corpus, load_factors
from musae_core.errors import MusaeError

if shutil.which("fluidsynth") is None and not os.environ.get("CI"):
    pytest.skip(
        "FluidSynth is not installed (scripts/bootstrap.sh installs it as root)",
        allow_module_level=True,
    )

SPEC = CorpusSpec(n_clips=6, seed=3, clip_seconds=4.0)
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"), SPEC)


def test_every_clip_has_audio_and_factors(corpus):
    records = load_factors(corpus)
    assert [r["clip"] for r in records] == [f"{i:06d}" for i in range(6)]
    for record in records:
        audio, rate = sf.read(corpus / "clips" / record["file"])
        assert rate == 16_000 and len(audio) == 4 * 16_000
        assert np.sqrt(np.mean(audio**2)) > 1e-3
        assert record["instrument"] in record["caption"] and record["mode"] in record["caption"]


def test_rebuild_is_identical_and_resumes_only_missing(corpus, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(corpus, copy)
    (copy / "clips" / "000002.json").unlink()
    (copy / "clips" / "000002.flac").unlink()
    stamp = (copy / "clips" / "000001.flac").stat().st_mtime_ns
    seen = []
    build_corpus(copy, SPEC, progress=lambda d, t: seen.append(d))
    assert seen[0] == 5  # five clips were already there
    assert (copy / "clips" / "000001.flac").stat().st_mtime_ns == stamp
    a, _ = sf.read(corpus / "clips" / "000002.flac")
    b, _ = sf.read(copy / "clips" / "000002.flac")
    assert np.array_equal(a, b)


def test_growing_a_corpus_keeps_its_clips(corpus, tmp_path):
    copy = tmp_path / "grown"
    shutil.copytree(corpus, copy)
    stamp = (copy / "clips" / "000003.flac").stat().st_mtime_ns
    build_corpus(copy, CorpusSpec(n_clips=7, seed=3, clip_seconds=4.0))
    records = load_factors(copy)
    assert len(records) == 7 and records[:6] == load_factors(corpus)
    assert (copy / "clips" / "000003.flac").stat().st_mtime_ns == stamp


def test_other_spec_in_same_folder_is_refused(corpus):
    with pytest.raises(MusaeError, match="different corpus"):
        build_corpus(corpus, CorpusSpec(n_clips=6, seed=4, clip_seconds=4.0))


def test_declared_key_and_mode_are_heard(corpus):
    """Krumhansl key finding on the audio agrees with the recorded key for most clips."""
    hits = 0
    records = load_factors(corpus)
    for record in records:
        audio, rate = sf.read(corpus / "clips" / record["file"])
        chroma = librosa.feature.chroma_cqt(y=audio, sr=rate).mean(axis=1)
        scores = {
            (tonic, mode): np.corrcoef(chroma, np.roll(profile, tonic))[0, 1]
            for tonic in range(12)
            for mode, profile in (("major", MAJOR), ("minor", MINOR))
        }
        best = max(scores, key=scores.get)
        relative = (record["tonic"] + (9 if record["mode"] == "major" else 3)) % 12
        hits += best[0] in (record["tonic"], relative)  # relative keys share their pitches
    assert hits >= len(records) - 1
