"""Labels and steering outcomes said in words for readers who do not know the statistics."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from musae_core.features.evidence import directed_auroc, evidence_sentence

if TYPE_CHECKING:
    from musae_core.features.records import Label, SteeringRecord

SOURCES = {
    "descriptor": "DSP descriptors",
    "descriptors": "DSP descriptors",
    "clap": "CLAP zero-shot tagging",
    "llm": "a multimodal language model",
    "classifier": "the demo's factor classifier",
    "association": "a tagger over every clip",
}


def _strength(auroc: float | None) -> str:
    if auroc is None or not math.isfinite(auroc):
        return "Unvalidated"
    if auroc >= 0.8:
        return "Strong evidence"
    if auroc >= 0.65:
        return "Moderate evidence"
    return "Weak evidence"


def label_sentence(label: Label) -> str:
    """'Strong evidence: “dark”, from DSP descriptors (score 0.60): Top clips are darker than 99 %
    of random clips (AUROC 0.99, ...).' for one ``Label``.

    The reading of the evidence is ``evidence_sentence``'s, the one the inspector shows. The
    strength word uses the validation AUROC when the label has one, else the evidence's AUROC in
    the label's own direction (a "lower" descriptor label reads 1 - AUROC)."""
    auroc = label.auroc if label.auroc is not None else directed_auroc(label.evidence)
    who = SOURCES.get(label.source, label.source)
    details = [f"score {label.score:.2f}"]
    if label.clap_score is not None:
        details.append(f"CLAP validation {label.clap_score:.2f}")
    head = f"{_strength(auroc)}: \u201c{label.text}\u201d, from {who} ({'; '.join(details)})"
    reading = evidence_sentence(label.source, label.text, label.evidence)
    return f"{head}: {reading}." if reading else f"{head}."


def steering_sentence(record: SteeringRecord | None) -> str:
    """The recorded verdict of ``musae eval-steering`` (a ``SteeringRecord``) or its absence."""
    if record is None:
        return "Steering was not evaluated for this feature."
    evidence = record.evidence or {}
    label = evidence.get("label", "its label")
    pairs = evidence.get("n_pairs")
    verdict = "moves" if record.steers else "does not measurably move"
    effect = "" if record.effect is None else f", paired effect d_z = {record.effect:.2f}"
    over = f" over {pairs} paired takes" if pairs else ""
    return f"Steering this feature {verdict} takes toward \u201c{label}\u201d{over}{effect}."
