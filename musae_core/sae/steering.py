"""Steer with SAE features: add a feature's decoder direction, or clamp its activation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from musae_core.errors import MusaeError
from musae_core.models.base import CfgBranch
from musae_core.sae.architectures import SparseAutoencoder
from musae_core.steering import AddDirection, Envelope, Intervention


def check_feature(sae: SparseAutoencoder, feature: int) -> int:
    if not isinstance(feature, int | np.integer) or not 0 <= feature < sae.cfg.d_sae:
        raise MusaeError(
            f"Unknown feature id {feature!r}: this SAE has features 0..{sae.cfg.d_sae - 1}.",
            "pick a feature id from the feature browser or `musae analyze` output.",
        )
    return int(feature)


def feature_beta(sae: SparseAutoencoder, feature: int) -> float:
    """The paper's beta: the feature's max activation (1.0 when unknown, e.g. SAELens SAEs)."""
    value = float(sae.max_activation[check_feature(sae, feature)])
    return value if value > 0 else 1.0


@dataclass
class SaeFeatureClamp(Intervention):
    """x' = x + (value - f_j(x)) * d_j: set feature j's SAE activation to ``value`` everywhere."""

    sae: SparseAutoencoder | None = field(default=None, repr=False)
    feature: int = 0
    value: float = 0.0

    @property
    def active(self) -> bool:
        return True

    def delta(self, hidden: torch.Tensor) -> torch.Tensor:
        flat = hidden.reshape(-1, hidden.shape[-1]).to(self.sae.W_enc.dtype)
        current = self.sae.encode(flat)[:, self.feature].reshape(*hidden.shape[:-1], 1)
        return (self.value - current.to(hidden.dtype)) * self.on(hidden)

    def params(self) -> dict:
        return {"feature": self.feature, "value": self.value}


def feature_intervention(
    sae: SparseAutoencoder,
    feature: int,
    alpha: float,
    beta: float | None = None,
    mode: str = "add",
    branch: CfgBranch | str = CfgBranch.BOTH,
    envelope: Envelope | None = None,
    sae_path: str = "",
) -> Intervention:
    """``add``: x + alpha * beta * d_j (beta defaults to max activation); ``clamp``: f_j = alpha."""
    feature = check_feature(sae, feature)
    direction = sae.W_dec[feature].detach().float().cpu()
    source = {"sae": sae_path, "feature": feature, "model_id": sae.cfg.model_id}
    common = {"layer": sae.cfg.layer, "direction": direction, "branch": branch,
              "envelope": envelope, "source": source}  # fmt: skip
    if mode == "add":
        b = feature_beta(sae, feature) if beta is None else beta
        return AddDirection(alpha=alpha, beta=b, **common)
    if mode == "clamp":
        return SaeFeatureClamp(sae=sae, feature=feature, value=alpha, **common)
    raise MusaeError(f"Unknown steering mode {mode!r}.", "use add or clamp.")


def parse_feature_steer(
    spec: str, sae: SparseAutoencoder, mode: str = "add", branch: str = "both", sae_path: str = ""
) -> Intervention:
    """'FEATURE_ID=ALPHA' -> an intervention on that SAE feature."""
    name, _, value = spec.partition("=")
    try:
        feature, alpha = int(name), float(value)
    except ValueError as exc:
        raise MusaeError(f"Bad --steer {spec!r}.", "use FEATURE_ID=ALPHA, e.g. 12=0.8.") from exc
    if not np.isfinite(alpha):
        raise MusaeError(f"Bad --steer {spec!r}: alpha must be finite.", "use a finite number.")
    return feature_intervention(sae, feature, alpha, mode=mode, branch=branch, sae_path=sae_path)
