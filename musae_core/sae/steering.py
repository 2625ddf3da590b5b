"""Steer with SAE features: add a feature's decoder direction, or clamp its activation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from musae_core.errors import MusaeError
from musae_core.models.base import CfgBranch
from musae_core.sae.architectures import SparseAutoencoder
from musae_core.steering import AddDirection, Envelope, Intervention

if TYPE_CHECKING:  # the database sits above the SAE layer; only its type is named here
    from musae_core.features.db import FeatureDB


def check_feature(sae: SparseAutoencoder, feature: int) -> int:
    if not isinstance(feature, int | np.integer) or not 0 <= feature < sae.cfg.d_sae:
        raise MusaeError(
            f"Unknown feature id {feature!r}: this SAE has features 0..{sae.cfg.d_sae - 1}.",
            "pick a feature id from the feature browser or `musae analyze` output.",
        )
    return int(feature)


MAX_STRENGTH = 100.0
"""Largest |alpha| accepted: 100 x a feature's max activation is far past musical use (the
app's knobs span +-4); a pass that still blows up is caught when tokens are sampled."""

BETA_FROM_SAE = "sae feature_stats max activation"
BETA_FROM_DB = "feature database max activation"
BETA_DEFAULT = "default 1.0 (no max activation recorded)"


@dataclass(frozen=True)
class Beta:
    """A feature's steering scale and where it came from (recorded in every take's sidecar)."""

    value: float
    source: str


def feature_beta(sae: SparseAutoencoder, feature: int, db: FeatureDB | None = None) -> Beta:
    """The one beta every steering path uses (the paper's: the feature's max activation).

    The SAE's own record (``feature_stats.safetensors``) comes first: it exists wherever
    steering is possible (steering needs the SAE, a database is optional) and cannot belong to
    another SAE, so the app, ``musae generate`` and ``musae eval-steering`` turn one knob value
    into one residual shift. A database's max activation (``db``, already checked against the
    SAE) stands in only where the SAE records none (SAELens SAEs, features that never fired
    in training); else 1.0.
    """
    feature = check_feature(sae, feature)
    value = float(sae.max_activation[feature])
    if math.isfinite(value) and value > 0:
        return Beta(value, BETA_FROM_SAE)
    if db is not None:
        peak = db.feature(feature).max_activation
        if peak is not None and math.isfinite(float(peak)) and float(peak) > 0:
            return Beta(float(peak), BETA_FROM_DB)
    return Beta(1.0, BETA_DEFAULT)


def check_strength(feature: int, alpha: float, mode: str = "add") -> float:
    """Refuse a strength that is not finite or beyond +-MAX_STRENGTH, naming the feature."""
    if not math.isfinite(alpha) or abs(alpha) > MAX_STRENGTH:
        unit = "x beta" if mode == "add" else "clamp value, activation units"
        raise MusaeError(
            f"Steering strength {alpha!r} for feature {feature} is outside "
            f"-{MAX_STRENGTH:g}..{MAX_STRENGTH:g} ({unit}).",
            f"use a strength between -{MAX_STRENGTH:g} and {MAX_STRENGTH:g}; "
            "+-1..4 is the musical range.",
        )
    return float(alpha)


@dataclass
class SaeFeatureAdd(AddDirection):
    """x' = x + alpha * beta * d_j, remembering where beta came from (for the sidecar)."""

    beta_source: str = ""

    def params(self) -> dict[str, Any]:
        return {**super().params(), "beta_source": self.beta_source}


@dataclass
class SaeFeatureClamp(Intervention):
    """x' = x + (value - f_j(x)) * d_j: set feature j's SAE activation to ``value`` everywhere."""

    sae: SparseAutoencoder | None = field(default=None, repr=False)  # None only as a default
    feature: int = 0
    value: float = 0.0

    @property
    def active(self) -> bool:
        return True

    def delta(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.sae is None:
            raise MusaeError("A clamp needs the SAE that reads its feature.", "pass sae=...")
        flat = hidden.reshape(-1, hidden.shape[-1]).to(self.sae.W_enc.dtype)
        current = self.sae.encode(flat)[:, self.feature].reshape(*hidden.shape[:-1], 1)
        return (self.value - current.to(hidden.dtype)) * self.on(hidden)

    def params(self) -> dict[str, Any]:
        return {"feature": self.feature, "value": self.value}


def feature_intervention(
    sae: SparseAutoencoder,
    feature: int,
    alpha: float,
    mode: str = "add",
    branch: CfgBranch | str = CfgBranch.BOTH,
    envelope: Envelope | None = None,
    sae_path: str = "",
    db: FeatureDB | None = None,
) -> Intervention:
    """``add``: x + alpha * beta * d_j (beta from ``feature_beta``); ``clamp``: f_j = alpha.

    ``db`` is a feature database already checked against ``sae`` (``check_db_matches_sae``).
    """
    feature = check_feature(sae, feature)
    alpha = check_strength(feature, alpha, mode)
    direction = sae.W_dec[feature].detach().float().cpu()
    source = {"sae": sae_path, "feature": feature, "model_id": sae.cfg.model_id}
    layer, steer_branch = sae.cfg.layer, CfgBranch(branch)
    if mode == "add":
        beta = feature_beta(sae, feature, db)
        return SaeFeatureAdd(
            layer=layer,
            direction=direction,
            branch=steer_branch,
            envelope=envelope,
            source=source,
            alpha=alpha,
            beta=beta.value,
            beta_source=beta.source,
        )
    if mode == "clamp":
        return SaeFeatureClamp(
            layer=layer,
            direction=direction,
            branch=steer_branch,
            envelope=envelope,
            source=source,
            sae=sae,
            feature=feature,
            value=alpha,
        )
    raise MusaeError(f"Unknown steering mode {mode!r}.", "use add or clamp.")


def parse_feature_steer(
    spec: str,
    sae: SparseAutoencoder,
    mode: str = "add",
    branch: str = "both",
    sae_path: str = "",
    db: FeatureDB | None = None,
) -> Intervention:
    """'FEATURE_ID=ALPHA' -> an intervention on that SAE feature."""
    name, _, value = spec.partition("=")
    try:
        feature, alpha = int(name), float(value)
    except ValueError as exc:
        raise MusaeError(f"Bad --steer {spec!r}.", "use FEATURE_ID=ALPHA, e.g. 12=0.8.") from exc
    return feature_intervention(
        sae, feature, alpha, mode=mode, branch=branch, sae_path=sae_path, db=db
    )
