"""``analyze``: an SAE over an activation store -> a feature database (+ cached snippets).

Pass 1 streams the store shard by shard: sparse codes, running per-feature statistics, clip
means/peaks and the top-N clips per feature (ids only); codes are spilled to a temporary
folder. Pass 2 re-reads the spilled codes of the shards that hold top clips to build their
per-frame timelines. Everything is written into ``OUT.tmp`` and renamed into place at the
end, so an interrupted run leaves no half-built database; a killed or cancelled run resumes
pass 1 after its last encoded shard (``resume.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from musae_core.errors import Cancelled, MusaeError
from musae_core.features.activation_stats import FeatureAccumulator, Thresholds
from musae_core.features.cliptable import ClipTable
from musae_core.features.codes import sparse_codes
from musae_core.features.db import FeatureDB, snippet_dir_for
from musae_core.features.neighbours import decoder_neighbours
from musae_core.features.resume import Pass1Checkpoint, run_key
from musae_core.features.snippets import SNIPPET_FORMATS, SnippetRequest, write_snippets
from musae_core.features.timelines import (
    ClipContext,
    TopEntries,
    load_codes,
    save_codes,
    shard_top_clips,
)
from musae_core.features.topclips import TopSelector, clip_aggregates
from musae_core.harvest.store import ActivationStore
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.models.base import hook_name
from musae_core.sae.architectures import SparseAutoencoder
from musae_core.sae.evaluate import check_compatible
from musae_core.sae.identity import sae_identity

log = logging.getLogger(__name__)


@dataclass
class AnalyzeReport:
    """What ``analyze`` produced."""

    out: Path
    features: int = 0
    dead: int = 0
    rare: int = 0
    generic: int = 0
    rows: int = 0
    clips: int = 0
    snippets: int = 0
    snippet_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        kept = self.features - self.dead - self.rare - self.generic
        text = (
            f"analysed {self.features} features over {self.rows} frames in {self.clips} clips "
            f"({self.seconds:.1f} s): {self.dead} dead, {self.rare} rare, {self.generic} generic, "
            f"{kept} kept; {self.snippets} snippets; wrote {self.out}"
        )
        if self.snippet_problems:
            text += f"\n{len(self.snippet_problems)} snippets could not be cut (sources missing?)"
        return text


def temp_paths(out: Path) -> tuple[Path, Path, Path]:
    """(database, snippet folder, code spill folder) that a run builds before renaming."""
    return (
        out.with_name(out.name + ".tmp"),
        snippet_dir_for(out).with_name(snippet_dir_for(out).name + ".tmp"),
        out.with_name(out.name + ".codes.tmp"),
    )


def _remove(*paths: Path) -> None:
    """Delete files (with their SQLite side files) or folders, ignoring what is not there."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            continue
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)


def _check_inputs(sae: SparseAutoencoder, store: ActivationStore, layer: int | None) -> int:
    what = f"activation store {store.path}"
    if layer is None or layer == sae.cfg.layer:
        check_compatible(sae, store.model_id, store.layers, store.d_model, what)
        return sae.cfg.layer
    check_compatible(
        sae.__class__(sae.cfg.replace(layer=layer)),
        store.model_id,
        store.layers,
        store.d_model,
        what,
    )
    log.warning("SAE was trained on layer %d; reading layer %d as asked", sae.cfg.layer, layer)
    return layer


