"""Zero-shot CLAP tagging: which vocabulary terms describe the top clips better than random clips.

Score of a term = mean cosine(term prompt, top clips) - mean cosine(term prompt, baseline clips).
Subtracting the baseline matters: some prompts sit close to all music and would otherwise win
for every feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musae_core.labeling.clap import ClapEmbedder
from musae_core.labeling.clap_validation import alignment
from musae_core.labeling.results import LabelResult
from musae_core.labeling.vocabulary import Vocabulary

SOURCE = "clap"


@dataclass(frozen=True)
class TaggerSettings:
    """How many tags to keep, the smallest contrast that counts, how many terms to show."""

    top_k: int = 3
    min_score: float = 0.0
    evidence_terms: int = 10


class ClapTagger:
    """Tags against a fixed vocabulary; term embeddings are computed once per tagger."""

    def __init__(self, embedder: ClapEmbedder, vocabulary: Vocabulary) -> None:
        self.embedder = embedder
        self.vocabulary = vocabulary
        self.term_vectors = embedder.embed_text(vocabulary.prompts())

    def tag(
        self,
        top_audio: np.ndarray,
        baseline_audio: np.ndarray,
        settings: TaggerSettings | None = None,
    ) -> list[LabelResult]:
        """Labels for one feature from unit audio embeddings of its top and baseline clips."""
        settings = settings or TaggerSettings()
        rows = []
        for term, vector in zip(self.vocabulary.terms, self.term_vectors, strict=True):
            result = alignment(term.prompt, vector, top_audio, baseline_audio)
            rows.append((term, result))
        rows.sort(key=lambda row: -row[1].clap_score)
        ranking = [
            {
                "term": term.term,
                "category": term.category,
                "score": round(result.clap_score, 6),
                "auroc": round(result.auroc, 4),
            }
            for term, result in rows[: settings.evidence_terms]
        ]
        labels = []
        for rank, (term, result) in enumerate(rows[: settings.top_k], start=1):
            if not result.clap_score > settings.min_score:
                break
            evidence = {
                "clap_model": self.embedder.model_id,
                "term": term.term,
                "category": term.category,
                "prompt": term.prompt,
                "rank": rank,
                "vocabulary_size": len(self.vocabulary),
                **{k: v for k, v in result.as_dict().items() if k != "text"},
                "ranking": ranking,
            }
            labels.append(LabelResult(SOURCE, term.term, result.clap_score, evidence))
        return labels
