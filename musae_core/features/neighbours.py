"""Nearest features by decoder-direction cosine, computed in row chunks of W_dec."""

from __future__ import annotations

import torch

from musae_core.jobs import CancelToken, check


@torch.no_grad()
def decoder_neighbours(
    w_dec: torch.Tensor, k: int = 8, chunk: int = 2048, cancel: CancelToken | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(d_sae, k) neighbour ids and cosines, most similar first, excluding the feature itself.

    Memory is one (chunk, d_sae) similarity block, so 65k features fit comfortably.
    """
    directions = w_dec.float()
    directions = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-12)
    n = len(directions)
    k = max(0, min(k, n - 1))
    ids = torch.zeros(n, k, dtype=torch.int64)
    cosines = torch.zeros(n, k)
    if k == 0:
        return ids, cosines
    for start in range(0, n, chunk):
        check(cancel)
        block = directions[start : start + chunk] @ directions.T
        rows = torch.arange(len(block), device=block.device)
        block[rows, rows + start] = -float("inf")
        values, index = torch.topk(block, k, dim=1)
        ids[start : start + len(block)] = index.cpu()
        cosines[start : start + len(block)] = values.cpu()
    return ids, cosines
