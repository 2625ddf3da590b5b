"""Short audio snippets of top clips, cached beside the database for offline listening.

A snippet is cut from the source file around the clip's best window (soundfile seeks, so only
the snippet is read) and written as FLAC. Many features share clips, so snippets are named by
source, clip and window and written once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from musae_core.jobs import CancelToken, ProgressFn, check

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnippetRequest:
    """Audio to cut: ``seconds`` from ``start`` (absolute seconds in the source file)."""

    source: str
    start: float
    seconds: float


SNIPPET_FORMATS = ("flac", "opus")
OPUS_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
OPUS_COMPRESSION = 0.95  # about 20 kbit/s at 16 kHz mono: small enough to ship a clip library


def snippet_name(
    source_id: int, clip_index: int, first_frame: int, last_frame: int, fmt: str = "flac"
) -> str:
    return f"s{source_id:06d}-c{clip_index:05d}-f{first_frame}-{last_frame}.{fmt}"


def snippet_span(
    window: tuple[float, float], clip_seconds: float, snippet_seconds: float
) -> tuple[float, float]:
    """A ``snippet_seconds`` span (within the clip) centred on the best window."""
    length = min(max(snippet_seconds, window[1] - window[0]), clip_seconds)
    centre = 0.5 * (window[0] + window[1])
    start = min(max(0.0, centre - length / 2), max(0.0, clip_seconds - length))
    return start, start + length


def write_snippet(request: SnippetRequest, target: Path) -> None:
    """Cut the snippet and write it through a temporary name: FLAC (16-bit, lossless) or, for a
    ``.opus`` target, Ogg Opus (lossy, ~8x smaller; for databases that ship with their audio)."""
    with sf.SoundFile(request.source) as handle:
        rate = handle.samplerate
        first = max(0, round(request.start * rate))
        if first >= handle.frames:
            raise ValueError(f"start {request.start:.2f} s is past the end of the file")
        handle.seek(first)
        audio = handle.read(max(1, round(request.seconds * rate)), dtype="float32")
    if not len(audio) or not np.isfinite(audio).all():
        raise ValueError("no finite audio in the snippet span")
    tmp = target.with_name(f".{target.name}.part")
    audio = np.clip(audio, -1.0, 1.0)
    if target.suffix == ".opus":
        if rate not in OPUS_RATES:
            raise ValueError(f"Opus needs one of {OPUS_RATES} Hz, the source is {rate} Hz")
        sf.write(
            str(tmp), audio, rate, format="OGG", subtype="OPUS", compression_level=OPUS_COMPRESSION
        )
    else:
        sf.write(str(tmp), audio, rate, format="FLAC", subtype="PCM_16")
    tmp.replace(target)


def write_snippets(
    requests: dict[str, SnippetRequest],
    folder: Path,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[int, list[str]]:
    """Write every requested snippet into ``folder``; returns (written, problems)."""
    folder.mkdir(parents=True, exist_ok=True)
    written, problems = 0, []
    for index, (name, request) in enumerate(sorted(requests.items())):
        check(cancel)
        target = folder / name
        if not target.is_file():
            try:
                write_snippet(request, target)
                written += 1
            except (OSError, RuntimeError, ValueError, sf.LibsndfileError) as exc:
                problems.append(f"{request.source}: {exc}")
                log.warning("no snippet for %s at %.2f s: %s", request.source, request.start, exc)
        if progress is not None:
            progress(index + 1, len(requests))
    return written, problems
