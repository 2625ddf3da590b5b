"""Teacher-forced harvest of residual activations over an audio collection.

Every clip is encoded with the model's codec and teacher-forced through the LM (unconditional
as in the paper, or with its caption); ``capture_residual`` records one vector per audio frame
at each layer and the ``ShardWriter`` stores them with their provenance. The same job runner
drives the harvest of the model's own generations (``generations.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from musae_core.errors import Cancelled, MusaeError
from musae_core.harvest.collection import (
    FileReading,
    SourceFile,
    caption_for,
    list_audio_files,
    read_clips,
    rms,
)
from musae_core.harvest.config import HarvestConfig, HarvestReport
from musae_core.harvest.distributed import DistContext
from musae_core.harvest.prepare import prepare_store, store_meta
from musae_core.harvest.store import SHARDS_DIR, TEMP_PREFIX, ActivationStore
from musae_core.harvest.writer import ShardWriter
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.models.base import MusicModel
from musae_core.models.residual import capture_residual

log = logging.getLogger(__name__)

Work = Callable[[dict[str, int], set[tuple[int, int]], ShardWriter, HarvestReport], None]
"""The body of a job: (source ids by key, finished clips, writer, this rank's report)."""


@dataclass
class _Clip:
    source_id: int
    clip_index: int
    start: float
    audio: np.ndarray
    caption: str | None


def harvest_audio(
    model: MusicModel,
    audio: str | os.PathLike[str] | Sequence[SourceFile],
    out: str | os.PathLike[str],
    config: HarvestConfig,
    *,
    captions: dict[str, str] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    dist_ctx: DistContext | None = None,
) -> HarvestReport:
    """Harvest every clip of ``audio`` (folder, list file or SourceFiles) into the store ``out``.

    Resumable: clips already in finished shards are skipped. ``progress`` counts this rank's
    files. Cancelling keeps the clips finished so far (a re-run continues after them).
    """
    config.validate(model)
    if isinstance(audio, Sequence) and not isinstance(audio, str):
        files = list(audio)
    else:
        files = list_audio_files(audio)
    if not files:
        raise MusaeError("The audio collection is empty.", "pass at least one audio file.")
    entries = [
        {"path": f.key, "name": f.name, "caption": caption_for(captions, f) if captions else None}
        for f in files
    ]
    uncaptioned = sum(1 for e in entries if not e["caption"]) if captions else 0
    if captions and uncaptioned == len(entries):
        raise MusaeError(
            "No audio file matched a caption in the captions file.",
            "key captions by file name or by path relative to the audio folder.",
        )
    if uncaptioned:
        log.warning(
            "%d of %d files have no caption; they get the null condition", uncaptioned, len(entries)
        )
    conditioning = "captions" if captions else "unconditional"
    meta = store_meta(
        model,
        list(config.layers),
        config.dtype,
        config.clip_seconds,
        config.min_clip_seconds,
        conditioning,
    )
    ctx = dist_ctx or DistContext()
    mine = ctx.split(files)
    caption_by_key = {e["path"]: e["caption"] for e in entries}

    def work(ids, done, writer, report) -> None:
        report_progress = progress or no_progress
        pending: list[_Clip] = []
        for n, source in enumerate(mine):
            check(cancel)
            caption = caption_by_key[source.key]
            for clip in _clips_of(model, source, ids[source.key], caption, done, config, report):
                pending.append(clip)
                if len(pending) >= config.batch_size:
                    _run_batch(model, pending, config.layers, writer, report)
                    pending = []
                    check(cancel)
                    report_progress(n, len(mine))  # alive inside a long file (log lines)
            report_progress(n + 1, len(mine))
        if pending:
            _run_batch(model, pending, config.layers, writer, report)

    def nothing_usable(report: HarvestReport) -> MusaeError | None:
        if report.clips + report.clips_resumed:
            return None
        return MusaeError(
            f"Nothing usable to harvest: {len(files)} file(s) listed, "
            f"{len(report.files_corrupt)} corrupt, {len(report.files_empty)} empty, "
            f"{len(report.files_silent)} silent, {len(report.files_too_short)} too short.",
            "check the audio collection (see the warnings above) and run again.",
        )

    return run_job(out, meta, entries, config, work, ctx, refuse=nothing_usable)


def run_job(
    out: str | os.PathLike[str],
    meta: dict,
    entries: list[dict],
    config: HarvestConfig,
    work: Work,
    ctx: DistContext,
    refuse: Callable[[HarvestReport], MusaeError | None] | None = None,
) -> HarvestReport:
    """Set the store up (rank 0), run ``work`` with a ShardWriter, merge the ranks' reports.

    ``refuse`` may turn the merged report into an error. A run that fails (or is refused)
    before any shard of a store it created was finished removes that store again, so a
    failed command leaves the file system as it found it.
    """
    out = Path(out)
    existed = out.exists()
    empty_before = not existed or (out.is_dir() and not any(out.iterdir()))
    created = ctx.is_main and empty_before  # never touch a folder that held anything
    try:
        merged = _run(out, meta, entries, config, work, ctx)
        problem = refuse(merged) if refuse is not None else None
        if problem is not None:
            raise problem
    except BaseException:
        if created:
            _discard_unused_store(out, existed)
        raise
    return merged


def _discard_unused_store(out: Path, existed: bool) -> None:
    """Remove a store this run created if it holds no finished shard (keep one that does)."""
    shards = out / SHARDS_DIR
    if shards.is_dir() and any(not p.name.startswith(TEMP_PREFIX) for p in shards.iterdir()):
        return
    if not existed:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir() if out.is_dir() else []:  # it was empty before this run
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _run(
    out: Path,
    meta: dict,
    entries: list[dict],
    config: HarvestConfig,
    work: Work,
    ctx: DistContext,
) -> HarvestReport:
    ids = _setup(ctx, out, meta, entries)
    done = ActivationStore.open(out).done_clips()
    report = HarvestReport(store=str(out))
    writer = ShardWriter(
        out,
        list(config.layers),
        config.dtype,
        config.shard_rows,
        ctx.rank,
        config.background_writes,
    )
    started = time.perf_counter()
    try:
        work(ids, done, writer, report)
        writer.close()
    except (Cancelled, KeyboardInterrupt):
        writer.close()  # keep the clips finished so far; a re-run resumes after them
        raise
    except BaseException:
        writer.abort()
        raise
    report.rows = writer.rows_written
    report.shards = len(writer.shards_written)
    report.rows_nonfinite = writer.rows_nonfinite
    report.seconds = time.perf_counter() - started
    return HarvestReport.merge(ctx.gather(report))  # front ends show merged.warnings()


def _setup(ctx: DistContext, out: Path, meta: dict, entries: list[dict]) -> dict[str, int]:
    """Rank 0 prepares the store; every rank gets the source ids or the same error."""
    result: tuple = ()
    if ctx.is_main:
        try:
            result = ("ok", prepare_store(out, meta, entries))
        except MusaeError as exc:
            result = ("error", exc.problem, exc.fix)
    result = ctx.broadcast(result)
    if result[0] == "error":
        raise MusaeError(result[1], result[2])
    return result[1]


def _clips_of(
    model: MusicModel,
    source: SourceFile,
    source_id: int,
    caption: str | None,
    done: set[tuple[int, int]],
    config: HarvestConfig,
    report: HarvestReport,
) -> Iterator[_Clip]:
    """The clips of one file still to harvest, read block by block; bad files are counted.

    A file whose clips are all silent (and whose overall level is below ``silence_rms``)
    counts as a silent file; one damaged part way through keeps the clips before the damage.
    """
    rate = model.sample_rate
    reading = FileReading()
    spans = resumed = silent = kept = 0
    for span, piece in read_clips(
        source, rate, config.clip_seconds, config.min_clip_seconds, reading
    ):
        spans += 1
        if (source_id, span.clip_index) in done:
            resumed += 1
        elif rms(piece) < config.silence_rms:
            silent += 1
        else:
            kept += 1
            yield _Clip(source_id, span.clip_index, span.start / rate, piece, caption)
    report.clips_resumed += resumed
    if reading.problem:
        kind = reading.problem.split(":", 1)[0]
        log.warning("skipping %s: %s", source.path, reading.problem)
        (report.files_empty if kind == "empty" else report.files_corrupt).append(source.name)
        if not kept:
            return
    elif not kept and not resumed and spans and reading.rms < config.silence_rms:
        log.warning("skipping silent file %s", source.path)
        report.files_silent.append(source.name)
        return
    elif not spans:
        report.files_too_short.append(source.name)
        return
    report.clips_silent += silent
    report.files += 1


def _run_batch(
    model: MusicModel,
    clips: list[_Clip],
    layers: Sequence[int],
    writer: ShardWriter,
    report: HarvestReport,
) -> None:
    """Encode clips (grouped by length), teacher-force them together, hand rows to the writer.

    Shorter clips' codes are padded at the end; the LM is causal, so frames before the padding
    get exactly the activations they would get alone.
    """
    codes: list[torch.Tensor] = [torch.empty(0)] * len(clips)
    by_length: dict[int, list[int]] = {}
    for i, clip in enumerate(clips):
        by_length.setdefault(len(clip.audio), []).append(i)
    for members in by_length.values():
        audio = torch.from_numpy(np.stack([clips[i].audio for i in members]))
        for row, code in zip(members, model.encode(audio), strict=True):
            codes[row] = code
    n_frames = [int(c.shape[-1]) for c in codes]
    width = max(n_frames)
    batch = torch.stack([F.pad(c, (0, width - c.shape[-1])) for c in codes])
    texts = [clip.caption or "" for clip in clips]
    with capture_residual(model, list(layers)) as rec:
        model.teacher_force(batch, texts if any(texts) else None)
    acts = {layer: rec.activations(layer, width) for layer in layers}
    for b, clip in enumerate(clips):
        rows = {layer: acts[layer][b, : n_frames[b]] for layer in layers}
        writer.add_clip(clip.source_id, clip.clip_index, clip.start, model.frame_rate, rows)
        report.clips += 1
