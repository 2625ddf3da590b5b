"""Audio loading and writing: resampling, mono, clear errors for bad files, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from musae_core.audio.io import load_audio, write_take_files, write_wav
from musae_core.errors import MusaeError


def test_load_resamples_and_mixes_to_mono(tmp_path):
    t = np.arange(44_100) / 44_100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    sf.write(tmp_path / "a.flac", stereo, 44_100)
    audio = load_audio(tmp_path / "a.flac", 32_000)
    assert audio.dtype == np.float32 and audio.shape == (32_000,)
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * 32_000 / len(audio) - 440) < 2


@pytest.mark.parametrize(
    "content, message", [(b"not audio at all", "Cannot read"), (None, "empty")]
)
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content is None:
        sf.write(path, np.zeros((0, 1)), 16_000)
    else:
        path.write_bytes(content)
    with pytest.raises(MusaeError, match=message) as info:
        load_audio(path, 32_000)
    assert str(path) in str(info.value)


def test_write_refuses_nan_and_leaves_nothing(tmp_path):
    with pytest.raises(MusaeError, match="NaN"):
        write_wav(tmp_path / "x.wav", np.full(100, np.nan), 32_000)
    assert list(tmp_path.iterdir()) == []


def test_take_files_round_trip(tmp_path):
    audio = np.sin(np.linspace(0, 100, 32_000)).astype(np.float32)[None] * 0.3
    wav, meta = write_take_files(tmp_path / "t.wav", audio, 32_000, {"seed": 1})
    data, rate = sf.read(wav)
    assert rate == 32_000 and np.allclose(data, audio[0], atol=1e-4)
    assert meta.read_text().strip().startswith("{")
