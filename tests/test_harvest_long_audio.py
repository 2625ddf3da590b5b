"""Long audio is read block by block: memory does not grow with the file's length."""

from __future__ import annotations

import tracemalloc

import numpy as np
import soundfile as sf

from musae_core.harvest.collection import FileReading, SourceFile, clip_spans, read_clips

FILE_RATE, MODEL_RATE = 4_000, 8_000  # low rates keep a two-hour file at 58 MB on disk


def write_long_tone(path, seconds: int) -> None:
    """A 220 Hz tone written a minute at a time (the test never holds the whole file)."""
    t = np.arange(60 * FILE_RATE) / FILE_RATE
    minute = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    with sf.SoundFile(path, "w", FILE_RATE, 1, subtype="PCM_16") as file:
        for _ in range(seconds // 60):
            file.write(minute)


def test_a_two_hour_file_is_cut_into_clips_in_a_few_megabytes(tmp_path):
    path = tmp_path / "long.wav"
    seconds = 2 * 3600
    write_long_tone(path, seconds)
    reading = FileReading()
    tracemalloc.start()
    try:
        count, last = 0, None
        for span, clip in read_clips(SourceFile(path, "long.wav"), MODEL_RATE, 10.0, 1.0, reading):
            count, last = count + 1, (span, len(clip))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole = seconds * MODEL_RATE * 4  # the file as float32 at the model rate: 230 MB
    print(f"two hours: peak traced {peak / 2**20:.1f} MiB; whole file {whole / 2**20:.0f} MiB")
    assert peak < 8 * 2**20, peak  # one block + one clip (~0.5 MB each); the whole file: 230 MB
    assert count == seconds // 10 and last == (
        clip_spans(seconds * MODEL_RATE, MODEL_RATE, 10.0, 1.0)[-1],
        80_000,
    )
    assert reading.problem == "" and abs(reading.rms - 0.3 / np.sqrt(2)) < 1e-3


def test_clips_match_the_cut_of_the_whole_file_and_damage_is_reported(tmp_path):
    path = tmp_path / "tone.flac"
    t = np.arange(int(2.7 * 44_100)) / 44_100
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), 44_100)
    clips = list(read_clips(SourceFile(path, "tone.flac"), 32_000, 1.0, 0.5))
    spans = clip_spans(round(2.7 * 32_000), 32_000, 1.0, 0.5)
    assert [s for s, _ in clips] == spans and [len(c) for _, c in clips] == [32_000, 32_000, 22_400]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF nonsense")
    reading = FileReading()
    assert list(read_clips(SourceFile(bad, "bad.wav"), 32_000, 1.0, 0.5, reading)) == []
    assert reading.problem.startswith("corrupt: Cannot read audio file")
