"""Per-frame truth of the demo corpus: recorded at render, re-derivable from the seed, aligned to
the audio's frames, and true of the music (notes in the key, chords on the progression)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil

import librosa
import mido
import numpy as np
import pytest
import soundfile as sf

from musae_core.demo.composer import DRUM_CHANNEL, SCALES, TICKS, Note, compose, notes_to_midi
from musae_core.demo.corpus import CorpusSpec, build_corpus, load_factors
from musae_core.demo.factors import sample_factors
from musae_core.demo.synth import find_soundfont, render_midi
from musae_core.demo.truth import (
    MELODY,
    derive_clip,
    derive_corpus_truth,
    load_clip_truth,
    truth_path,
)
from musae_core.demo.truth_table import corpus_concept_truth
from musae_core.errors import MusaeError
from musae_core.features.concepts import ConceptTruth

if shutil.which("fluidsynth") is None and not os.environ.get("CI"):
    pytest.skip("FluidSynth is not installed", allow_module_level=True)

SPEC = CorpusSpec(n_clips=4, seed=5, clip_seconds=6.0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"), SPEC)


def _midi_digest(seed: int, index: int) -> str:
    rng = random.Random(f"{seed}:{index}")
    factors = sample_factors(rng)
    buffer = io.BytesIO()
    compose(factors, 10.0, rng).save(file=buffer)
    return hashlib.sha256(buffer.getvalue()).hexdigest()[:16]


def test_the_music_is_unchanged_by_recording_truth():
    # digests of the composer's MIDI before it learned to report its notes: old corpora's
    # audio is what compose_notes still describes
    assert _midi_digest(0, 0) == "0f1bad7991d10cda"
    assert _midi_digest(0, 7) == "2f962a6dff31d498"
    assert _midi_digest(1, 3) == "fbda599520c5f345"


def test_recorded_truth_equals_truth_derived_from_the_seed(corpus, tmp_path):
    for index in range(SPEC.n_clips):
        recorded = load_clip_truth(truth_path(corpus / "clips", f"{index:06d}"))
        _, _, derived = derive_clip(SPEC.seed, index, SPEC.clip_seconds)
        assert recorded.n_frames == 300 and recorded.equals(derived)
    old = tmp_path / "old"  # a corpus rendered before truth was recorded
    shutil.copytree(corpus, old)
    for path in (old / "clips").glob("*.truth.npz"):
        path.unlink()
    assert derive_corpus_truth(old) == SPEC.n_clips
    assert derive_corpus_truth(old) == 0  # resumes: nothing left to do
    for index in range(SPEC.n_clips):
        name = f"{index:06d}"
        a = load_clip_truth(truth_path(corpus / "clips", name))
        assert a.equals(load_clip_truth(truth_path(old / "clips", name)))


def test_missing_truth_names_the_fix(tmp_path):
    with pytest.raises(MusaeError, match="derive-truth"):
        load_clip_truth(tmp_path / "000000.truth.npz")


def test_truth_is_true_of_the_score(corpus):
    for record in load_factors(corpus):
        truth = load_clip_truth(truth_path(corpus / "clips", record["clip"]))
        scale = {(record["tonic"] + s) % 12 for s in SCALES[record["mode"]]}
        sounding = np.flatnonzero(truth.role.any(0))
        assert {int(p) % 12 for p in sounding} <= scale
        melody = np.flatnonzero((truth.role & MELODY).any(0))
        centre = {"low": 43, "mid": 60, "high": 77}[record["register"]]
        assert melody.min() >= centre - 7 and melody.max() <= centre + 9
        assert truth.drums.any() == record["drums"]
        first_chord = truth.chord_root[truth.chord_root >= 0][0]
        assert first_chord == record["tonic"]  # every progression opens on the tonic
        assert truth.onset.any(1).sum() >= 2 * record["bpm"] * SPEC.clip_seconds / 60 * 0.5


def test_fluidsynth_starts_a_note_on_its_midi_time():
    """The renderer adds no latency the truth would have to correct for (measured: ~5 ms)."""
    factors = sample_factors(random.Random("0:0"))
    for pitch, channel in ((60, 0), (36, DRUM_CHANNEL)):
        midi = notes_to_midi([Note(TICKS, TICKS, pitch, 100, channel, "melody")], factors)
        audio = render_midi(midi, find_soundfont(), 16_000, 2.0)
        start = mido.bpm2tempo(factors.bpm) / 1e6  # one beat in
        first = np.flatnonzero(np.abs(audio) > 1e-3)[0] / 16_000
        assert 0 <= first - start < 0.010


@pytest.mark.slow
def test_drum_hits_and_onsets_match_energy_rises_in_the_audio(corpus):
    """Truth row t is audio frame t: in clips with drums, the rises of a 20 ms centred RMS
    (frame t centred on t / 50 s, as the codec frames audio) line up with the truth's onsets
    and hits at lag 0 or 1 frame (a hit's energy peaks within its attack, < 20 ms)."""
    lags = []
    for record in load_factors(corpus):
        if not record["drums"]:
            continue
        truth = load_clip_truth(truth_path(corpus / "clips", record["clip"]))
        audio, _ = sf.read(corpus / "clips" / record["file"], dtype="float32")
        rms = librosa.feature.rms(y=audio, frame_length=320, hop_length=320, center=True)[0]
        log_rms = np.log(rms[: truth.n_frames] + 1e-4)
        rise = np.maximum(np.diff(log_rms, prepend=log_rms[0]), 0)
        events = (truth.onset.any(1) | truth.drums.any(1)).astype(float)
        events -= events.mean()
        scores = {lag: float(np.dot(np.roll(events, lag), rise)) for lag in range(-6, 7)}
        lags.append(max(scores, key=scores.get))
    assert len(lags) >= 2 and all(lag in (0, 1) for lag in lags), lags


def test_concept_table_reads_the_truth_per_row(corpus, tmp_path):
    clip_numbers = {10 + i: i for i in range(SPEC.n_clips)}  # store source ids -> clip numbers
    sources = np.repeat(np.arange(10, 10 + SPEC.n_clips), 300)
    frames = np.tile(np.arange(300), SPEC.n_clips)
    table = corpus_concept_truth(corpus, sources, frames, clip_numbers)
    table.save(tmp_path / "truth.npz")
    table = ConceptTruth.load(tmp_path / "truth.npz")
    column = {name: table.frames[:, i] for i, name in enumerate(table.names)}
    records = load_factors(corpus)
    for i, record in enumerate(records):
        rows = sources == 10 + i
        truth = load_clip_truth(truth_path(corpus / "clips", record["clip"]))
        assert np.array_equal(column["drum=kick"][rows], truth.drums[:, 0])
        assert column[f"instrument={record['instrument']}"][rows].all()
        assert column["drums=true"][rows].all() == record["drums"]
        assert column["drums=false"][rows].all() != record["drums"]
        sounding = truth.role.any(1)
        assert np.array_equal(column["pitch_class=C"][rows], truth.role[:, 0::12].any(1))
        assert (column["melody"][rows] | column["accompaniment"][rows])[sounding].all()
    assert not any(n.startswith("pitch=") and not column[n].any() for n in table.names)
