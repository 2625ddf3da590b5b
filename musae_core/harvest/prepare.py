"""Create or reopen a store for writing: check it matches this run, register sources, tidy up.

Runs on rank 0 only (the result is broadcast), so the metadata and source table are written by
one process; a resumed store must have been harvested with the same model, layers, width,
dtype, clip cutting and conditioning, or its rows would silently mix incompatible vectors.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from musae_core import __version__
from musae_core.errors import MusaeError
from musae_core.fileio import write_json_atomic
from musae_core.harvest.store import (
    META_FILE,
    SHARDS_DIR,
    SOURCES_FILE,
    STORE_FORMAT,
    STORE_VERSION,
    TEMP_PREFIX,
    ActivationStore,
    read_json,
)
from musae_core.models.base import MusicModel, hook_name
from musae_core.models.loading import shipped_id

IDENTITY_KEYS = (
    "model_id",
    "layers",
    "d_model",
    "frame_rate",
    "sample_rate",
    "dtype",
    "conditioning",
    "clip_seconds",
    "min_clip_seconds",
)
"""What must agree between a store and a run that resumes into it."""


def store_meta(
    model: MusicModel,
    layers: list[int],
    dtype: str,
    clip_seconds: float,
    min_clip_seconds: float,
    conditioning: str,
    extra: dict | None = None,
) -> dict:
    """The store.json payload for a harvest of ``model`` at ``layers``."""
    return {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "model_id": model.model_id,
        "layers": list(layers),
        "hook_names": [hook_name(layer) for layer in layers],
        "d_model": model.d_model,
        "frame_rate": float(model.frame_rate),
        "sample_rate": int(model.sample_rate),
        "dtype": dtype,
        "clip_seconds": float(clip_seconds),
        "min_clip_seconds": float(min_clip_seconds),
        "conditioning": conditioning,
        "musae_version": __version__,
        **(extra or {}),
    }


def _flags(meta: dict) -> str:
    flags = (
        f"--model {meta['model_id']} --layers {','.join(str(x) for x in meta['layers'])} "
        f"--dtype {meta['dtype']}"
    )
    if meta.get("conditioning") == "generated":
        return flags + f" --duration {meta['clip_seconds']:g}"
    return flags + f" --clip-seconds {meta['clip_seconds']:g}"


def check_compatible(out: Path, existing: dict, wanted: dict) -> None:
    """Raise a MusaeError naming the store and the differing settings if they disagree."""

    def same(key: str) -> bool:
        if key == "model_id":  # a shipped model's folder and its id are one model
            return shipped_id(str(existing.get(key))) == shipped_id(str(wanted[key]))
        return existing.get(key) == wanted[key]

    diffs = [
        f"{key} {existing.get(key)!r} (this run: {wanted[key]!r})"
        for key in IDENTITY_KEYS
        if not same(key)
    ]
    if diffs:
        raise MusaeError(
            f"Activation store {out} was harvested with different settings: {'; '.join(diffs)}.",
            f"write to a new --out folder, or resume this store with {_flags(existing)}.",
        )


def open_for_writing(out: Path, meta: dict) -> None:
    """Create ``out`` with ``meta``, or check an existing store matches and clear dead temps."""
    meta_path = out / META_FILE
    if meta_path.is_file():
        existing = ActivationStore.open(out).meta
        check_compatible(out, existing, meta)
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MusaeError(
            f"{out} exists and is not an activation store.",
            "choose a new --out folder (or an existing store to resume).",
        )
    else:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MusaeError(
                f"Cannot create store folder {out}: {exc}.", "pick another --out."
            ) from exc
        write_json_atomic(meta_path, meta)
    shards = out / SHARDS_DIR
    shards.mkdir(exist_ok=True)
    for stale in shards.glob(f"{TEMP_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)  # a killed writer's half shard


def register_sources(out: Path, entries: list[dict]) -> dict[str, int]:
    """Give every source key an id, keeping ids already in sources.json; returns key -> id.

    ``entries`` have ``path`` (the key) plus any of ``name``, ``caption``, ``audio``; new
    sources get ids after the existing ones in the order given, so every rank agrees.
    """
    file = out / SOURCES_FILE
    table: dict[str, dict] = read_json(file, "source table") if file.is_file() else {}
    ids = {entry["path"]: int(sid) for sid, entry in table.items()}
    next_id = max((int(sid) for sid in table), default=-1) + 1
    changed = False
    for entry in entries:
        if entry["path"] in ids:
            continue
        ids[entry["path"]] = next_id
        table[str(next_id)] = {"source_id": next_id, **entry}
        next_id += 1
        changed = True
    if changed or not file.is_file():
        write_json_atomic(file, table)
    return ids


def prepare_store(out: Path, meta: dict, entries: list[dict]) -> dict[str, int]:
    """Open or create the store and register its sources (rank 0's share of setup)."""
    open_for_writing(out, meta)
    return register_sources(out, entries)
