"""One layer of an activation store in memory, split by clip for a sweep.

A sweep trains many SAEs on the same rows, so each layer is read once (fp16, ~0.4 GB per
million 192-wide rows) and every cell draws its batches from it. Held-out sources (every
``holdout_every``-th source id, the demo's rule for its clips) are never trained on; the
reconstruction metrics and the concept scores' held-out half come from them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from musae_core.errors import MusaeError
from musae_core.harvest.store import ActivationStore
from musae_core.jobs import CancelToken, check
from musae_core.sae.trainer import BatchFactory


def is_heldout_source(source_ids: np.ndarray, holdout_every: int) -> np.ndarray:
    """Held-out rows: source ``s`` with ``s % holdout_every == holdout_every - 1``."""
    if holdout_every < 2:
        return np.zeros(len(source_ids), bool)
    return source_ids % holdout_every == holdout_every - 1


def store_row_keys(
    store: ActivationStore, names: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(source_id, frame from the source's start) of every row of shards ``names`` (default:
    all), in store order: how truth tables name rows."""
    sources, frames = [], []
    for name in store.shard_names() if names is None else names:
        index = store.read_index(name)
        sources.append(index["source_id"].astype(np.int64))
        frames.append(np.round(index["time"] * store.frame_rate).astype(np.int64))
    if not sources:
        raise MusaeError(f"Activation store {store.path} has no rows.", "harvest audio first.")
    return np.concatenate(sources), np.concatenate(frames)


@dataclass
class LayerRows:
    """Every row of one layer (fp16) with its source id and frame from the source start."""

    layer: int
    acts: torch.Tensor
    source_ids: np.ndarray
    frames: np.ndarray
    heldout: np.ndarray

    @classmethod
    def load(
        cls,
        store: ActivationStore,
        layer: int,
        holdout_every: int,
        cancel: CancelToken | None = None,
    ) -> LayerRows:
        names = store.shard_names()  # once: a harvest may still be adding shards
        source_ids, frames = store_row_keys(store, names)
        acts = []
        for name in names:
            check(cancel)
            acts.append(store.read_shard(name, layer, dtype=None).half())
        heldout = is_heldout_source(source_ids, holdout_every)
        if heldout.all() or (holdout_every >= 2 and not heldout.any()):
            raise MusaeError(
                f"Store {store.path} has no {'training' if heldout.all() else 'held-out'} rows "
                f"under --holdout-every {holdout_every}.",
                "harvest more sources, or change --holdout-every (0: no held-out split).",
            )
        return cls(layer, torch.cat(acts), source_ids, frames, heldout)

    def train_factory(self, batch_size: int, seed: int) -> BatchFactory:
        """Shuffled float32 batches of the training rows; epoch ``e`` has its own order."""
        rows = torch.from_numpy(np.flatnonzero(~self.heldout))
        if len(rows) < batch_size:
            raise MusaeError(
                f"Only {len(rows)} training rows for batches of {batch_size}.",
                "harvest more audio or lower --batch-size.",
            )

        def factory(epoch: int) -> Iterator[torch.Tensor]:
            generator = torch.Generator().manual_seed(seed + epoch)
            order = rows[torch.randperm(len(rows), generator=generator)]
            for start in range(0, len(order) - batch_size + 1, batch_size):
                yield self.acts[order[start : start + batch_size]].float()

        return factory

    def heldout_batches(self, max_rows: int, batch_size: int = 4096) -> list[torch.Tensor]:
        """Up to ``max_rows`` held-out rows (evenly spaced), float32, for reconstruction metrics."""
        rows = np.flatnonzero(self.heldout) if self.heldout.any() else np.arange(len(self.acts))
        rows = rows[np.linspace(0, len(rows) - 1, min(max_rows, len(rows))).astype(np.int64)]
        picked = self.acts[torch.from_numpy(rows)].float()
        return list(picked.split(batch_size))

    def rows_for(self, source_ids: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Row positions of (source, frame) pairs, e.g. a truth table's; all must be present."""
        width = int(max(self.frames.max(), frames.max())) + 1
        keys = self.source_ids * width + self.frames
        order = np.argsort(keys, kind="stable")
        wanted = np.asarray(source_ids, np.int64) * width + np.asarray(frames, np.int64)
        found = np.searchsorted(keys, wanted, sorter=order)
        found = np.minimum(found, len(keys) - 1)
        positions = order[found]
        missing = keys[positions] != wanted
        if missing.any():
            raise MusaeError(
                f"{int(missing.sum())} truth rows are not in the store (first: source "
                f"{int(source_ids[missing][0])}, frame {int(frames[missing][0])}).",
                "build the truth table from this store (`musae demo truth` / `musae truth`).",
            )
        return positions


@torch.no_grad()
def encode_rows(sae, acts: torch.Tensor, batch_size: int = 8192) -> sp.csr_matrix:
    """Sparse float32 codes (rows, d_sae) of fp16 ``acts`` (k-sparse codes stay small)."""
    chunks = []
    for start in range(0, len(acts), batch_size):
        codes = sae.encode(acts[start : start + batch_size].float()).numpy()
        chunks.append(sp.csr_matrix(codes, dtype=np.float32))
    return sp.vstack(chunks, format="csr")
