"""Generative labels: a multimodal LLM listens to a feature's top clips and names the concept.

The clips are concatenated with short silences into one WAV (the paper's recipe), sent as an
``input_audio`` content part, and the model is asked for a JSON object with concept names,
confidences and a description. Answers are parsed defensively: code fences and chatter around
the object are tolerated, anything that does not fit the schema is rejected, never stored.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken
from musae_core.labeling.llm_client import ChatClient, LLMError, LLMSettings, redact_url
from musae_core.labeling.results import LabelResult

SOURCE = "llm"
GAP_SECONDS = 0.5
MIN_CLIP_SECONDS = 0.5
MAX_NAME_CHARS = 80
MAX_DESCRIPTION_CHARS = 1000
WAV_HEADER_BYTES = 44

PROMPT = (
    "You will hear {n} short music excerpts separated by half a second of silence. All of them "
    "strongly activate the same internal feature of a music generation model. Say which "
    "musical concept they share: an instrument, genre, mood, playing technique, rhythm, "
    "tempo, pitch register, harmony, timbre or production trait.\n"
    "Answer with one JSON object and nothing else, in this form:\n"
    '{{"concepts": [{{"name": "<2 to 5 words>", "confidence": <number from 0 to 1>}}], '
    '"description": "<one or two sentences on what the excerpts share>"}}\n'
    "Give 1 to 3 concepts, most confident first. If they share nothing you can hear, return "
    'an empty "concepts" list.'
)


@dataclass(frozen=True)
class LLMAnswer:
    """A parsed answer: (name, confidence) pairs and a description."""

    concepts: tuple[tuple[str, float], ...]
    description: str


@dataclass(frozen=True)
class AudioBundle:
    """The WAV sent to the model and what went into it."""

    wav: bytes
    seconds: float
    clip_seconds: tuple[float, ...]


def _peak_safe(audio: np.ndarray) -> np.ndarray:
    """Bring each excerpt to a common RMS so a quiet clip is not inaudible next to a loud one."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if rms > 1e-6:
        audio = audio * (0.1 / rms)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def concatenate_clips(
    clips: Sequence[np.ndarray], sample_rate: int, settings: LLMSettings
) -> AudioBundle:
    """One PCM16 WAV of the clips with silences between, within the seconds and bytes budget.

    Each clip is cut to an equal share of the budget rather than dropping clips, so the model
    hears every top clip.
    """
    if not clips:
        raise MusaeError("The LLM labeller got no clips.", "check the feature has top clips.")
    rate = settings.audio_rate
    bytes_seconds = (settings.max_audio_bytes - WAV_HEADER_BYTES) / (2 * rate)
    budget = min(settings.max_audio_seconds, bytes_seconds) - GAP_SECONDS * (len(clips) - 1)
    share = budget / len(clips)
    if share < MIN_CLIP_SECONDS:
        raise MusaeError(
            f"The LLM audio budget ({settings.max_audio_seconds:g} s, "
            f"{settings.max_audio_bytes} bytes) leaves under {MIN_CLIP_SECONDS} s per clip for "
            f"{len(clips)} clips.",
            "raise --llm-max-audio-seconds / the byte limit, or label with fewer top clips.",
        )
    gap = np.zeros(int(GAP_SECONDS * rate), np.float32)
    pieces: list[np.ndarray] = []
    lengths = []
    for index, clip in enumerate(clips):
        audio = np.asarray(clip, dtype=np.float32)
        audio = audio.mean(axis=0) if audio.ndim == 2 else audio
        if sample_rate != rate:
            audio = soxr.resample(audio, sample_rate, rate).astype(np.float32)
        audio = _peak_safe(audio[: int(share * rate)])
        if index:
            pieces.append(gap)
        pieces.append(audio)
        lengths.append(round(audio.size / rate, 3))
    joined = np.concatenate(pieces)
    buffer = io.BytesIO()
    sf.write(buffer, joined, rate, subtype="PCM_16", format="WAV")
    wav = buffer.getvalue()
    if len(wav) > settings.max_audio_bytes:  # cannot happen with the share above; a guard
        raise MusaeError("The LLM audio exceeds the byte limit.", "lower the audio budget.")
    return AudioBundle(wav, joined.size / rate, tuple(lengths))


