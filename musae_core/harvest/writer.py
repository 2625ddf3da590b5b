"""Buffer harvested rows and write them as shards: temp folder first, renamed when complete.

Rows arrive a whole clip at a time and a shard holds whole clips, so a shard's clip list tells
a resumed harvest exactly which clips are finished. Peak memory is bounded by two shards (one
filling, one being written in the background).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from musae_core.errors import MusaeError
from musae_core.harvest.store import (
    INDEX_FILE,
    SHARD_INFO_FILE,
    SHARDS_DIR,
    STORE_DTYPES,
    TEMP_PREFIX,
    acts_file,
    shard_name,
)

log = logging.getLogger(__name__)


@dataclass
class _Buffer:
    """Rows waiting for the next shard."""

    acts: dict[int, list[torch.Tensor]]
    index: list[dict[str, np.ndarray]] = field(default_factory=list)
    clips: list[tuple[int, int]] = field(default_factory=list)
    rows: int = 0


class ShardWriter:
    """Collects clips' rows and writes a shard every ``shard_rows`` rows (rounded up to a clip).

    Rows with NaN/inf in any layer are dropped and counted in ``rows_nonfinite``.
    """

    def __init__(
        self,
        store_path: Path,
        layers: list[int],
        dtype: str,
        shard_rows: int,
        rank: int = 0,
        background: bool = True,
    ) -> None:
        if shard_rows < 1:
            raise MusaeError(f"shard_rows must be >= 1, got {shard_rows}.", "use e.g. 65536.")
        self.folder = Path(store_path) / SHARDS_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.layers = list(layers)
        self.dtype_name = dtype
        self.dtype = STORE_DTYPES[dtype]
        self.shard_rows = shard_rows
        self.rank = rank
        self.rows_written = 0
        self.rows_nonfinite = 0
        self.shards_written: list[str] = []
        self._seq = self._next_seq()
        self._buffer = self._empty()
        self._executor = ThreadPoolExecutor(max_workers=1) if background else None
        self._pending: Future | None = None

    def _empty(self) -> _Buffer:
        return _Buffer(acts={layer: [] for layer in self.layers})

    def _next_seq(self) -> int:
        prefix = shard_name(self.rank, 0)[:-6]
        seqs = [
            int(p.name[len(prefix) :])
            for p in self.folder.iterdir()
            if p.name.startswith(prefix) and p.name[len(prefix) :].isdigit()
        ]
        return max(seqs, default=-1) + 1

    # --- filling -------------------------------------------------------------------------
    def add_clip(
        self,
        source_id: int,
        clip_index: int,
        clip_start: float,
        frame_rate: float,
        acts: dict[int, torch.Tensor],
    ) -> int:
        """Buffer one clip's (frames, d_model) rows per layer; returns the rows kept."""
        n_frames = next(iter(acts.values())).shape[0]
        finite = torch.ones(n_frames, dtype=torch.bool)
        for layer in self.layers:
            finite &= torch.isfinite(acts[layer]).all(dim=1)
        kept = int(finite.sum())
        self.rows_nonfinite += n_frames - kept
        if kept < n_frames:
            dropped = n_frames - kept
            log.warning("dropped %d NaN/inf rows of source %d", dropped, source_id)
        frames = np.arange(n_frames, dtype=np.int32)[finite.numpy()]
        buf = self._buffer
        for layer in self.layers:
            buf.acts[layer].append(acts[layer][finite].to(self.dtype))
        buf.index.append(
            {
                "source_id": np.full(kept, source_id, dtype=np.int32),
                "clip_index": np.full(kept, clip_index, dtype=np.int32),
                "clip_start": np.full(kept, clip_start, dtype=np.float64),
                "frame": frames,
                "time": clip_start + frames.astype(np.float64) / frame_rate,
            }
        )
        buf.clips.append((source_id, clip_index))
        buf.rows += kept
        if buf.rows >= self.shard_rows:
            self.flush()
        return kept

    def flush(self) -> None:
        """Hand the buffered clips to the writer (background or inline); no-op when empty."""
        buf, self._buffer = self._buffer, self._empty()
        if not buf.clips:
            return
        name = shard_name(self.rank, self._seq)
        self._seq += 1
        self._wait()
        if self._executor is None:
            self._write(name, buf)
        else:
            self._pending = self._executor.submit(self._write, name, buf)

    def close(self) -> None:
        """Write what is buffered and wait for the last shard to land."""
        try:
            self.flush()
            self._wait()
        finally:
            self._shutdown()

    def abort(self) -> None:
        """Drop buffered rows (a resume redoes those clips); a shard already in flight finishes."""
        self._buffer = self._empty()
        try:
            self._wait()
        except MusaeError as exc:
            log.warning("%s", exc)
        finally:
            self._shutdown()

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # --- writing -------------------------------------------------------------------------
    def _write(self, name: str, buf: _Buffer) -> None:
        final = self.folder / name
        temp = self.folder / f"{TEMP_PREFIX}{name}-{os.getpid()}"
        try:
            shutil.rmtree(temp, ignore_errors=True)
            temp.mkdir()
            for layer in self.layers:
                data = torch.cat(buf.acts[layer])  # (0, d_model) when every row was NaN
                save_file({"activations": data.contiguous()}, str(temp / acts_file(layer)))
            index = {key: np.concatenate([part[key] for part in buf.index]) for key in buf.index[0]}
            with open(temp / INDEX_FILE, "wb") as fh:
                np.savez(fh, allow_pickle=False, **index)  # read back without pickles
            info = {
                "rows": buf.rows,
                "layers": self.layers,
                "dtype": self.dtype_name,
                "rank": self.rank,
                "clips": [list(c) for c in buf.clips],
            }
            (temp / SHARD_INFO_FILE).write_text(json.dumps(info) + "\n")
            os.rename(temp, final)
        except OSError as exc:
            shutil.rmtree(temp, ignore_errors=True)
            raise MusaeError(
                f"Writing shard {final} failed: {exc}.",
                "free disk space (or choose another --out), then re-run the same command; "
                "finished shards are kept.",
            ) from exc
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        self.rows_written += buf.rows
        self.shards_written.append(name)
