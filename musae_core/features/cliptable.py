"""Clips of an activation store: global ids, lengths and which shard holds them.

Rows of a store are frames; a clip is (source_id, clip_index) and a shard always holds whole
clips, so per-clip sums and timelines can be computed one shard at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class ShardClips:
    """One shard's rows mapped to clips: local ids per row, frames per clip, global ids."""

    local_of_row: torch.Tensor  # (rows,) int64
    frames: torch.Tensor  # (local clips,) timeline length in frames
    global_ids: torch.Tensor  # (local clips,) int64
    frame_of_row: np.ndarray  # (rows,) frame index within its clip


@dataclass
class ClipTable:
    """Every clip seen so far: source, index, start, length in frames and shard."""

    source_id: list[int] = field(default_factory=list)
    clip_index: list[int] = field(default_factory=list)
    clip_start: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    shard: list[int] = field(default_factory=list)
    _ids: dict[tuple[int, int], int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.source_id)

    def add_shard(self, shard: int, index: dict[str, np.ndarray]) -> ShardClips:
        """Register the clips of one shard (from its row index) and map its rows to them."""
        keys = index["source_id"].astype(np.int64) << 32 | index["clip_index"].astype(np.int64)
        unique, first, local = np.unique(keys, return_index=True, return_inverse=True)
        frame = index["frame"].astype(np.int64)
        frames = np.zeros(len(unique), dtype=np.int64)
        np.maximum.at(frames, local, frame + 1)
        ids = np.zeros(len(unique), dtype=np.int64)
        for i, row in enumerate(first):
            key = (int(index["source_id"][row]), int(index["clip_index"][row]))
            if key not in self._ids:
                self._ids[key] = len(self.source_id)
                self.source_id.append(key[0])
                self.clip_index.append(key[1])
                self.clip_start.append(float(index["clip_start"][row]))
                self.frames.append(int(frames[i]))
                self.shard.append(shard)
            ids[i] = self._ids[key]
        return ShardClips(
            local_of_row=torch.from_numpy(local.reshape(-1).astype(np.int64)),
            frames=torch.from_numpy(frames),
            global_ids=torch.from_numpy(ids),
            frame_of_row=frame,
        )
