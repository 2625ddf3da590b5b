"""Fine, within-clip concepts heard by DSP: pitch classes, notes, note onsets and drum hits.

Clip-level labellers (descriptors, taggers) say what a feature's top clips are *like*; a feature
that fires on C#4 onsets looks like any other piano clip at that scale. This labeller listens
frame by frame: it detects each concept in every frame of a feature's top clips (chroma for
pitch classes, a constant-Q spectrum for notes, spectral-flux onsets, band-limited flux for
drum hits) and names the concepts that hold far more often in the frames where the feature
fires than in the frames of the same clips where it is silent. It never sees any ground truth,
so the demo scorecard can judge its labels against the corpus's truth.

The same detectors give ``concept_strength``: a take's continuous score for one concept, the
judge that steering on the fine truth uses (``musae_core.demo.steering_score``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from musae_core.features.records import TopClip
from musae_core.jobs import CancelToken, check
from musae_core.labeling.clip_audio import BaselineClip, ClipKey, clip_key, read_clip
from musae_core.labeling.results import LabelResult

SOURCE = "fine-dsp"
RATE = 16_000
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
LOW_MIDI, HIGH_MIDI = 18, 96  # the demo's chords reach down to MIDI ~19
DRUM_BANDS = {"kick": (30.0, 150.0), "snare": (1500.0, 4000.0), "hat": (5000.0, 8000.0)}


@dataclass
class FrameDetections:
    """Per-frame detector outputs of one clip (frames at the store's frame rate)."""

    chroma: np.ndarray  # (12, n) each frame scaled to max 1
    notes: np.ndarray  # (HIGH_MIDI - LOW_MIDI + 1, n) dB below the frame's loudest bin
    onset: np.ndarray  # (n,) note-onset strength (spectral flux, normalised)
    drums: dict[str, np.ndarray]  # band-limited flux per drum, normalised
    voiced: np.ndarray  # (n,) bool: loud enough to hold a pitch

    def concepts(self) -> dict[str, np.ndarray]:
        """Concept name (the corpus truth's names) -> bool per frame."""
        out = {}
        for pc, name in enumerate(NOTE_NAMES):
            out[f"pitch_class={name}"] = (self.chroma[pc] >= 0.85) & self.voiced
        for i in range(len(self.notes)):
            out[f"pitch={LOW_MIDI + i}"] = (self.notes[i] >= -6.0) & self.voiced
        out["onset"] = _peaks(self.onset)
        for drum, flux in self.drums.items():
            out[f"drum={drum}"] = _peaks(flux)
        return out


def _peaks(strength: np.ndarray, z: float = 2.0) -> np.ndarray:
    """Frames holding (or following) a local maximum above mean + z std."""
    n = len(strength)
    local = (
        np.r_[False, (strength[1:-1] >= strength[:-2]) & (strength[1:-1] >= strength[2:]), False]
        if n > 2
        else np.zeros(n, bool)
    )
    hit = local & (strength > strength.mean() + z * strength.std())
    return hit | np.r_[False, hit[:-1]]


def detect(audio: np.ndarray, rate: int, frame_rate: float, n_frames: int) -> FrameDetections:
    """Run every detector on mono ``audio``; ``n_frames`` frames of ``1 / frame_rate`` s."""
    import librosa

    hop = max(1, round(rate / frame_rate))
    audio = np.asarray(audio, dtype=np.float32)
    spec = np.abs(librosa.stft(audio, n_fft=2048, hop_length=hop))
    chroma = librosa.feature.chroma_stft(S=spec**2, sr=rate, n_chroma=12)
    chroma = chroma / np.maximum(chroma.max(axis=0, keepdims=True), 1e-9)
    cqt = np.abs(
        librosa.cqt(
            audio,
            sr=rate,
            hop_length=_cqt_hop(hop),
            fmin=librosa.midi_to_hz(LOW_MIDI),
            n_bins=HIGH_MIDI - LOW_MIDI + 1,
            bins_per_octave=12,
        )
    )
    cqt = _resample_frames(cqt, spec.shape[1])
    db = librosa.amplitude_to_db(cqt, ref=np.max)
    notes = db - db.max(axis=0, keepdims=True)
    energy = np.sqrt((spec**2).mean(axis=0))
    voiced = energy >= 0.1 * max(float(energy.max()), 1e-9)
    logspec = np.log1p(100 * spec)
    flux = np.maximum(np.diff(logspec, axis=1, prepend=logspec[:, :1]), 0)
    freqs = librosa.fft_frequencies(sr=rate, n_fft=2048)
    drums = {
        d: _norm(flux[(freqs >= lo) & (freqs < hi)].sum(axis=0))
        for d, (lo, hi) in DRUM_BANDS.items()
    }
    detections = FrameDetections(chroma, notes, _norm(flux.sum(axis=0)), drums, voiced)
    return _fit_frames(detections, n_frames)


def _cqt_hop(hop: int) -> int:
    """The CQT needs a hop divisible by 2^(octaves - 1); the nearest such hop is resampled."""
    return max(64, (hop // 64) * 64)


def _resample_frames(x: np.ndarray, n: int) -> np.ndarray:
    idx = np.minimum((np.arange(n) * x.shape[1] / max(n, 1)).astype(int), x.shape[1] - 1)
    return x[:, idx]


def _norm(x: np.ndarray) -> np.ndarray:
    return x / max(float(x.max()), 1e-9)


def _fit_frames(d: FrameDetections, n: int) -> FrameDetections:
    def fit(a: np.ndarray) -> np.ndarray:
        if a.shape[-1] >= n:
            return a[..., :n]
        pad = [(0, 0)] * (a.ndim - 1) + [(0, n - a.shape[-1])]
        return np.pad(a, pad, mode="edge" if a.shape[-1] else "constant")

    return FrameDetections(
        fit(d.chroma),
        fit(d.notes),
        fit(d.onset),
        {k: fit(v) for k, v in d.drums.items()},
        fit(d.voiced),
    )


def concept_strength(audio: np.ndarray, rate: int, concept: str, frame_rate: float = 50.0) -> float:
    """A take's continuous score for ``concept``: mean chroma share of a pitch class, mean
    constant-Q level of a note, mean onset / drum-band flux (the steering judge)."""
    n = max(1, int(len(audio) / rate * frame_rate))
    d = detect(audio, rate, frame_rate, n)
    kind, _, value = concept.partition("=")
    if kind == "pitch_class":
        share = d.chroma / np.maximum(d.chroma.sum(axis=0, keepdims=True), 1e-9)
        return float(share[NOTE_NAMES.index(value)].mean())
    if kind == "pitch":
        return float(d.notes[int(value) - LOW_MIDI].mean())
    if kind == "onset":
        return float(d.onset.mean())
    if kind == "drum":
        return float(d.drums[value].mean())
    raise ValueError(f"no DSP judge for concept {concept!r}")


def has_judge(concept: str) -> bool:
    """Whether ``concept_strength`` can score ``concept`` (notes: within the detector's range)."""
    kind, _, value = concept.partition("=")
    if kind == "pitch":
        return value.isdigit() and LOW_MIDI <= int(value) <= HIGH_MIDI
    return kind in ("pitch_class", "onset", "drum")


def label_text(concept: str) -> str:
    """The label a concept gets: 'pitch class C#', 'note C#4', 'note onsets', 'kick drum'."""
    kind, _, value = concept.partition("=")
    if kind == "pitch_class":
        return f"pitch class {value}"
    if kind == "pitch":
        midi = int(value)
        return f"note {NOTE_NAMES[midi % 12]}{midi // 12 - 1}"
    if kind == "onset":
        return "note onsets"
    if kind == "drum":
        return {"hat": "hi-hat"}.get(value, f"{value} drum")
    return concept


def concept_of_label(text: str) -> str | None:
    """The concept a fine-DSP label names (the inverse of ``label_text``), else None."""
    text = text.strip()
    if text.startswith("pitch class "):
        return f"pitch_class={text.removeprefix('pitch class ')}"
    if text.startswith("note ") and text != "note onsets":
        name = text.removeprefix("note ")
        pc, octave = name.rstrip("-0123456789"), name[len(name.rstrip("-0123456789")) :]
        if pc in NOTE_NAMES and octave:
            return f"pitch={NOTE_NAMES.index(pc) + 12 * (int(octave) + 1)}"
        return None
    if text == "note onsets":
        return "onset"
    drums = {"kick drum": "kick", "snare drum": "snare", "hi-hat": "hat"}
    return f"drum={drums[text]}" if text in drums else None


@dataclass(frozen=True)
class FineSettings:
    active_share: float = 0.5  # a frame is "firing" at >= this share of the clip set's peak
    min_active_frames: int = 10
    min_difference: float = 0.3  # P(concept | firing) - P(concept | silent)
    max_labels: int = 2


class FineConceptMethod:
    """Labelling method (``run_label_job``): the concepts enriched where the feature fires."""

    job = f"label:{SOURCE}"
    needs_baseline = False

    def __init__(self, settings: FineSettings | None = None) -> None:
        self.settings = settings or FineSettings()
        self._cache: dict[ClipKey, dict[str, np.ndarray]] = {}

    def _concepts(self, clip: TopClip) -> dict[str, np.ndarray]:
        key = clip_key(clip)
        if key not in self._cache:
            audio = read_clip(clip, RATE, prefer_snippet=True)
            rate = float(clip.frame_rate or 50.0)
            self._cache[key] = detect(audio, RATE, rate, len(clip.timeline)).concepts()
        return self._cache[key]

    def label(
        self,
        feature_id: int,
        top_clips: Sequence[TopClip],
        baseline: Sequence[BaselineClip],
        cancel: CancelToken | None,
    ) -> list[LabelResult]:
        s = self.settings
        timelines = [np.asarray(c.timeline, dtype=np.float32) for c in top_clips]
        peak = max((float(t.max()) for t in timelines if len(t)), default=0.0)
        if peak <= 0:
            return []
        on_counts: dict[str, int] = {}
        off_counts: dict[str, int] = {}
        n_on = n_off = 0
        for clip, timeline in zip(top_clips, timelines, strict=True):
            check(cancel)
            if not len(timeline):
                continue
            on, off = timeline >= s.active_share * peak, timeline <= 0
            n_on, n_off = n_on + int(on.sum()), n_off + int(off.sum())
            for name, present in self._concepts(clip).items():
                on_counts[name] = on_counts.get(name, 0) + int((present & on).sum())
                off_counts[name] = off_counts.get(name, 0) + int((present & off).sum())
        if n_on < s.min_active_frames or n_off == 0:
            return []
        scored = sorted(
            ((on_counts[c] / n_on - off_counts[c] / n_off, c) for c in on_counts), reverse=True
        )
        return [
            LabelResult(SOURCE, label_text(c), float(diff),
                        {"concept": c, "p_firing": on_counts[c] / n_on,
                         "p_silent": off_counts[c] / n_off, "firing_frames": n_on,
                         "silent_frames": n_off},
                        f"{label_text(c)}: {on_counts[c] / n_on:.0%} of the frames where the "
                        f"feature fires, {off_counts[c] / n_off:.0%} where it is silent")
            for diff, c in scored[: s.max_labels] if diff >= s.min_difference
        ]  # fmt: skip
