"""SAE folders in SAELens format: cfg.json + sae_weights.safetensors (+ sparsity.safetensors).

musae writes folders SAELens can load and loads SAELens folders made by others. Extra musae
statistics (per-feature max activation) live in ``feature_stats.safetensors`` beside them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from musae_core.errors import MusaeError
from musae_core.fileio import atomic_path, write_json_atomic
from musae_core.sae.architectures import BatchTopKSAE, JumpReLUSAE, SparseAutoencoder, build_sae
from musae_core.sae.config import SAEConfig, as_saelens_jumprelu

CFG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"
SPARSITY = "sparsity.safetensors"
STATS = "feature_stats.safetensors"


def save_sae(
    sae: SparseAutoencoder, folder: str | os.PathLike[str], frequency: torch.Tensor | None = None
) -> Path:
    """Write ``sae`` (already folded to raw units) into ``folder``; each file atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = {
        "W_enc": sae.W_enc.detach().float().cpu().contiguous(),
        "b_enc": sae.b_enc.detach().float().cpu().contiguous(),
        "W_dec": sae.W_dec.detach().float().cpu().contiguous(),
        "b_dec": sae.b_dec.detach().float().cpu().contiguous(),
    }
    cfg = sae.cfg.to_saelens()
    threshold = getattr(sae, "threshold", None)
    if isinstance(threshold, torch.Tensor) and sae.cfg.architecture == "jumprelu":
        weights["threshold"] = threshold.detach().float().cpu().contiguous()
    elif isinstance(sae, BatchTopKSAE) and float(sae.threshold) > 0:
        # as SAELens exports a trained BatchTopK: a JumpReLU, its one threshold per latent
        weights["threshold"] = torch.full((sae.cfg.d_sae,), float(sae.threshold))
        cfg = as_saelens_jumprelu(cfg)
    with atomic_path(folder / WEIGHTS) as tmp:
        save_file(weights, str(tmp))
    stats = {"max_activation": sae.max_activation.detach().float().cpu().contiguous()}
    if isinstance(sae, BatchTopKSAE):  # batchtopk, matryoshka_batchtopk
        stats["batch_threshold"] = sae.threshold.detach().float().cpu().reshape(1)
    with atomic_path(folder / STATS) as tmp:
        save_file(stats, str(tmp))
    if frequency is not None:
        log_freq = torch.log10(frequency.float().cpu().clamp_min(1e-10)).contiguous()
        with atomic_path(folder / SPARSITY) as tmp:
            save_file({"sparsity": log_freq}, str(tmp))
    write_json_atomic(folder / CFG, cfg)
    return folder


def load_sae(
    folder: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> SparseAutoencoder:
    """Load a musae or SAELens SAE folder; errors name the file and the fix."""
    folder = Path(folder)
    cfg_path, weights_path = folder / CFG, folder / WEIGHTS
    if not cfg_path.is_file() or not weights_path.is_file():
        raise MusaeError(
            f"{folder} is not an SAE folder (needs {CFG} and {WEIGHTS}).",
            "point at a folder written by `musae train` or SAELens.",
        )
    try:
        raw_cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise MusaeError(f"{cfg_path} is not valid JSON: {exc}.", "restore the file.") from exc
    cfg = SAEConfig.from_saelens(raw_cfg, str(cfg_path))
    try:
        weights = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise MusaeError(
            f"{weights_path} is truncated or corrupt ({exc}).",
            "re-run `musae train` (it resumes from its checkpoint) or re-download the SAE.",
        ) from exc
    sae = build_sae(cfg)
    expected = {
        "W_enc": (cfg.d_in, cfg.d_sae),
        "b_enc": (cfg.d_sae,),
        "W_dec": (cfg.d_sae, cfg.d_in),
        "b_dec": (cfg.d_in,),
    }
    for name, shape in expected.items():
        tensor = weights.get(name)
        if tensor is None or tuple(tensor.shape) != shape:
            got = None if tensor is None else tuple(tensor.shape)
            raise MusaeError(
                f"{weights_path}: {name} has shape {got}, cfg.json says {shape}.",
                "the weights and cfg.json do not belong together; re-export the SAE.",
            )
        if not bool(torch.isfinite(tensor).all()):
            raise MusaeError(
                f"{weights_path}: {name} contains NaN or inf values.",
                "the SAE diverged or the file is damaged; retrain or re-download it.",
            )
        getattr(sae, name).data.copy_(tensor.float())
    if isinstance(sae, JumpReLUSAE):
        if "threshold" not in weights:
            raise MusaeError(f"{weights_path} lacks the JumpReLU threshold.", "re-export it.")
        sae.log_threshold.data.copy_(weights["threshold"].float().clamp_min(1e-12).log())
    if type(sae) is BatchTopKSAE and "topk_threshold" in weights:  # a SAELens BatchTopK
        sae.threshold.copy_(weights["topk_threshold"].float().reshape(()))
    elif isinstance(sae, BatchTopKSAE) and "threshold" in weights:  # musae's, as a JumpReLU
        sae.threshold.copy_(weights["threshold"].float().max())
    if isinstance(raw_cfg, dict) and raw_cfg.get("rescale_acts_by_decoder_norm"):
        _fold_decoder_norms(sae, cfg_path)
    _load_stats(sae, folder)
    return sae.to(device).eval()


@torch.no_grad()
def _fold_decoder_norms(sae: SparseAutoencoder, cfg_path: Path) -> None:
    """SAELens TopK with rescale_acts_by_decoder_norm: fold the decoder row norms into the
    encoder (exact: the same features fire with the same contributions), leaving unit-norm
    decoder rows, as SAELens does when it saves an inference SAE."""
    if sae.cfg.architecture not in ("topk", "batchtopk"):
        raise MusaeError(
            f"{cfg_path}: rescale_acts_by_decoder_norm is set on a {sae.cfg.architecture} SAE.",
            "SAELens sets it on TopK SAEs only; re-export the SAE with SAELens.",
        )
    norms = sae.W_dec.norm(dim=1).clamp_min(1e-8)
    sae.W_enc.mul_(norms)
    sae.b_enc.mul_(norms)
    sae.W_dec.div_(norms[:, None])


def _load_stats(sae: SparseAutoencoder, folder: Path) -> None:
    path = folder / STATS
    if not path.is_file():
        return  # an SAELens SAE: no max activations known; steering falls back to beta = 1
    try:
        stats = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise MusaeError(f"{path} is corrupt ({exc}).", "delete it; it is optional.") from exc
    if "max_activation" in stats and stats["max_activation"].shape == sae.max_activation.shape:
        sae.max_activation.copy_(stats["max_activation"])
    if "batch_threshold" in stats and isinstance(sae, BatchTopKSAE):
        sae.threshold.copy_(stats["batch_threshold"].reshape(()))


def load_frequency(folder: str | os.PathLike[str]) -> torch.Tensor | None:
    """Per-feature firing frequency from the sparsity file, if present."""
    path = Path(folder) / SPARSITY
    if not path.is_file():
        return None
    return torch.pow(10.0, load_file(str(path))["sparsity"])
