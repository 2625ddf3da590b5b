"""DSP truth tables for any audio: per-frame concepts measured from the signal, aligned to an
activation store's rows, so a sweep can score SAEs on music whose score nobody wrote down.

Concepts (binary per frame; frame ``t`` of a source is centred on ``t / frame_rate`` s, like the
store's rows): ``loudness=low|mid|high`` (RMS dB tertiles), ``brightness=low|mid|high``
(spectral-centroid tertiles), ``onset`` (librosa onset detection, 40 ms flux, aligned to the
note), ``onset_rate=low|high`` (onsets per second over 2 s, median split), ``pitch_class=X``
(chroma argmax on frames louder than the quietest tertile), ``tempo=slow|medium|fast``
(librosa beat tracking per source: < 90, 90-130, > 130 BPM) and ``silence`` (RMS below
-60 dBFS). Band edges come from the training sources only.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
from scipy.ndimage import uniform_filter1d

from musae_core.audio.io import load_audio
from musae_core.errors import MusaeError
from musae_core.features.concepts import ConceptTruth
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.sae.sweep_data import is_heldout_source, store_row_keys

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
HOP = 320  # samples per frame at the analysis rate frame_rate * HOP
TEMPO_EDGES = (90.0, 130.0)
SILENCE_DB = -60.0


def describe(signal: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """Raw per-frame descriptors of one source (centred frames, hop ``HOP``) and its tempo."""
    rms = librosa.feature.rms(y=signal, frame_length=4 * HOP, hop_length=HOP, center=True)[0]
    centroid = librosa.feature.spectral_centroid(y=signal, sr=sr, n_fft=4 * HOP, hop_length=HOP)[0]
    chroma = librosa.feature.chroma_stft(y=signal, sr=sr, n_fft=4096, hop_length=HOP)
    # a 40 ms flux window, and the peak moved back one frame: the flux of frame t measures the
    # rise from t - 1, so librosa's peaks sit 1-2 frames after the note (demo corpus against
    # its score: default settings peak at +2 frames; these at 0 (53 %) and +1 (36 %))
    envelope = librosa.onset.onset_strength(y=signal, sr=sr, hop_length=HOP, n_fft=2 * HOP)
    onsets = librosa.onset.onset_detect(onset_envelope=envelope, sr=sr, hop_length=HOP) - 1
    onsets = onsets[onsets >= 0]
    tempo = np.atleast_1d(librosa.beat.beat_track(y=signal, sr=sr, hop_length=HOP)[0])[0]
    n = min(len(rms), len(centroid), chroma.shape[1])
    onset = np.zeros(n, bool)
    onset[onsets[onsets < n]] = True
    window = max(1, round(2.0 * sr / HOP))
    rate = uniform_filter1d(onset.astype(float), window, mode="constant") * (sr / HOP)
    return {
        "db": 20 * np.log10(rms[:n] + 1e-10),
        "centroid": centroid[:n],
        "pitch_class": chroma[:, :n].argmax(0),
        "onset": onset,
        "onset_rate": rate,
        "tempo": np.full(n, float(tempo)),
    }


def _bands(values: np.ndarray, edges: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    index = np.searchsorted(edges, values, side="right")
    return np.stack([index == i for i in range(len(names))], axis=1)


def concept_table(
    described: list[dict[str, np.ndarray]], training: list[bool]
) -> tuple[list[str], list[np.ndarray]]:
    """Names and one bool (frames, concepts) table per source; edges from training sources."""
    train = [d for d, t in zip(described, training, strict=True) if t] or described
    db = np.concatenate([d["db"] for d in train])
    loud_edges = np.quantile(db, [1 / 3, 2 / 3])
    bright_edges = np.quantile(np.concatenate([d["centroid"] for d in train]), [1 / 3, 2 / 3])
    rate_edge = np.median(np.concatenate([d["onset_rate"] for d in train]))
    three = ("low", "mid", "high")
    names = [f"loudness={b}" for b in three] + [f"brightness={b}" for b in three]
    names += ["onset", "onset_rate=low", "onset_rate=high"]
    names += [f"pitch_class={p}" for p in PITCH_CLASSES]
    names += [f"tempo={t}" for t in ("slow", "medium", "fast")] + ["silence"]
    tables = []
    for d in described:
        voiced = d["db"] > loud_edges[0]
        pcs = np.stack([(d["pitch_class"] == i) & voiced for i in range(12)], axis=1)
        parts = [
            _bands(d["db"], loud_edges, three),
            _bands(d["centroid"], bright_edges, three),
            d["onset"][:, None],
            _bands(d["onset_rate"], np.array([rate_edge]), ("low", "high")),
            pcs,
            _bands(d["tempo"], np.array(TEMPO_EDGES), ("slow", "medium", "fast")),
            (d["db"] < SILENCE_DB)[:, None],
        ]
        tables.append(np.concatenate(parts, axis=1))
    return names, tables


def write_dsp_truth(
    store_path: str | Path,
    out: str | Path,
    max_sources: int = 200,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    holdout_every: int = 10,
) -> ConceptTruth:
    """The DSP truth of up to ``max_sources`` of the store's sources (half held out, as
    ``musae sweep --holdout-every`` splits them), aligned to their rows; saved to ``out``."""
    from musae_core.harvest.store import ActivationStore

    progress = progress or no_progress
    store = ActivationStore.open(store_path)
    if abs(store.frame_rate * HOP - round(store.frame_rate * HOP)) > 1e-6:
        raise MusaeError(
            f"Store frame rate {store.frame_rate} Hz gives no whole hop.",
            "use a store from a model with an integer frame rate.",
        )
    sr = round(store.frame_rate * HOP)
    sources, frames = store_row_keys(store)
    ids = sorted(set(sources.tolist()))
    held = [s for s in ids if is_heldout_source(np.array([s]), holdout_every)[0]]
    train = [s for s in ids if s not in set(held)]
    half = max(1, max_sources // 2)
    chosen = held[:half] + train[: max_sources - min(half, len(held))]
    by_id = {int(s["source_id"]): s for s in store.sources()}
    described, kept = [], []
    for i, source_id in enumerate(chosen):
        check(cancel)
        path = Path(store.audio_path(by_id[source_id]))
        try:
            signal = load_audio(path, sr)
        except MusaeError:  # unreadable now: that source gets no truth rows
            signal = None
        if signal is not None and len(signal) >= HOP * 4:
            described.append(describe(signal, sr))
            kept.append(source_id)
        progress(i + 1, len(chosen))
    if not kept:
        raise MusaeError(
            f"No readable audio among the sources of {store_path}.",
            "check that the store's audio files still exist.",
        )
    training = [not is_heldout_source(np.array([s]), holdout_every)[0] for s in kept]
    names, tables = concept_table(described, training)
    rows = np.flatnonzero(np.isin(sources, kept))
    table = np.zeros((len(rows), len(names)), bool)
    for source_id, clip_table in zip(kept, tables, strict=True):
        mine = np.flatnonzero(sources[rows] == source_id)
        table[mine] = clip_table[np.clip(frames[rows][mine], 0, len(clip_table) - 1)]
    truth = ConceptTruth(names, table, sources[rows], frames[rows], store.frame_rate)
    truth.save(out)
    return truth
