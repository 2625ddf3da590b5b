"""Two-sample comparisons shared by every labeller: top clips against a random baseline.

Rank statistics are used throughout because ten top clips are too few to trust normality;
Cohen's d is reported beside them because people read it more easily.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats


@dataclass(frozen=True)
class RankComparison:
    """Mann-Whitney U of ``top`` vs ``baseline``; ``auroc`` = P(top > baseline), ties half."""

    n_top: int
    n_baseline: int
    u: float
    p_value: float
    auroc: float
    rank_biserial: float
    cohens_d: float

    def as_dict(self) -> dict[str, float | None]:  # None: not finite
        return {
            "n_top": self.n_top,
            "n_baseline": self.n_baseline,
            "U": _finite(self.u),
            "p_value": _finite(self.p_value),
            "auroc": _finite(self.auroc),
            "rank_biserial": _finite(self.rank_biserial),
            "cohens_d": _finite(self.cohens_d),
        }


def _finite(value: float) -> float | None:
    """JSON has no NaN: store None instead."""
    return float(value) if math.isfinite(value) else None


def finite_values(values: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def cohens_d(top: np.ndarray, baseline: np.ndarray) -> float:
    """Standardised mean difference with the pooled standard deviation (nan if undefined)."""
    n1, n2 = len(top), len(baseline)
    if n1 < 2 or n2 < 2:
        return math.nan
    pooled = ((n1 - 1) * top.var(ddof=1) + (n2 - 1) * baseline.var(ddof=1)) / (n1 + n2 - 2)
    diff = float(top.mean() - baseline.mean())
    if pooled <= 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / math.sqrt(pooled)


def compare(top: npt.ArrayLike, baseline: npt.ArrayLike) -> RankComparison:
    """Two-sided Mann-Whitney U test with AUROC and rank-biserial effect (non-finite dropped)."""
    a, b = finite_values(top), finite_values(baseline)
    if len(a) == 0 or len(b) == 0:
        return RankComparison(len(a), len(b), math.nan, math.nan, math.nan, math.nan, math.nan)
    if np.ptp(np.concatenate([a, b])) == 0:  # all equal: no evidence either way
        return RankComparison(len(a), len(b), len(a) * len(b) / 2, 1.0, 0.5, 0.0, 0.0)
    result = stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    auroc = float(result.statistic) / (len(a) * len(b))
    return RankComparison(
        n_top=len(a),
        n_baseline=len(b),
        u=float(result.statistic),
        p_value=float(result.pvalue),
        auroc=auroc,
        rank_biserial=2.0 * auroc - 1.0,
        cohens_d=cohens_d(a, b),
    )


def auroc(top: Sequence[float], baseline: Sequence[float]) -> float:
    """Area under the ROC curve for separating top from baseline scores, by ranks."""
    return compare(top, baseline).auroc


@dataclass(frozen=True)
class ProportionComparison:
    """Fisher's exact test on how often a category occurs in top vs baseline clips."""

    top_hits: int
    n_top: int
    baseline_hits: int
    n_baseline: int
    p_value: float
    difference: float
    cohens_h: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "top_hits": self.top_hits,
            "n_top": self.n_top,
            "baseline_hits": self.baseline_hits,
            "n_baseline": self.n_baseline,
            "p_value": _finite(self.p_value),
            "proportion_difference": _finite(self.difference),
            "cohens_h": _finite(self.cohens_h),
        }


def compare_proportions(
    top_hits: int, n_top: int, baseline_hits: int, n_baseline: int, alternative: str = "two-sided"
) -> ProportionComparison:
    """Exact test (small counts are the norm with ten top clips, so no chi-square)."""
    if n_top == 0 or n_baseline == 0:
        return ProportionComparison(
            top_hits, n_top, baseline_hits, n_baseline, math.nan, math.nan, math.nan
        )
    table = [[top_hits, n_top - top_hits], [baseline_hits, n_baseline - baseline_hits]]
    p_value = float(stats.fisher_exact(table, alternative=alternative).pvalue)
    p1, p2 = top_hits / n_top, baseline_hits / n_baseline
    h = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))
    return ProportionComparison(top_hits, n_top, baseline_hits, n_baseline, p_value, p1 - p2, h)


def bonferroni(p_value: float, n_tests: int) -> float:
    """Family-wise correction across the descriptors tested for one feature."""
    if not math.isfinite(p_value):
        return math.nan
    return min(1.0, p_value * max(1, n_tests))
