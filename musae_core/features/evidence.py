"""One sentence a musician can read for a label's evidence dict.

Labellers store their statistics as JSON (Mann-Whitney U, AUROC, effect sizes, p-values,
classifier means, CLAP contrasts); front ends show this sentence and keep the raw numbers one
click away. AUROC is read as "how often a top clip beats a random clip" in the label's direction (a
"dark" label with AUROC 0.16 on brightness reads "darker than 84 %, AUROC 0.84").
"""

from __future__ import annotations

import math
from typing import Any

# descriptor name -> (word when top clips are higher, word when lower)
COMPARATIVES = {
    "loudness_db": ("louder", "quieter"),
    "brightness_hz": ("brighter", "darker"),
    "tempo_bpm": ("faster", "slower"),
    "onset_rate": ("busier (more note attacks)", "sparser (fewer note attacks)"),
    "register_midi": ("higher pitched", "lower pitched"),
    "dynamic_range_db": ("more dynamic", "more compressed"),
    "percussiveness": ("more percussive", "more sustained"),
    "noisiness": ("noisier", "more tonal"),
}
ALPHA = 0.05


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _p_text(evidence: dict) -> str:
    p = _num(evidence.get("p_adjusted", evidence.get("p_value")))
    if p is None:
        return ""
    shown = f"{p:.0e}" if p < 0.001 else f"{p:.2g}"
    return f"p = {shown}" if p < ALPHA else f"not significant, p = {shown}"


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def _higher(evidence: dict, auroc: float) -> bool:
    return evidence.get("direction", "higher" if auroc >= 0.5 else "lower") == "higher"


def directed_auroc(evidence: dict | None, auroc: float | None = None) -> float | None:
    """The AUROC read in the label's own direction: a descriptor label saying "lower" (a "dark"
    label on brightness) stores P(top clip higher), so its support is 1 - AUROC."""
    evidence = evidence or {}
    auroc = _num(evidence.get("auroc") if auroc is None else auroc)
    if auroc is None:
        return None
    return 1.0 - auroc if "descriptor" in evidence and not _higher(evidence, auroc) else auroc


def _descriptor(evidence: dict) -> str | None:
    auroc = _num(evidence.get("auroc"))
    name = str(evidence.get("descriptor", ""))
    if "category" in evidence:  # categorical: a key or mode more common in the top clips
        top = evidence.get("top_counts") or {}
        base = evidence.get("baseline_counts") or {}
        category = evidence["category"]
        n_top, n_base = sum(top.values()), sum(base.values())
        if not n_top or not n_base:
            return None
        share = 100 * base.get(category, 0) / n_base
        return (
            f"{top.get(category, 0)} of {n_top} top clips are {category} vs {share:.0f} % of "
            f"random clips ({_p_text(evidence)})"
        )
    if auroc is None:
        return None
    higher = _higher(evidence, auroc)
    words = COMPARATIVES.get(name)
    meaning = evidence.get("meaning") or name.replace("_", " ")
    word = words[0 if higher else 1] if words else f"{'higher' if higher else 'lower'} in {meaning}"
    beats = auroc if higher else 1.0 - auroc
    gap = _num(evidence.get("median_gap"))
    unit = evidence.get("median_gap_unit") or evidence.get("unit") or ""
    gap_text = f"median {gap:+.1f} {unit}".rstrip() if gap is not None else ""
    return (
        f"Top clips are {word} than {100 * beats:.0f} % of random clips "
        f"({_join(f'AUROC {beats:.2f}', gap_text, _p_text(evidence))})"
    )


def _classifier(evidence: dict, text: str) -> str | None:
    auroc = _num(evidence.get("auroc"))
    if auroc is None:
        return None
    top, base = _num(evidence.get("mean_top")), _num(evidence.get("mean_baseline"))
    means = f"mean {top:.2f} vs {base:.2f}" if top is not None and base is not None else ""
    model = evidence.get("model")
    who = f"the {model} classifier" if model else "a classifier"
    stats = _join(f"AUROC {auroc:.2f}", means, _p_text(evidence))
    label = evidence.get("class", text)
    return (
        f"Top clips sound more like “{label}” than {100 * auroc:.0f} % "
        f"of random clips to {who} ({stats})"
    )


def _clap(evidence: dict, text: str) -> str | None:
    auroc, score = _num(evidence.get("auroc")), _num(evidence.get("clap_score"))
    if auroc is None:
        return None
    rank, size = evidence.get("rank"), evidence.get("vocabulary_size")
    place = f"rank {rank} of {size} terms" if rank and size else ""
    contrast = f"similarity contrast {score:+.3f}" if score is not None else ""
    prompt = evidence.get("prompt") or evidence.get("term") or text
    return (
        f"CLAP hears “{prompt}” in top clips more than in {100 * auroc:.0f} % of random "
        f"clips ({_join(f'AUROC {auroc:.2f}', contrast, place)})"
    )


def _llm(evidence: dict) -> str:
    model = evidence.get("llm_model", "a language model")
    n = evidence.get("n_clips")
    heard = f" after listening to {n} top clips" if n else ""
    rank = evidence.get("rank")
    return f"Named by {model}{heard}" + (f" (concept {rank} of its answer)" if rank else "")


def _association(evidence: dict, text: str) -> str | None:
    auroc = _num(evidence.get("auroc"))
    if auroc is None:
        return None
    clips, positives = evidence.get("clips"), evidence.get("positives")
    pooling = "peak" if evidence.get("pooling") == "max" else "mean"
    who = evidence.get("tagger") or "the tagger"
    counts = f"{positives} of {clips} clips tagged" if clips and positives else ""
    return (
        f"A clip {who} tags “{text}” has a higher {pooling} activation than an untagged clip "
        f"{100 * auroc:.0f} % of the time ({_join(f'AUROC {auroc:.2f} over every clip', counts)})"
    )


def evidence_sentence(source: str, text: str, evidence: dict | None) -> str:
    """A short plain-language reading of ``evidence`` ("" when there is nothing to say)."""
    evidence = evidence or {}
    sentence = None
    if "llm_model" in evidence:
        sentence = _llm(evidence)
    elif "clap_model" in evidence or source == "clap":
        sentence = _clap(evidence, text)
    elif source == "association":
        sentence = _association(evidence, text)
    elif "descriptor" in evidence:
        sentence = _descriptor(evidence)
    elif "class" in evidence:
        sentence = _classifier(evidence, text)
    if sentence is None:
        auroc = _num(evidence.get("auroc"))
        sentence = (
            (f"Top clips beat random clips {100 * auroc:.0f} % of the time (AUROC {auroc:.2f})")
            if auroc is not None
            else ""
        )
    return sentence
