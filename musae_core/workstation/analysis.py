"""Display-ready views of audio: log-frequency spectrograms and peak-downsampled waveforms.

Computed in the engine (numpy only) so the GUI just draws arrays, and off the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Spectrogram:
    """``db`` is (frames, bins) in dB (for pyqtgraph's ImageItem x-major layout)."""

    db: np.ndarray
    hop_seconds: float
    freqs: np.ndarray  # centre frequency of each log-spaced bin
    duration: float

    @property
    def floor_db(self) -> float:
        return float(self.db.min()) if self.db.size else -80.0


def spectrogram(
    audio: np.ndarray,
    sample_rate: int,
    n_fft: int = 1024,
    hop: int = 256,
    n_bins: int = 96,
    fmin: float = 40.0,
    floor_db: float = -80.0,
) -> Spectrogram:
    """Magnitude STFT resampled onto ``n_bins`` log-spaced frequencies, in dB re the maximum."""
    x = np.asarray(audio, dtype=np.float32)
    x = x.mean(axis=0) if x.ndim == 2 else x
    duration = x.shape[0] / sample_rate
    if x.shape[0] < n_fft:
        x = np.pad(x, (0, n_fft - x.shape[0]))
    n_frames = 1 + (x.shape[0] - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = x[idx] * np.hanning(n_fft).astype(np.float32)[None, :]
    mag = np.abs(np.fft.rfft(frames, axis=1))
    lin = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    fmax = sample_rate / 2
    freqs = np.geomspace(fmin, fmax, n_bins)
    mapped = np.stack([np.interp(freqs, lin, row) for row in mag]) if n_frames else mag
    ref = max(float(mapped.max()), 1e-9) if mapped.size else 1.0
    db = 20 * np.log10(np.maximum(mapped / ref, 10 ** (floor_db / 20)))
    return Spectrogram(db.astype(np.float32), hop / sample_rate, freqs, duration)


def waveform_peaks(
    audio: np.ndarray, sample_rate: int, buckets: int = 2000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, mins, maxs) with at most ``buckets`` points: fast to draw at any length."""
    x = np.asarray(audio, dtype=np.float32)
    x = x.mean(axis=0) if x.ndim == 2 else x
    n = x.shape[0]
    if n == 0:
        empty = np.zeros(0, np.float32)
        return empty, empty, empty
    size = max(1, int(np.ceil(n / buckets)))
    pad = (-n) % size
    blocks = np.pad(x, (0, pad)).reshape(-1, size)
    times = (np.arange(blocks.shape[0]) * size) / sample_rate
    return times, blocks.min(axis=1), blocks.max(axis=1)
