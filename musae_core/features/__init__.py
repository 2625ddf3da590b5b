"""Per-feature statistics, top clips, neighbours and labels in one SQLite feature database."""

from musae_core.features.db import FeatureDB
from musae_core.features.feature_store import FeatureStore
from musae_core.features.records import (
    FeatureError,
    FeatureRecord,
    FeatureRow,
    FeatureStats,
    Label,
    SteeringRecord,
    TopClip,
)

__all__ = [
    "FeatureDB",
    "FeatureError",
    "FeatureRecord",
    "FeatureRow",
    "FeatureStats",
    "FeatureStore",
    "Label",
    "SteeringRecord",
    "TopClip",
]
