"""SAE quality: reconstruction (FVU, explained variance, L0, dead/dense, cosine) and the
delta-loss the field reports (LM cross-entropy with the layer replaced by its reconstruction)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.models.base import ForwardContext, MusicModel
from musae_core.models.residual import residual_hooks
from musae_core.sae.architectures import SparseAutoencoder


def check_compatible(
    sae: SparseAutoencoder, model_id: str, layers: list[int], d_model: int, what: str
) -> None:
    """Refuse a store/model that the SAE was not trained for; never a silently wrong SAE."""
    cfg = sae.cfg
    if cfg.d_in != d_model:
        raise MusaeError(
            f"The SAE reads d_in={cfg.d_in} but {what} has d_model={d_model}.",
            "use an SAE trained on this model.",
        )
    if cfg.layer not in layers:
        raise MusaeError(
            f"The SAE was trained on layer {cfg.layer}, {what} has layers {layers}.",
            f"harvest layer {cfg.layer} or use an SAE for one of {layers}.",
        )
    from musae_core.models.loading import shipped_id

    # a shipped model named by its folder is the shipped model: stores and SAEs made with
    # --model resources/demo/model record that path, the loaded model is 'demo'
    if cfg.model_id and model_id and shipped_id(cfg.model_id) != shipped_id(model_id):
        raise MusaeError(
            f"The SAE was trained on {cfg.model_id!r} but {what} comes from {model_id!r}.",
            "use an SAE and data from the same model.",
        )


@torch.no_grad()
def reconstruction_metrics(
    sae: SparseAutoencoder, batches: Iterable[torch.Tensor], dense_threshold: float = 0.25
) -> dict:
    """Streamed metrics over ``batches`` of raw activations (non-finite rows skipped, counted)."""
    n, skipped, sse, l0, cos = 0, 0, 0.0, 0.0, 0.0
    sum_x: torch.Tensor | None = None
    sum_x2: torch.Tensor | None = None
    fire: torch.Tensor | None = None
    device = sae.W_dec.device
    for batch in batches:
        finite = torch.isfinite(batch).all(1)
        skipped += int((~finite).sum())
        x = batch[finite].to(device).float()
        if not len(x):
            continue
        f = sae.encode(x)
        x_hat = sae.decode(f)
        sse += (x - x_hat).pow(2).sum().item()
        l0 += (f > 0).sum().item()
        cos += torch.nn.functional.cosine_similarity(x, x_hat, dim=1).sum().item()
        fired = (f > 0).sum(0).double()
        sum_x = x.double().sum(0) if sum_x is None else sum_x + x.double().sum(0)
        sum_x2 = x.double().pow(2).sum(0) if sum_x2 is None else sum_x2 + x.double().pow(2).sum(0)
        fire = fired if fire is None else fire + fired
        n += len(x)
    if n == 0:
        raise MusaeError("No finite activation rows to evaluate on.", "harvest more data.")
    assert sum_x is not None and sum_x2 is not None and fire is not None  # n > 0: set
    variance = (sum_x2 - sum_x.pow(2) / n).sum().item()
    fvu = sse / max(variance, 1e-12)
    frequency = (fire / n).cpu().numpy()
    return {
        "rows": n,
        "skipped_nonfinite_rows": skipped,
        "fvu": fvu,
        "explained_variance": 1.0 - fvu,
        "l0": l0 / n,
        "dead_fraction": float(np.mean(frequency == 0)),
        "dense_fraction": float(np.mean(frequency > dense_threshold)),
        "cosine": cos / n,
    }


def _replace(mode: str, sae: SparseAutoencoder):
    def fn(hidden: torch.Tensor, ctx: ForwardContext) -> torch.Tensor:
        if mode == "zero":
            return torch.zeros_like(hidden)
        flat = hidden.reshape(-1, hidden.shape[-1]).float()
        return sae(flat).reshape(hidden.shape).to(hidden.dtype)

    return fn


@torch.no_grad()
def delta_loss(
    model: MusicModel,
    sae: SparseAutoencoder,
    codes: list[torch.Tensor],
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> dict:
    """Mean LM cross-entropy on ``codes`` clean, with the SAE spliced in, and zero-ablated."""
    progress = progress or no_progress
    check_compatible(sae, model.model_id, list(range(model.num_layers)), model.d_model, "the model")
    layer = sae.cfg.layer
    totals = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    for index, clip in enumerate(codes):
        check(cancel)
        totals["clean"] += float(model.teacher_force(clip).loss.mean())
        for mode in ("sae", "zero"):
            with residual_hooks(model, {layer: [_replace(mode, sae)]}):
                totals[mode] += float(model.teacher_force(clip).loss.mean())
        progress(index + 1, len(codes))
    if not codes:
        raise MusaeError("No clips to measure the delta-loss on.", "pass --audio with files.")
    mean = {key: value / len(codes) for key, value in totals.items()}
    gap = mean["zero"] - mean["clean"]
    return {
        "ce_clean": mean["clean"],
        "ce_sae": mean["sae"],
        "ce_zero_ablation": mean["zero"],
        "delta_loss": mean["sae"] - mean["clean"],
        "loss_recovered": (mean["zero"] - mean["sae"]) / gap if abs(gap) > 1e-12 else float("nan"),
        "clips": len(codes),
    }
