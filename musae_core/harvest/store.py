"""The activation store on disk and its read API (layout in docs/architecture.md).

A store is a folder: ``store.json`` (what was harvested), ``sources.json`` (where rows came
from) and ``shards/<name>/`` folders that only appear once complete, so readers never see a
half-written shard and a killed harvest resumes by skipping what is already there.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from musae_core.errors import MusaeError

STORE_FORMAT = "musae-activations"
STORE_VERSION = 1
META_FILE = "store.json"
SOURCES_FILE = "sources.json"
SHARDS_DIR = "shards"
GENERATED_DIR = "generated"
SHARD_INFO_FILE = "shard.json"
INDEX_FILE = "index.npz"
TEMP_PREFIX = ".tmp-"
INDEX_KEYS = ("source_id", "clip_index", "clip_start", "frame", "time")
STORE_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def acts_file(layer: int) -> str:
    """File name of one layer's activations inside a shard."""
    return f"acts_L{layer}.safetensors"


def shard_name(rank: int, seq: int) -> str:
    """Shard names carry the writer's rank so parallel ranks never collide."""
    return f"rank{rank:03d}-{seq:06d}"


def generated_audio_name(source_id: int) -> str:
    """File name (under ``generated/``) of the saved audio of a generated source."""
    return f"{source_id:06d}.wav"


