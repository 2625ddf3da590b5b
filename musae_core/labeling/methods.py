"""Adapters from a feature's ``TopClip`` records to each labeller, with per-job caches.

Baseline clips are shared by every feature of a job, so their descriptors and CLAP embeddings
are computed once and kept; top-clip results are cached too because a clip can top several
features.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from musae_core.errors import MusaeError
from musae_core.features.records import TopClip
from musae_core.jobs import CancelToken, check
from musae_core.labeling.clap import ClapEmbedder
from musae_core.labeling.clap_tagger import ClapTagger, TaggerSettings
from musae_core.labeling.clap_validation import ClapAlignment, validate_texts
from musae_core.labeling.clip_audio import BaselineClip, ClipKey, clip_key, read_clip
from musae_core.labeling.descriptor_labeler import DescriptorThresholds, descriptor_labels
from musae_core.labeling.descriptors import DESCRIPTOR_RATE, describe
from musae_core.labeling.llm_labeler import LLMLabeller
from musae_core.labeling.results import LabelResult

log = logging.getLogger(__name__)
CACHE_SIZE = 2048


class FeatureMethod(Protocol):
    """One labelling method as the job loop sees it."""

    job: str
    needs_baseline: bool

    def label(
        self,
        feature_id: int,
        top_clips: Sequence[TopClip],
        baseline: Sequence[BaselineClip],
        cancel: CancelToken | None,
    ) -> list[LabelResult]: ...


class ClipCache:
    """Per-clip results keyed by (source, start); bounded so a long job cannot grow forever."""

    def __init__(self, compute: Callable[[Any], Any], size: int = CACHE_SIZE) -> None:
        self._compute = compute
        self._size = size
        self._items: OrderedDict[ClipKey, Any] = OrderedDict()

    def get(self, clip: Any) -> Any:
        key = clip_key(clip)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self._compute(clip)
        self._items[key] = value
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return value

    def baseline(self, pool: Sequence[BaselineClip], cancel: CancelToken | None) -> list[Any]:
        """Results for baseline clips; unreadable ones are skipped (logged), not fatal."""
        values = []
        for item in pool:
            check(cancel)
            try:
                values.append(self.get(item.clip))
            except MusaeError as exc:
                log.warning("baseline clip skipped: %s", exc.problem)
        return values


def clip_info(clips: Sequence[TopClip]) -> list[dict[str, Any]]:
    """Which clips a label was computed from (for the evidence)."""
    return [
        {
            "rank": c.rank,
            "source": clip_key(c)[0],
            "clip_start": clip_key(c)[1],
            "mean_activation": c.mean_activation,
        }
        for c in clips
    ]


class DescriptorMethod:
    """DSP descriptors of top vs baseline clips -> significant descriptor labels."""

    job = "label:descriptors"
    needs_baseline = True

    def __init__(self, thresholds: DescriptorThresholds | None = None) -> None:
        self.thresholds = thresholds or DescriptorThresholds()
        self.cache = ClipCache(
            lambda clip: describe(read_clip(clip, DESCRIPTOR_RATE), DESCRIPTOR_RATE)
        )

    def label(self, feature_id, top_clips, baseline, cancel) -> list[LabelResult]:
        top = []
        for clip in top_clips:
            check(cancel)
            top.append(self.cache.get(clip))
        base = self.cache.baseline(baseline, cancel)
        return descriptor_labels(top, base, self.thresholds)


class EmbeddingCache(ClipCache):
    """CLAP audio embeddings of clips, shared by tagging and validation in one job."""

    def __init__(self, embedder: ClapEmbedder) -> None:
        self.embedder = embedder
        super().__init__(self._embed)

    def _embed(self, clip: Any) -> np.ndarray:
        audio = read_clip(clip, self.embedder.sample_rate)
        return self.embedder.embed_audio([audio], self.embedder.sample_rate)[0]

    def matrix(self, clips: Sequence[Any], cancel: CancelToken | None) -> np.ndarray:
        rows = []
        for clip in clips:
            check(cancel)
            rows.append(self.get(clip))
        return np.stack(rows) if rows else np.zeros((0, self.embedder.dim), np.float32)

    def baseline_matrix(self, pool: Sequence[BaselineClip], cancel) -> np.ndarray:
        rows = self.baseline(pool, cancel)
        return np.stack(rows) if rows else np.zeros((0, self.embedder.dim), np.float32)


class ClapMethod:
    """Zero-shot tags from the vocabulary, scored against the baseline."""

    needs_baseline = True

    def __init__(
        self, tagger: ClapTagger, cache: EmbeddingCache, settings: TaggerSettings | None = None
    ) -> None:
        self.tagger = tagger
        self.cache = cache
        self.settings = settings or TaggerSettings()
        self.job = f"label:clap:{tagger.embedder.model_id}"

    def label(self, feature_id, top_clips, baseline, cancel) -> list[LabelResult]:
        top = self.cache.matrix(top_clips, cancel)
        base = self.cache.baseline_matrix(baseline, cancel)
        if len(base) == 0:
            raise MusaeError("No readable baseline clips.", "check the audio paths in the DB.")
        return self.tagger.tag(top, base, self.settings)


class LLMMethod:
    """The multimodal LLM listens to the top clips (snippets preferred: shorter, cheaper)."""

    needs_baseline = False

    def __init__(self, labeller: LLMLabeller) -> None:
        self.labeller = labeller
        self.job = f"label:llm:{labeller.client.settings.model}"

    @property
    def secret(self) -> str:
        """The API key, so the job can scrub it from anything it records."""
        return self.labeller.client.settings.api_key

    def label(self, feature_id, top_clips, baseline, cancel) -> list[LabelResult]:
        rate = self.labeller.client.settings.audio_rate
        audio = [read_clip(c, rate, prefer_snippet=True) for c in top_clips]
        return self.labeller.label(audio, rate, clip_info(top_clips), cancel=cancel)


class TaggerMethod:
    """A clip classifier (an Essentia model, the demo's factor classifier...): its classes
    over-represented on the top clips, against the baseline, become labels.

    ``tagger`` needs ``probabilities(audio, rate) -> (n_classes,)``, ``metadata.classes``,
    ``model_name`` and ``sample_rate``; ``source`` names the labels' origin in the database."""

    needs_baseline = True

    def __init__(self, tagger: Any, top_k: int = 3, source: str = "essentia") -> None:
        self.tagger = tagger
        self.top_k = top_k
        self.source = source
        self.job = f"label:{source}:{tagger.model_name}"
        rate = tagger.sample_rate
        self.cache = ClipCache(lambda clip: tagger.probabilities(read_clip(clip, rate), rate))

    def label(self, feature_id, top_clips, baseline, cancel) -> list[LabelResult]:
        from musae_core.labeling.taggers import contrast_labels

        top = np.stack([self.cache.get(c) for c in top_clips])
        base_rows = self.cache.baseline(baseline, cancel)
        if not base_rows:
            raise MusaeError("No readable baseline clips.", "check the audio paths in the DB.")
        classes = self.tagger.metadata.classes
        return contrast_labels(
            top,
            np.stack(base_rows),
            classes,
            self.tagger.model_name,
            self.top_k,
            source=self.source,
        )


class ClapValidator:
    """CLAP alignment of label texts with a feature's top clips vs the baseline."""

    def __init__(self, cache: EmbeddingCache) -> None:
        self.cache = cache

    @property
    def model_id(self) -> str:
        return self.cache.embedder.model_id

    def validate(
        self,
        texts: Sequence[str],
        top_clips: Sequence[Any],
        baseline: Sequence[BaselineClip],
        cancel: CancelToken | None,
    ) -> list[ClapAlignment]:
        top = self.cache.matrix(top_clips, cancel)
        base = self.cache.baseline_matrix(baseline, cancel)
        return validate_texts(self.cache.embedder, texts, top, base)
