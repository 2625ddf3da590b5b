"""Descriptor labels: a DSP descriptor whose values on the top clips differ strongly from baseline.

Numeric descriptors use a two-sided Mann-Whitney U test with rank-biserial effect size; mode
and tonic use Fisher's exact test on counts. p-values are Bonferroni-corrected over all tests
made for the feature, so ten descriptors do not give ten chances of a lucky label.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from musae_core.labeling.contrast_stats import (
    bonferroni,
    compare,
    compare_proportions,
    finite_values,
)
from musae_core.labeling.descriptors import NUMERIC_DESCRIPTORS
from musae_core.labeling.results import LabelResult

SOURCE = "descriptor"

Descriptors = Mapping[str, float | str]


@dataclass(frozen=True)
class DescriptorThresholds:
    """When a difference becomes a label: corrected p below ``alpha`` and a large effect."""

    alpha: float = 0.01
    min_rank_biserial: float = 0.5
    min_proportion_difference: float = 0.4
    min_top: int = 4
    min_baseline: int = 8


def _summary(values: np.ndarray) -> dict[str, float | int | None]:
    if len(values) == 0:
        return {"n": 0, "median": None, "q25": None, "q75": None, "mean": None}
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return {
        "n": len(values),
        "median": float(median),
        "q25": float(q25),
        "q75": float(q75),
        "mean": float(values.mean()),
    }


def _numeric_labels(
    top: Sequence[Descriptors],
    baseline: Sequence[Descriptors],
    n_tests: int,
    limits: DescriptorThresholds,
) -> list[LabelResult]:
    labels = []
    for spec in NUMERIC_DESCRIPTORS:
        a = finite_values([d.get(spec.name, math.nan) for d in top])
        b = finite_values([d.get(spec.name, math.nan) for d in baseline])
        if len(a) < limits.min_top or len(b) < limits.min_baseline:
            continue
        result = compare(a, b)
        p_adjusted = bonferroni(result.p_value, n_tests)
        effect = result.rank_biserial
        gap = spec.gap(float(np.median(a)), float(np.median(b)))
        if not (
            p_adjusted < limits.alpha
            and abs(effect) >= limits.min_rank_biserial
            and abs(gap) >= spec.min_gap
            and gap * effect > 0
        ):
            continue
        text = spec.high_label if effect > 0 else spec.low_label
        evidence = {
            "descriptor": spec.name,
            "meaning": spec.meaning,
            "unit": spec.unit,
            "direction": "higher" if effect > 0 else "lower",
            "test": "mann-whitney-u two-sided",
            **result.as_dict(),
            "p_adjusted": p_adjusted,
            "n_tests": n_tests,
            "median_gap": gap,
            "median_gap_unit": "octaves" if spec.log_scale else spec.unit,
            "top": {**_summary(a), "values": [round(float(v), 4) for v in a]},
            "baseline": _summary(b),
        }
        labels.append(LabelResult(SOURCE, text, abs(effect), evidence))
    return labels


def _categorical_label(
    key: str,
    top: Sequence[Descriptors],
    baseline: Sequence[Descriptors],
    n_tests: int,
    limits: DescriptorThresholds,
    text_for: str,
) -> LabelResult | None:
    """Test the most common category among the top clips against its baseline frequency."""
    top_values = [str(d.get(key, "")) for d in top if d.get(key)]
    base_values = [str(d.get(key, "")) for d in baseline if d.get(key)]
    if len(top_values) < limits.min_top or len(base_values) < limits.min_baseline:
        return None
    category, hits = Counter(top_values).most_common(1)[0]
    base_hits = sum(v == category for v in base_values)
    result = compare_proportions(
        hits, len(top_values), base_hits, len(base_values), alternative="greater"
    )
    p_adjusted = bonferroni(result.p_value, n_tests)
    if not (p_adjusted < limits.alpha and result.difference >= limits.min_proportion_difference):
        return None
    evidence = {
        "descriptor": key,
        "category": category,
        "test": "fisher-exact one-sided (more often in top clips)",
        **result.as_dict(),
        "p_adjusted": p_adjusted,
        "n_tests": n_tests,
        "top_counts": dict(Counter(top_values)),
        "baseline_counts": dict(Counter(base_values)),
    }
    return LabelResult(SOURCE, text_for.format(category), result.difference, evidence)


def descriptor_labels(
    top: Sequence[Descriptors],
    baseline: Sequence[Descriptors],
    thresholds: DescriptorThresholds | None = None,
) -> list[LabelResult]:
    """Labels for a feature from descriptors of its top clips and of baseline clips.

    Returns labels sorted by effect size; an empty list means nothing stands out.
    """
    limits = thresholds or DescriptorThresholds()
    n_tests = len(NUMERIC_DESCRIPTORS) + 2  # + mode + tonic
    labels = _numeric_labels(top, baseline, n_tests, limits)
    for key, text in (("mode", "{} mode"), ("tonic", "key of {}")):
        label = _categorical_label(key, top, baseline, n_tests, limits, text)
        if label is not None:
            labels.append(label)
    return sorted(labels, key=lambda label: -label.score)
