"""CLAP alignment of a label: does its text sit closer to the top clips than to random clips?

Reported for every label whatever its source, as a contrast score (mean cosine on top clips
minus mean cosine on baseline clips) and an AUROC (how well cosine separates top from baseline).
A label whose text CLAP cannot tell apart from random music is probably not what it says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from musae_core.errors import MusaeError
from musae_core.labeling.clap import ClapEmbedder
from musae_core.labeling.contrast_stats import compare


@dataclass(frozen=True)
class ClapAlignment:
    """Alignment numbers of one text against top and baseline clip embeddings."""

    text: str
    clap_score: float
    auroc: float
    p_value: float
    mean_top: float
    mean_baseline: float
    n_top: int
    n_baseline: int

    def as_dict(self) -> dict[str, float | int | str | None]:
        def num(value: float) -> float | None:
            return float(value) if math.isfinite(value) else None

        return {
            "text": self.text,
            "clap_score": num(self.clap_score),
            "auroc": num(self.auroc),
            "p_value": num(self.p_value),
            "mean_top": num(self.mean_top),
            "mean_baseline": num(self.mean_baseline),
            "n_top": self.n_top,
            "n_baseline": self.n_baseline,
        }


def cosine_to(text_vector: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """Cosine similarity of one unit text vector with each unit audio row."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1, text_vector.shape[-1])
    return audio @ np.asarray(text_vector, dtype=np.float32)


def alignment(
    text: str, text_vector: np.ndarray, top_audio: np.ndarray, baseline_audio: np.ndarray
) -> ClapAlignment:
    """Contrast and AUROC of one text embedding against top vs baseline audio embeddings."""
    if len(top_audio) == 0 or len(baseline_audio) == 0:
        raise MusaeError(
            "CLAP validation needs at least one top clip and one baseline clip.",
            "check the feature has top clips and the database holds other features.",
        )
    top = cosine_to(text_vector, top_audio)
    base = cosine_to(text_vector, baseline_audio)
    ranks = compare(top, base)
    return ClapAlignment(
        text=text,
        clap_score=float(top.mean() - base.mean()),
        auroc=ranks.auroc,
        p_value=ranks.p_value,
        mean_top=float(top.mean()),
        mean_baseline=float(base.mean()),
        n_top=len(top),
        n_baseline=len(base),
    )


def validate_texts(
    embedder: ClapEmbedder,
    texts: Sequence[str],
    top_audio: np.ndarray,
    baseline_audio: np.ndarray,
) -> list[ClapAlignment]:
    """Alignment of each label text, given precomputed audio embeddings (one pass per feature)."""
    vectors = embedder.embed_text(list(texts))
    return [
        alignment(text, vector, top_audio, baseline_audio)
        for text, vector in zip(texts, vectors, strict=True)
    ]
