"""Harvest activations from the model's own generations over a list of prompts.

Each take is sampled with its own seed (``seed + take number``), so a take is reproducible and
a resumed run skips exactly the takes already stored. The residual is captured while the model
generates (conditional CFG branch), and the take's audio is saved in the store so every row can
be played back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from musae_core.audio.io import write_wav
from musae_core.errors import MusaeError
from musae_core.harvest.config import GenerationSettings, HarvestConfig, HarvestReport
from musae_core.harvest.distributed import DistContext
from musae_core.harvest.harvester import run_job
from musae_core.harvest.prepare import store_meta
from musae_core.harvest.store import GENERATED_DIR, generated_audio_name
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.models.base import GenerationRequest, MusicModel
from musae_core.models.residual import capture_residual


def generated_key(prompt: str, seed: int) -> str:
    """The source key of one take, as recorded in sources.json."""
    return f"generated:{prompt}#{seed}"


def harvest_generations(
    model: MusicModel,
    prompts: Sequence[str],
    out: str | os.PathLike[str],
    config: HarvestConfig,
    settings: GenerationSettings,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    dist_ctx: DistContext | None = None,
) -> HarvestReport:
    """Generate ``variants`` takes per prompt and store their residuals; resumable per take.

    ``config.clip_seconds`` is ignored: a take is one clip of ``settings.duration`` seconds.
    ``progress`` counts this rank's takes.
    """
    if not prompts:
        raise MusaeError("No prompts to generate from.", "write one prompt per line.")
    model.n_frames_for(settings.duration)  # validates the duration before any work
    config = HarvestConfig(
        layers=config.layers,
        clip_seconds=settings.duration,
        min_clip_seconds=settings.duration,
        batch_size=1,
        shard_rows=config.shard_rows,
        dtype=config.dtype,
        background_writes=config.background_writes,
    )
    config.validate(model)
    takes = [
        (prompt, settings.seed + i * settings.variants + j)
        for i, prompt in enumerate(prompts)
        for j in range(settings.variants)
    ]
    entries = [
        {"path": generated_key(p, s), "name": f"{p}#{s}", "caption": p, "seed": s} for p, s in takes
    ]
    generation = {"generation": settings.sampling.to_dict()}
    meta = store_meta(
        model,
        list(config.layers),
        config.dtype,
        settings.duration,
        settings.duration,
        "generated",
        generation,
    )
    ctx = dist_ctx or DistContext()
    mine = ctx.split(takes)
    folder = Path(out) / GENERATED_DIR

    def work(ids, done, writer, report) -> None:
        report_progress = progress or no_progress
        folder.mkdir(exist_ok=True)
        for n, (prompt, seed) in enumerate(mine):
            check(cancel)
            source_id = ids[generated_key(prompt, seed)]
            if (source_id, 0) in done:
                report.clips_resumed += 1
                report_progress(n + 1, len(mine))
                continue
            request = GenerationRequest(
                prompts=(prompt,),
                duration=settings.duration,
                seed=seed,
                sampling=settings.sampling,
            )
            with capture_residual(model, list(config.layers)) as rec:
                take = model.generate(request, cancel=cancel)
            n_frames = take.codes.shape[-1]
            rows = {layer: rec.activations(layer, n_frames)[0] for layer in config.layers}
            write_wav(folder / generated_audio_name(source_id), take.audio[0], take.sample_rate)
            writer.add_clip(source_id, 0, 0.0, model.frame_rate, rows)
            report.clips += 1
            report.files += 1
            report_progress(n + 1, len(mine))

    report = run_job(out, meta, entries, config, work, ctx)
    report.unit = "take"
    return report