def read_json(path: Path, what: str) -> dict:
    """Read a JSON file of the store, turning damage into a MusaeError that names it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MusaeError(
            f"Cannot read {what} {path}: {exc}.",
            "restore the file, or delete the store folder and harvest again.",
        ) from exc


def _corrupt_shard(folder: Path, file: Path, detail: object) -> MusaeError:
    return MusaeError(
        f"Shard file {file} is corrupt or truncated ({detail}).",
        f"delete the shard folder {folder} and re-run the same `musae harvest` command to "
        "redo just that shard.",
    )


class ActivationStore:
    """Read access to a finished or in-progress store; rows are frames, same order per layer."""

    def __init__(self, path: Path, meta: dict) -> None:
        self.path = path
        self.meta = meta
        self.model_id: str = meta["model_id"]
        self.layers: list[int] = [int(layer) for layer in meta["layers"]]
        self.d_model: int = int(meta["d_model"])
        self.frame_rate: float = float(meta["frame_rate"])
        self.sample_rate: int = int(meta["sample_rate"])
        self.dtype: str = meta["dtype"]
        self.clip_seconds: float = float(meta["clip_seconds"])
        self.conditioning: str = meta.get("conditioning", "unconditional")
        self._shard_info: dict[str, dict] = {}

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ActivationStore:
        """Open the store folder ``path``; raises MusaeError if it is not a musae store."""
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise MusaeError(
                f"{path} is not an activation store (no {META_FILE}).",
                "point at a folder written by `musae harvest --out`.",
            )
        meta = read_json(meta_path, "store metadata")
        if meta.get("format") != STORE_FORMAT or meta.get("version") != STORE_VERSION:
            raise MusaeError(
                f"{meta_path} is not a version-{STORE_VERSION} {STORE_FORMAT} store.",
                "harvest the store again with this version of musae.",
            )
        return cls(path, meta)

    # --- shards --------------------------------------------------------------------------
    def shard_names(self) -> list[str]:
        """Finished shards in a stable order (temporary folders of running writers excluded)."""
        folder = self.path / SHARDS_DIR
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def shard_path(self, name: str) -> Path:
        return self.path / SHARDS_DIR / name

    def shard_info(self, name: str) -> dict:
        """A shard's manifest: rows, dtype, layers and the clips it holds."""
        if name not in self._shard_info:
            folder = self.shard_path(name)
            file = folder / SHARD_INFO_FILE
            try:
                info = json.loads(file.read_text())
                int(info["rows"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise _corrupt_shard(folder, file, exc) from exc
            self._shard_info[name] = info
        return self._shard_info[name]

    def shard_num_rows(self, name: str) -> int:
        return int(self.shard_info(name)["rows"])

    def num_rows(self, layer: int | None = None) -> int:
        """Total rows (frames); every layer has the same rows."""
        if layer is not None:
            self._check_layer(layer)
        return sum(self.shard_num_rows(name) for name in self.shard_names())

    def done_clips(self) -> set[tuple[int, int]]:
        """(source_id, clip_index) of every clip in a finished shard: what a resume skips."""
        done: set[tuple[int, int]] = set()
        for name in self.shard_names():
            done.update((int(s), int(c)) for s, c in self.shard_info(name)["clips"])
        return done

    def read_shard(
        self, name: str, layer: int, dtype: torch.dtype | None = torch.float32
    ) -> torch.Tensor:
        """(rows, d_model) activations of one shard; ``dtype=None`` keeps the stored dtype."""
        self._check_layer(layer)
        folder = self.shard_path(name)
        file = folder / acts_file(layer)
        rows = self.shard_num_rows(name)
        try:
            tensor = load_file(str(file))["activations"]
        except (OSError, SafetensorError, KeyError, RuntimeError) as exc:
            raise _corrupt_shard(folder, file, exc) from exc
        if tuple(tensor.shape) != (rows, self.d_model):
            detail = f"shape {tuple(tensor.shape)}, expected ({rows}, {self.d_model})"
            raise _corrupt_shard(folder, file, detail)
        return tensor if dtype is None else tensor.to(dtype)

    def read_index(self, name: str) -> dict[str, np.ndarray]:
        """Per row of shard ``name``: source_id, clip_index, clip_start (s), frame, time (s)."""
        folder = self.shard_path(name)
        file = folder / INDEX_FILE
        rows = self.shard_num_rows(name)
        try:
            with np.load(file, allow_pickle=False) as data:
                index = {key: data[key] for key in INDEX_KEYS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise _corrupt_shard(folder, file, exc) from exc
        bad = [k for k, v in index.items() if v.shape != (rows,)]
        if bad:
            raise _corrupt_shard(folder, file, f"{bad[0]} does not have {rows} rows")
        return index

    def iter_shards(self, layer: int) -> Iterator[tuple[str, torch.Tensor, dict[str, np.ndarray]]]:
        """(name, float32 activations, index) per shard, for passes that need row provenance."""
        for name in self.shard_names():
            yield name, self.read_shard(name, layer), self.read_index(name)

    def iter_batches(
        self,
        layer: int,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        buffer_shards: int = 2,
    ) -> Iterator[torch.Tensor]:
        """Float32 (batch, d_model) batches covering every row exactly once.

        Shuffling permutes the shard order and mixes rows within a window of ``buffer_shards``
        shards, so memory stays at a few shards however large the store is.
        """
        self._check_layer(layer)
        if batch_size < 1:
            raise MusaeError(f"batch_size must be >= 1, got {batch_size}.", "use e.g. 4096.")
        names = self.shard_names()
        generator = torch.Generator().manual_seed(seed)
        if shuffle:
            names = [names[i] for i in torch.randperm(len(names), generator=generator).tolist()]
        window = max(1, buffer_shards) if shuffle else 1
        carry = torch.empty(0, self.d_model)
        for start in range(0, len(names), window):
            parts = [carry] + [self.read_shard(n, layer) for n in names[start : start + window]]
            data = torch.cat(parts)
            if shuffle:
                data = data[torch.randperm(len(data), generator=generator)]
            full = len(data) - len(data) % batch_size
            for row in range(0, full, batch_size):
                yield data[row : row + batch_size]
            carry = data[full:].clone()
        if len(carry) and not drop_last:
            yield carry

    # --- sources -------------------------------------------------------------------------
    def sources(self) -> list[dict]:
        """Every source by id: ``path`` (or 'generated:<prompt>#<seed>'), ``audio``, caption."""
        file = self.path / SOURCES_FILE
        if not file.is_file():
            return []
        table = read_json(file, "source table")
        return [table[key] for key in sorted(table, key=int)]

    def audio_path(self, source: dict) -> Path:
        """A playable file for a source: the original file, or the saved generated take."""
        if str(source["path"]).startswith("generated:"):
            return self.path / GENERATED_DIR / generated_audio_name(int(source["source_id"]))
        return Path(source["path"])

    def _check_layer(self, layer: int) -> None:
        if layer not in self.layers:
            raise MusaeError(
                f"Layer {layer} is not in activation store {self.path} (layers {self.layers}).",
                f"use one of {self.layers}, or harvest layer {layer} into a new store.",
            )
