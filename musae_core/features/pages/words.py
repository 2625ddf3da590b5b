"""Labels and steering outcomes said in words for readers who do not know the statistics."""

from __future__ import annotations

import math

SOURCES = {
    "descriptor": "DSP descriptors",
    "descriptors": "DSP descriptors",
    "clap": "CLAP zero-shot tagging",
    "llm": "a multimodal language model",
    "classifier": "the demo's factor classifier",
}


def _strength(auroc: float | None) -> str:
    if auroc is None or not math.isfinite(auroc):
        return "Unvalidated"
    if auroc >= 0.8:
        return "Strong evidence"
    if auroc >= 0.65:
        return "Moderate evidence"
    return "Weak evidence"


def label_sentence(label) -> str:
    """'Strong evidence: ... (score 0.60; AUROC 0.83 ...)' for one ``Label``.

    A descriptor label that says "lower" stores the AUROC of top clips being *higher*, so its
    evidence is read the other way round (1 - AUROC, |d|)."""
    evidence = label.evidence or {}
    auroc = label.auroc if label.auroc is not None else evidence.get("auroc")
    lower = evidence.get("direction") == "lower"
    if auroc is not None:
        auroc = float(auroc)
        auroc = (1.0 - auroc if lower else auroc) if math.isfinite(auroc) else None
    who = SOURCES.get(label.source, label.source)
    parts = [f"score {label.score:.2f}"]
    if "meaning" in evidence and "direction" in evidence:
        parts.append(f"{evidence['direction']} {evidence['meaning']} than other clips")
    if auroc is not None:
        parts.append(f"top clips vs. other clips AUROC {auroc:.2f}")
    if label.clap_score is not None:
        parts.append(f"CLAP validation {label.clap_score:.2f}")
    if "cohens_d" in evidence:
        parts.append(f"effect size |d| = {abs(float(evidence['cohens_d'])):.2f}")
    return (
        f"{_strength(auroc)}: \u201c{label.text}\u201d in this feature's top clips, "
        f"according to {who} ({'; '.join(parts)})."
    )


def steering_sentence(record) -> str:
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
