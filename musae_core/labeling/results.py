"""What every labeller returns: label text, a score and the evidence behind it.

Labellers stay pure (clips in, ``LabelResult`` out) so they can be tested without a feature
database; the job layer (``musae_core.labeling.label_job``) is the only code that stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LabelResult:
    """One candidate label for one feature.

    ``source`` names the labeller ("descriptor", "clap", "llm", "essentia"); ``score`` is the
    labeller's own strength (effect size, similarity contrast, confidence); ``evidence`` is a
    JSON-serialisable dict with the numbers that justify the label.
    """

    source: str
    text: str
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)
    description: str = ""
