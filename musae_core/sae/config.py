"""An SAE's configuration and its SAELens ``cfg.json`` form (written and read both ways).

Reads the SAELens 6 layout (hook and model under ``metadata``) and the older one (``hook_name``
or ``hook_point`` and ``model_name`` at the top level), and refuses what musae would otherwise
run wrongly: architectures it does not implement, hooks other than the residual stream,
run-time input normalisations.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from musae_core import __version__
from musae_core.errors import MusaeError
from musae_core.models.base import hook_name

ARCHITECTURES = ("topk", "batchtopk", "matryoshka_batchtopk", "jumprelu", "relu")
K_SPARSE = ("topk", "batchtopk", "matryoshka_batchtopk")  # architectures that need k
# SAELens architecture name -> musae's; anything else (gated, ...) is refused. musae writes a
# calibrated BatchTopK / Matryoshka SAE as the JumpReLU it runs as (``as_saelens_jumprelu``),
# its real name in the ``musae`` block.
SAELENS_ARCHITECTURES = {
    "standard": "relu",
    "topk": "topk",
    "batchtopk": "batchtopk",
    "jumprelu": "jumprelu",
}


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
    apply_b_dec_to_input: bool = True  # SAELens: subtract b_dec before encoding
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
        arch = {
            "topk": "topk",
            "batchtopk": "topk",
            "matryoshka_batchtopk": "topk",
            "jumprelu": "jumprelu",
            "relu": "standard",
        }
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
            "apply_b_dec_to_input": self.apply_b_dec_to_input,
            "normalize_activations": "none",
            "activation_fn_str": "topk" if self.k and self.architecture != "relu" else "relu",
            "activation_fn_kwargs": {"k": self.k} if self.k else {},
            "context_size": None,
            "prepend_bos": False,
            "dataset_path": "",
            "sae_lens_training_version": None,
            "metadata": {  # where SAELens 6 keeps them; the top-level copies serve older readers
                "model_name": self.model_id,
                "hook_name": self.hook_name,
                "hook_head_index": None,
                "prepend_bos": False,
                "context_size": None,
                "dataset_path": "",
            },
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
        """Read a cfg.json written by musae or by SAELens (6.x ``metadata`` layout or older)."""
        if not isinstance(cfg, dict):
            raise MusaeError(f"{source} is not a JSON object.", "restore the SAE's cfg.json.")
        musae = cfg.get("musae") or {}
        try:
            architecture = musae.get("architecture") or _saelens_architecture(cfg, source)
            _refuse_unsupported_inputs(cfg, source)
            k = cfg.get("k") or (cfg.get("activation_fn_kwargs") or {}).get("k") or musae.get("k")
            extra = {
                key: value
                for key, value in musae.items()
                if key not in ("architecture", "training_tokens", "normalization_folded", "k")
            }
            return cls(
                architecture=architecture,
                d_in=int(cfg["d_in"]),
                d_sae=int(cfg["d_sae"]),
                k=int(k) if k else None,
                model_id=str(_saelens_field(cfg, "model_name") or ""),
                layer=_saelens_layer(cfg, source),
                training_tokens=int(musae.get("training_tokens", 0)),
                normalization=musae.get("normalization_folded", "none"),
                apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
                extra=extra,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MusaeError(
                f"{source} is not a valid SAE config ({exc}).",
                "point at a folder written by musae train or SAELens.",
            ) from exc

    def replace(self, **changes) -> SAEConfig:
        return dataclasses.replace(self, **changes)


def as_saelens_jumprelu(cfg: dict) -> dict:
    """A k-sparse SAE's cfg.json rewritten as the JumpReLU it runs as once a global threshold
    is calibrated (BatchTopK, Matryoshka): SAELens exports trained BatchTopK SAEs this way, and
    read as "topk" it would keep k per frame and ignore the threshold. musae's own block keeps
    the real architecture and k."""
    out = {**cfg, "architecture": "jumprelu", "activation_fn_str": "relu"}
    out["activation_fn_kwargs"] = {}
    k = out.pop("k", None)
    out["musae"] = {**cfg.get("musae", {}), "k": k}
    return out


def _saelens_field(cfg: dict, name: str):
    """A key SAELens 6 keeps under ``metadata`` and older versions at the top level."""
    metadata = cfg.get("metadata")
    if isinstance(metadata, dict) and metadata.get(name) is not None:
        return metadata[name]
    return cfg.get(name)


def _saelens_architecture(cfg: dict, source: str) -> str:
    """musae's name for a SAELens architecture; refuses the ones musae does not implement."""
    name = cfg.get("architecture") or "standard"  # SAELens < 5 wrote no architecture
    activation = cfg.get("activation_fn_str") or cfg.get("activation_fn") or "relu"
    if name == "standard" and (
        activation == "topk" or (cfg.get("activation_fn_kwargs") or {}).get("k")
    ):
        return "topk"  # SAELens < 6 wrote TopK SAEs as 'standard' with a topk activation
    if name not in SAELENS_ARCHITECTURES:
        raise MusaeError(
            f"{source}: SAE architecture {name!r} is not implemented in musae.",
            f"musae runs SAELens {', '.join(sorted(SAELENS_ARCHITECTURES))} SAEs; train one with "
            "`musae train --arch topk|batchtopk|jumprelu|relu` instead.",
        )
    if name == "standard" and activation != "relu":
        raise MusaeError(
            f"{source}: activation function {activation!r} is not implemented in musae.",
            "musae runs standard SAEs with a ReLU activation only.",
        )
    return SAELENS_ARCHITECTURES[name]


