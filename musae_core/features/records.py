"""Plain records the feature database reads and writes; front ends code against these names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

Histogram = tuple[list[float], list[int]]
"""(bin edges, counts) with ``len(edges) == len(counts) + 1``."""


@dataclass
class FeatureStats:
    """What ``analyze`` measured for one feature (activations in raw SAE units)."""

    id: int
    frequency: float  # fraction of frames on which the feature is active (> 0)
    clip_rate: float  # fraction of clips whose clip-mean activation exceeds the threshold
    max_activation: float
    mean_activation: float  # mean over the frames where it is active
    quantiles: dict[str, float] = field(default_factory=dict)  # of active-frame activations
    histogram: Histogram = ([], [])  # of active-frame activations
    clip_histogram: Histogram = ([], [])  # of non-zero clip means
    dead: bool = False
    rare: bool = False
    generic: bool = False


@dataclass
class TopClip:
    """One of a feature's best clips: where it is, how strongly and when the feature fires."""

    rank: int
    source_path: str
    clip_start: float
    clip_seconds: float
    mean_activation: float
    peak_activation: float
    timeline: list[float] | np.ndarray = field(default_factory=list)  # a value per clip frame
    frame_rate: float = 50.0
    best_window: tuple[float, float] = (0.0, 0.0)  # seconds within the clip
    snippet_path: Path | None = None  # absolute; None when no cached snippet exists
    source_id: int = -1
    clip_index: int = -1


@dataclass
class Label:
    """A label from one labeller with its score, evidence and CLAP validation."""

    id: int
    feature_id: int
    source: str
    text: str
    score: float
    evidence: dict[str, Any]
    description: str = ""
    clap_score: float | None = None
    auroc: float | None = None
    created: str = ""


@dataclass
class FeatureRow:
    """One line of the feature table (what ``query`` returns; cheap to build by the 10k)."""

    id: int
    best_label: str | None
    label_source: str | None
    label_score: float | None
    clap_score: float | None
    steers: bool | None
    steer_effect: float | None
    frequency: float
    clip_rate: float
    max_activation: float
    dead: bool
    rare: bool
    generic: bool
    favourite: bool


@dataclass
class FeatureRecord:
    """Everything the inspector shows about one feature."""

    id: int
    frequency: float
    clip_rate: float
    max_activation: float
    mean_activation: float
    quantiles: dict[str, float]
    histogram: Histogram
    clip_histogram: Histogram
    dead: bool
    rare: bool
    generic: bool
    favourite: bool
    best_label: str | None
    label_source: str | None
    label_score: float | None
    clap_score: float | None
    steers: bool | None
    steer_effect: float | None
    description: str


@dataclass
class SteeringRecord:
    """Outcome of ``musae eval-steering`` for one feature."""

    feature_id: int
    steers: bool
    effect: float | None
    evidence: dict[str, Any]
    updated: str


@dataclass
class FeatureError:
    """A per-feature failure of a job (kept until the job succeeds for that feature)."""

    feature_id: int
    job: str
    message: str
    created: str
