"""SAE codes of activation rows as sparse (row, feature, value) triplets, chunk by chunk.

A TopK SAE only has k non-zero codes per frame, so its top-k values and indices are used
directly; other architectures are encoded densely per chunk and thinned to their non-zeros.
"""

from __future__ import annotations

import torch

from musae_core.jobs import CancelToken, check
from musae_core.sae.architectures import BatchTopKSAE, SparseAutoencoder, TopKSAE

Triplets = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""(row int64, feature int64, value float32), rows ascending, values > 0, on the CPU."""


def uses_topk(sae: SparseAutoencoder) -> bool:
    """Whether inference is a per-frame TopK (a trained BatchTopK uses a threshold instead)."""
    if isinstance(sae, BatchTopKSAE):
        return float(sae.threshold) <= 0
    return isinstance(sae, TopKSAE)


@torch.no_grad()
def sparse_codes(
    sae: SparseAutoencoder,
    acts: torch.Tensor,
    chunk_rows: int = 8192,
    cancel: CancelToken | None = None,
) -> Triplets:
    """Non-zero codes of ``acts`` (rows, d_in); non-finite rows yield no codes."""
    device = sae.W_dec.device
    topk = sae if isinstance(sae, TopKSAE) and uses_topk(sae) else None
    rows, feats, vals = [], [], []
    for start in range(0, len(acts), chunk_rows):
        check(cancel)
        x = acts[start : start + chunk_rows].to(device, torch.float32)
        finite = torch.isfinite(x).all(dim=1)
        x = torch.where(finite[:, None], x, torch.zeros_like(x))
        pre = sae.pre_acts(x)
        if topk is not None:
            values, index = topk.topk(pre)
            row = torch.arange(len(x), device=device)[:, None].expand_as(index)
            keep = (values > 0) & finite[:, None]
            r, f, v = row[keep], index[keep], values[keep]
        else:
            codes = sae.activate(pre) * finite[:, None]
            r, f = codes.nonzero(as_tuple=True)
            v = codes[r, f]
            keep = v > 0
            r, f, v = r[keep], f[keep], v[keep]
        rows.append(r.cpu() + start)
        feats.append(f.cpu())
        vals.append(v.float().cpu())
    if not rows:
        empty = torch.zeros(0, dtype=torch.int64)
        return empty, empty.clone(), torch.zeros(0)
    return torch.cat(rows).long(), torch.cat(feats).long(), torch.cat(vals)