def _refuse_unsupported_inputs(cfg: dict, source: str) -> None:
    """Input transforms SAELens applies at run time that musae does not: refuse, never ignore."""
    norm = cfg.get("normalize_activations")
    if norm not in (None, False, "none"):
        raise MusaeError(
            f"{source}: normalize_activations is {norm!r}; musae feeds raw residual activations.",
            "fold the normalisation into the weights (SAELens: fold_activation_norm_scaling_factor)"
            ' and save with "normalize_activations": "none".',
        )
    reshape = cfg.get("reshape_activations")
    head = _saelens_field(cfg, "hook_head_index")
    if reshape not in (None, "none") or head is not None:
        raise MusaeError(
            f"{source}: the SAE reads attention heads (reshape_activations={reshape!r}, "
            f"hook_head_index={head!r}); musae reads the residual stream.",
            "use an SAE trained on blocks.L.hook_resid_post.",
        )


def _saelens_layer(cfg: dict, source: str) -> int:
    """The block whose output the SAE reads, from its hook name (``hook_layer`` is ignored:
    SAELens 6 dropped it and the name is what the SAE was trained on)."""
    hook = _saelens_field(cfg, "hook_name") or _saelens_field(cfg, "hook_point")
    if hook is None:
        raise MusaeError(
            f"{source} names no hook point (neither metadata.hook_name nor hook_name).",
            'add "hook_name": "blocks.L.hook_resid_post" (L: the layer the SAE was trained on).',
        )
    return layer_from_saelens_hook(str(hook), source)


def layer_from_saelens_hook(hook: str, source: str = "cfg.json") -> int:
    """``blocks.L.hook_resid_post`` -> L; ``blocks.L.hook_resid_pre`` (the same tensor) -> L - 1."""
    if hook.isdigit():  # musae's own shorthand
        return int(hook)
    match = re.fullmatch(r"blocks\.(\d+)\.hook_resid_(post|pre)", hook)
    if match:
        layer = int(match.group(1)) - (match.group(2) == "pre")
        if layer >= 0:
            return layer
    raise MusaeError(
        f"{source}: hook {hook!r} is not one musae can map to a layer of the model.",
        "musae reads the residual stream after a block: use an SAE trained on "
        "blocks.L.hook_resid_post (or blocks.L.hook_resid_pre with L >= 1).",
    )
