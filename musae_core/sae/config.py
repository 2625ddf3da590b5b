"""An SAE's configuration and its SAELens ``cfg.json`` form (written and read both ways)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from musae_core import __version__
from musae_core.errors import MusaeError
from musae_core.models.base import hook_name, layer_from_hook_name

ARCHITECTURES = ("topk", "batchtopk", "matryoshka_batchtopk", "jumprelu", "relu")
K_SPARSE = ("topk", "batchtopk", "matryoshka_batchtopk")  # architectures that need k


@dataclass
class SAEConfig:
    """What an SAE is and where it reads from; activations are in raw residual units."""

    architecture: str
    d_in: int
    d_sae: int
    k: int | None = None
    model_id: str = ""
    layer: int = 0
    training_tokens: int = 0
    normalization: str = "none"  # what was done in training; always folded away on disk
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise MusaeError(
                f"Unknown SAE architecture {self.architecture!r}.",
                f"use one of {', '.join(ARCHITECTURES)}.",
            )
        if self.architecture in K_SPARSE and not self.k:
            raise MusaeError(f"A {self.architecture} SAE needs k.", "pass --k, e.g. 32.")

    @property
    def hook_name(self) -> str:
        return hook_name(self.layer)

    def to_saelens(self) -> dict:
        """cfg.json keys SAELens understands, plus a ``musae`` block with the rest."""
        arch = {"topk": "topk", "batchtopk": "topk", "matryoshka_batchtopk": "topk",
                "jumprelu": "jumprelu", "relu": "standard"}  # fmt: skip
        cfg = {
            "architecture": arch[self.architecture],
            "d_in": self.d_in,
            "d_sae": self.d_sae,
            "dtype": "float32",
            "device": "cpu",
            "model_name": self.model_id,
            "hook_name": self.hook_name,
            "hook_layer": self.layer,
            "hook_head_index": None,
            "apply_b_dec_to_input": True,
            "normalize_activations": "none",
            "activation_fn_str": "topk" if self.k and self.architecture != "relu" else "relu",
            "activation_fn_kwargs": {"k": self.k} if self.k else {},
            "context_size": None,
            "prepend_bos": False,
            "dataset_path": "",
            "sae_lens_training_version": None,
            "musae": {
                "architecture": self.architecture,
                "training_tokens": self.training_tokens,
                "normalization_folded": self.normalization,
                "code_version": __version__,
                **self.extra,
            },
        }
        if self.k:
            cfg["k"] = self.k
        if "matryoshka_widths" in self.extra:
            cfg["matryoshka_widths"] = self.extra["matryoshka_widths"]
        return cfg

    @classmethod
    def from_saelens(cls, cfg: dict, source: str = "cfg.json") -> SAEConfig:
        """Read a cfg.json written by musae or by SAELens (v5 or v6 key styles)."""
        try:
            musae = cfg.get("musae", {})
            architecture = musae.get("architecture") or _saelens_architecture(cfg)
            k = cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k")
            hook = cfg.get("hook_name") or cfg.get("hook_point") or "blocks.0.hook_resid_post"
            layer = cfg.get("hook_layer")
            if layer is None:
                layer = layer_from_hook_name(hook)
            extra = {
                key: value
                for key, value in musae.items()
                if key not in ("architecture", "training_tokens", "normalization_folded")
            }
            return cls(
                architecture=architecture,
                d_in=int(cfg["d_in"]),
                d_sae=int(cfg["d_sae"]),
                k=int(k) if k else None,
                model_id=cfg.get("model_name", ""),
                layer=int(layer),
                training_tokens=int(musae.get("training_tokens", 0)),
                normalization=musae.get("normalization_folded", "none"),
                extra=extra,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MusaeError(
                f"{source} is not a valid SAE config ({exc}).",
                "point at a folder written by musae train or SAELens.",
            ) from exc

    def replace(self, **changes) -> SAEConfig:
        return dataclasses.replace(self, **changes)


def _saelens_architecture(cfg: dict) -> str:
    name = cfg.get("architecture", "standard")
    if name in ("topk", "batchtopk", "jumprelu"):
        return "topk" if name == "batchtopk" else name
    if cfg.get("activation_fn_str") == "topk" or (cfg.get("activation_fn_kwargs") or {}).get("k"):
        return "topk"
    return "relu"
