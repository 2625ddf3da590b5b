"""The demo's factor classifier as a music tagger for `musae label --method classifier`.

It plays the part Essentia's instrument/mood classifiers play for real music (the paper labels
features with such classifiers): every class of every factor head is a tag ("flute", "minor",
"fast tempo", "high register", "loud", "drums", ...), and a feature's labels are the tags that
are over-represented on its top clips against random clips. The classifier only ever sees the
clips' audio, never their ground-truth factors, so labels made with it can be scored against
the truth (``musae demo score``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musae_core.demo.factor_classifier import FactorClassifier
from musae_core.errors import MusaeError

SYNONYMS = {"soft": ("quiet", "soft"), "drums": ("drums", "percussion")}
SUFFIX = {"tempo_band": " tempo", "register": " register"}


def tag_name(factor: str, value: str) -> str:
    """The label text of one factor value: 'flute', 'fast tempo', 'drums', 'no drums'..."""
    if factor == "drums":
        return "drums" if value == "true" else "no drums"
    return f"{value}{SUFFIX.get(factor, '')}"


def label_names_value(text: str, value: str) -> bool:
    """Whether label ``text`` names the factor value 'factor=value'."""
    factor, _, wanted = value.partition("=")
    expected = tag_name(factor, wanted)
    text = text.strip().lower()
    if factor == "mode":  # descriptor keys read "C minor"
        return wanted in text.replace(",", " ").split()
    return text == expected or text in SYNONYMS.get(expected, ())


@dataclass(frozen=True)
class TagMetadata:
    name: str
    classes: tuple[str, ...]
    factors: tuple[str, ...]  # the factor each class belongs to


class FactorTagger:
    """Per-clip tag probabilities: each factor head's class probabilities, concatenated."""

    def __init__(self, classifier: FactorClassifier, name: str = "musae-demo-factors") -> None:
        self.classifier = classifier
        self.sample_rate = classifier.sample_rate
        self.model_name = name
        classes, factors = [], []
        for factor, head in classifier.heads.items():
            classes += [tag_name(factor, c) for c in head.classes]
            factors += [factor] * len(head.classes)
        self.metadata = TagMetadata(name, tuple(classes), tuple(factors))

    @classmethod
    def load(cls, path: str | Path) -> FactorTagger:
        path = Path(path)
        if not path.exists():
            raise MusaeError(
                f"No factor classifier at {path}.", "train one with musae demo features."
            )
        return cls(FactorClassifier.load(path))

    def probabilities(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        probs = self.classifier.probabilities([audio], sample_rate)
        return np.concatenate([probs[f][0] for f in self.classifier.heads]).astype(np.float32)
