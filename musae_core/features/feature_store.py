"""``FeatureStore``: the slice of a feature database the labelling jobs read and write.

The labelling and steering-evaluation jobs are written against this Protocol, not against
SQLite, so what they need from a store is stated in one place; ``FeatureDB`` satisfies it (the
tests check that), and so does any test double that returns the real records of
``musae_core.features.records``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from musae_core.features.records import FeatureRecord, FeatureRow, Label, TopClip


@runtime_checkable
class FeatureStore(Protocol):
    """Features, their top clips and labels, and per-feature job bookkeeping."""

    # --- reading -------------------------------------------------------------------------------
    def query(self) -> list[FeatureRow]:
        """Every feature's table row (the jobs use it for the ids)."""
        ...

    def feature(self, feature_id: int) -> FeatureRecord: ...

    def top_clips(self, feature_id: int) -> list[TopClip]:
        """The feature's top clips, best first."""
        ...

    def labels(self, feature_id: int) -> list[Label]:
        """Every label of a feature, oldest first."""
        ...

    # --- writing -------------------------------------------------------------------------------
    def add_label(
        self,
        feature_id: int,
        source: str,
        text: str,
        score: float,
        evidence: dict[str, Any],
        description: str = "",
        clap_score: float | None = None,
        auroc: float | None = None,
    ) -> int: ...

    def set_label_validation(
        self, label_id: int, clap_score: float | None, auroc: float | None
    ) -> None: ...

    def set_steering(
        self, feature_id: int, steers: bool, effect: float | None, evidence: dict[str, Any]
    ) -> None: ...

    # --- resumable jobs ------------------------------------------------------------------------
    def done(self, feature_id: int, job: str) -> bool: ...

    def mark_done(self, feature_id: int, job: str) -> None: ...

    def record_error(self, feature_id: int, job: str, message: str) -> None: ...