def analyze(
    sae: SparseAutoencoder,
    store: ActivationStore,
    out: str | os.PathLike[str],
    *,
    top_n: int = 10,
    clip_threshold: float | None = None,
    relative_threshold: float = 0.05,
    rare: float = 0.01,
    generic: float = 0.25,
    snippet_seconds: float = 5.0,
    snippet_format: str = "flac",
    chunk_rows: int = 8192,
    neighbours: int = 8,
    layer: int | None = None,
    sae_path: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> AnalyzeReport:
    """Write the feature database ``out`` for ``sae`` over ``store`` (see module docstring).

    ``clip_threshold`` is an absolute clip-mean threshold; when None a clip counts as active
    when its mean exceeds ``relative_threshold`` x the feature's max activation. A
    ``snippet_seconds`` of 0 skips the audio snippets; ``snippet_format`` "opus" writes them
    lossy and small (a snippet as long as the clips makes one file per clip, shared by every
    feature: a database that ships with its audio).
    """
    if snippet_format not in SNIPPET_FORMATS:
        raise MusaeError(
            f"Unknown snippet format {snippet_format!r}.", f"use one of {SNIPPET_FORMATS}."
        )
    started = time.perf_counter()
    out = Path(out)
    progress = progress or no_progress
    if top_n < 1:
        raise MusaeError(f"top_n must be >= 1, got {top_n}.", "use e.g. --top-n 10.")
    if out.exists() and not overwrite:
        raise MusaeError(
            f"Feature database {out} already exists.",
            "pass --overwrite to replace it, or choose another --out.",
        )
    layer = _check_inputs(sae, store, layer)
    shards = store.shard_names()
    if not shards:
        raise MusaeError(
            f"Activation store {store.path} has no finished shards.",
            "run `musae harvest` into it first.",
        )
    thresholds = Thresholds(clip_threshold, relative_threshold, rare, generic)
    tmp_db, tmp_snippets, spill = temp_paths(out)
    _remove(tmp_db, tmp_snippets)
    settings = {
        "store": str(Path(store.path).resolve()),
        "shards": shards,
        "layer": layer,
        "thresholds": thresholds.as_dict(),
        "top_n": top_n,
    }
    key = run_key(sae, settings)
    resume = Pass1Checkpoint(spill, key)  # keeps a killed run's encoded shards, else starts fresh
    total = 2 * len(shards) + 2
    finished = False
    try:
        with torch.no_grad():
            db = FeatureDB.create(
                tmp_db,
                _meta(sae, store, layer, thresholds, top_n, snippet_seconds, sae_path),
                overwrite=True,
            )
            try:
                report = _build(
                    sae,
                    store,
                    db,
                    layer,
                    shards,
                    thresholds,
                    top_n,
                    snippet_seconds,
                    snippet_format,
                    chunk_rows,
                    neighbours,
                    spill,
                    tmp_snippets,
                    progress,
                    total,
                    cancel,
                    resume,
                )
                db.update_meta(
                    rows=report.rows,
                    clips=report.clips,
                    analyze_seconds=round(time.perf_counter() - started, 3),
                )
                db.checkpoint()
            finally:
                db.close()
        check(cancel)
        final_snippets = snippet_dir_for(out)
        if overwrite:
            _remove(out, final_snippets)
        if tmp_snippets.is_dir():
            tmp_snippets.rename(final_snippets)
        os.replace(tmp_db, out)
        finished = True
    except (Cancelled, KeyboardInterrupt):
        _remove(tmp_db, tmp_snippets)  # the spill folder stays: a re-run resumes from it
        raise
    except BaseException:
        _remove(tmp_db, tmp_snippets)
        finished = True
        raise
    finally:
        if finished:
            shutil.rmtree(spill, ignore_errors=True)
    report.out = out
    report.seconds = time.perf_counter() - started
    progress(total, total)
    return report


def _meta(sae, store, layer, thresholds, top_n, snippet_seconds, sae_path) -> dict:
    cfg = sae.cfg
    return {
        "model_id": store.model_id,
        "layer": layer,
        "hook_name": hook_name(layer),
        "d_model": store.d_model,
        "d_sae": cfg.d_sae,
        "k": cfg.k,
        "architecture": cfg.architecture,
        "sae_path": str(Path(sae_path).resolve()) if sae_path else None,
        "sae_identity": sae_identity(sae),  # consumers refuse a database of another SAE
        "store_path": str(Path(store.path).resolve()),
        "sample_rate": store.sample_rate,
        "frame_rate": store.frame_rate,
        "clip_seconds": store.clip_seconds,
        "thresholds": thresholds.as_dict(),
        "top_n": top_n,
        "snippet_seconds": snippet_seconds,
    }


def _build(
    sae,
    store,
    db,
    layer,
    shards,
    thresholds,
    top_n,
    snippet_seconds,
    snippet_format,
    chunk_rows,
    n_neighbours,
    spill,
    snippet_folder,
    progress,
    total,
    cancel,
    resume: Pass1Checkpoint,
) -> AnalyzeReport:
    d_sae = sae.cfg.d_sae
    acc = FeatureAccumulator(d_sae)
    selectors = (TopSelector(d_sae, top_n), TopSelector(d_sae, top_n))
    resume.restore(acc, selectors)
    table = ClipTable()
    step = 0
    for shard, name in enumerate(shards):
        check(cancel)
        index = store.read_index(name)
        if shard < resume.done:  # encoded by an earlier, interrupted run
            table.add_shard(shard, index)
            step += 1
            progress(step, total)
            continue
        acts = store.read_shard(name, layer)
        clips = table.add_shard(shard, index)
        rows, feats, vals = sparse_codes(sae, acts, chunk_rows, cancel)
        acc.add_frames(len(acts), feats, vals)
        clip, feat, means, peaks = clip_aggregates(
            clips.local_of_row, clips.frames, rows, feats, vals, d_sae
        )
        acc.add_clips(len(clips.frames), feat, means, thresholds.clip_threshold)
        global_clip = clips.global_ids[clip]
        selectors[0].update(feat, means, global_clip)
        selectors[1].update(feat, peaks, global_clip)
        save_codes(spill / f"{shard}.npz", rows, feats, vals)
        resume.save(shard + 1, acc, selectors)
        step += 1
        progress(step, total)
    stats = acc.finish(thresholds)
    db.write_features(stats)
    report = AnalyzeReport(
        out=Path(db.path),
        features=d_sae,
        rows=acc.rows,
        clips=acc.clips,
        dead=sum(s.dead for s in stats),
        rare=sum(s.rare for s in stats),
        generic=sum(s.generic for s in stats),
    )
    del stats
    entries = _entries(selectors)
    sources = {int(s["source_id"]): str(store.audio_path(s)) for s in store.sources()}
    ctx = ClipContext(
        table,
        sources,
        store.frame_rate,
        round(snippet_seconds * store.frame_rate),
        snippet_seconds,
        d_sae,
        snippet_format,
    )
    shard_of_entry = np.asarray(table.shard, dtype=np.int64)[entries.clip]
    requests: dict[str, SnippetRequest] = {}
    for shard, name in enumerate(shards):
        check(cancel)
        mine = shard_of_entry == shard
        if mine.any():
            clips = table.add_shard(shard, store.read_index(name))
            items, wanted = shard_top_clips(
                entries.select(mine), load_codes(spill / f"{shard}.npz"), clips, ctx
            )
            db.write_many_top_clips(items, replace=False)
            requests.update(wanted)
        (spill / f"{shard}.npz").unlink(missing_ok=True)
        step += 1
        progress(step, total)
    ids, cosines = decoder_neighbours(sae.W_dec.detach(), n_neighbours, cancel=cancel)
    db.write_many_neighbours(
        {j: list(zip(ids[j].tolist(), cosines[j].tolist(), strict=True)) for j in range(d_sae)}
    )
    progress(step + 1, total)
    if requests:
        report.snippets, report.snippet_problems = write_snippets(
            requests, snippet_folder, cancel=cancel
        )
    return report


def _entries(selectors: tuple[TopSelector, TopSelector]) -> TopEntries:
    parts = []
    for by, selector in enumerate(selectors):
        feat, rank, clip, _ = selector.ranked()
        parts.append((feat, np.full(len(feat), by), rank, clip))
    return TopEntries(*(np.concatenate([p[i] for p in parts]) for i in range(4)))