def build_messages(bundle: AudioBundle, n_clips: int) -> list[dict[str, Any]]:
    """OpenAI chat-completions messages with the WAV as an ``input_audio`` part."""
    data = base64.b64encode(bundle.wav).decode("ascii")
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": PROMPT.format(n=n_clips)},
                {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}},
            ],
        }
    ]


def _json_objects(text: str) -> list[Any]:
    """Every JSON value that starts at a '{' in ``text`` (fences and chatter skipped)."""
    decoder = json.JSONDecoder()
    found = []
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        found.append(value)
    return found


def _confidence(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip().rstrip("%")
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not np.isfinite(value):
        return None
    if 1.0 < value <= 100.0:  # a percentage
        value = value / 100.0
    return float(value) if 0.0 <= value <= 1.0 else None


def _name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    name = " ".join(value.split())
    if not name or len(name) > MAX_NAME_CHARS or not re.search(r"[^\W\d_]", name):
        return None
    return name


def _concepts(obj: dict) -> list | None:
    for key in ("concepts", "labels", "concept_names", "tags"):
        if isinstance(obj.get(key), list):
            return obj[key]
    if _name(obj.get("name")) is not None:  # a single concept at the top level
        return [obj]
    return None


def parse_answer(text: str) -> LLMAnswer:
    """Parse the model's text; raise ``LLMError`` when no object fits the schema."""
    for obj in _json_objects(text):
        if not isinstance(obj, dict):
            continue
        items = _concepts(obj)
        if items is None:
            continue
        concepts = []
        for item in items:
            entry = item if isinstance(item, dict) else {"name": item}
            name = _name(entry.get("name", entry.get("concept", entry.get("label"))))
            confidence = _confidence(entry.get("confidence", entry.get("score")))
            if name is not None and confidence is not None:
                concepts.append((name, confidence))
        if items and not concepts:
            continue  # a list of junk is not an answer
        description = obj.get("description", "")
        description = " ".join(description.split()) if isinstance(description, str) else ""
        return LLMAnswer(tuple(concepts), description[:MAX_DESCRIPTION_CHARS])
    raise LLMError(
        f"The LLM answer is not the requested JSON object: {text[:120]!r}.",
        "use a model that follows JSON instructions; the feature is retried on the next run.",
    )


class LLMLabeller:
    """Labels features through a ``ChatClient``; one instance per job (it owns the budget)."""

    def __init__(self, client: ChatClient, parse_retries: int = 1) -> None:
        self.client = client
        self.parse_retries = parse_retries

    def label(
        self,
        clips: Sequence[np.ndarray],
        sample_rate: int,
        clip_info: Sequence[dict[str, Any]] = (),
        cancel: CancelToken | None = None,
    ) -> list[LabelResult]:
        """Ask the model about ``clips``; a garbled answer is asked again ``parse_retries``
        times before the feature fails."""
        settings = self.client.settings
        bundle = concatenate_clips(clips, sample_rate, settings)
        messages = build_messages(bundle, len(clips))
        error: LLMError | None = None
        for _ in range(self.parse_retries + 1):
            text = self.client.complete(messages, cancel=cancel)
            try:
                answer = parse_answer(text)
                break
            except LLMError as exc:
                error = exc
        else:
            assert error is not None
            raise LLMError(self.client.redact(error.problem), error.fix)
        evidence_base = {
            "llm_model": settings.model,
            "endpoint": redact_url(settings.endpoint),
            "n_clips": len(clips),
            "audio_seconds": round(bundle.seconds, 3),
            "clip_seconds": list(bundle.clip_seconds),
            "clips": list(clip_info),
            "concepts": [{"name": n, "confidence": c} for n, c in answer.concepts],
        }
        return [
            LabelResult(
                SOURCE, name, confidence, {**evidence_base, "rank": rank}, answer.description
            )
            for rank, (name, confidence) in enumerate(answer.concepts, start=1)
        ]
