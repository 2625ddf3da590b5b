"""Where training batches come from: an activation store, or a model run live over audio.

Both are ``epoch -> iterator of (rows, d_in) float32 batches`` factories (see trainer.py), so the
trainer, its resume logic and evaluation never care which one feeds them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch

from musae_core.errors import MusaeError
from musae_core.harvest.collection import (
    SourceFile,
    list_audio_files,
    read_clips,
    rms,
)
from musae_core.harvest.store import ActivationStore
from musae_core.models.base import MusicModel
from musae_core.models.residual import capture_residual
from musae_core.sae.trainer import BatchFactory


def store_batches(
    store: ActivationStore, layer: int, batch_size: int, buffer_shards: int = 4, seed: int = 0
) -> BatchFactory:
    """Shuffled batches over every row of ``layer``; epoch ``e`` uses its own permutation."""
    if store.num_rows(layer) == 0:
        raise MusaeError(f"Activation store {store.path} has no rows.", "harvest audio into it.")

    def factory(epoch: int) -> Iterator[torch.Tensor]:
        return store.iter_batches(
            layer,
            batch_size,
            shuffle=True,
            seed=seed + epoch,
            drop_last=True,
            buffer_shards=buffer_shards,
        )

    return factory


def split_holdout(
    store: ActivationStore, layer: int, holdout_fraction: float, batch_size: int
) -> Iterator[torch.Tensor]:
    """The last shards of the store (deterministic), for evaluation on rows trained on last."""
    names = store.shard_names()
    count = max(1, round(len(names) * holdout_fraction)) if holdout_fraction > 0 else len(names)
    for name in names[-count:]:
        rows = store.read_shard(name, layer)
        yield from rows.split(batch_size)


def encoded_clips(
    model: MusicModel, files: list[SourceFile], clip_seconds: float
) -> Iterator[torch.Tensor]:
    """Codes (1, codebooks, frames) of every clip of ``files``, in order; unreadable files and
    silent clips are skipped (the harvest report is where such files get counted)."""
    for source in files:
        for _, piece in read_clips(source, model.sample_rate, clip_seconds, 1.0):
            if rms(piece) >= 1e-4:  # read block by block: long files stay small in memory
                yield model.encode(torch.from_numpy(np.ascontiguousarray(piece))[None])


def live_batches(
    model: MusicModel,
    audio: str | os.PathLike[str],
    layer: int,
    batch_size: int,
    clip_seconds: float = 10.0,
    buffer_rows: int = 65_536,
    seed: int = 0,
) -> BatchFactory:
    """Train straight from the model: encode clips, teacher-force, shuffle in a row buffer.

    Nothing is written to disk; each epoch revisits the files in a new order.
    """
    files = list_audio_files(audio)
    model.check_layer(layer)

    def clips(order: list[int]) -> Iterator[torch.Tensor]:
        for codes in encoded_clips(model, [files[i] for i in order], clip_seconds):
            with capture_residual(model, [layer]) as rec, torch.no_grad():
                model.teacher_force(codes)
            yield rec.activations(layer, int(codes.shape[-1]))[0]

    def factory(epoch: int) -> Iterator[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed + epoch)
        order = torch.randperm(len(files), generator=generator).tolist()
        buffer = torch.empty(0, model.d_model)
        for rows in clips(order):
            buffer = torch.cat([buffer, rows])
            if len(buffer) >= buffer_rows:  # drain half, keep half to mix with later clips
                buffer = buffer[torch.randperm(len(buffer), generator=generator)]
                while len(buffer) >= max(batch_size, buffer_rows // 2):
                    yield buffer[:batch_size]
                    buffer = buffer[batch_size:]
        buffer = buffer[torch.randperm(len(buffer), generator=generator)]
        for start in range(0, len(buffer) - batch_size + 1, batch_size):
            yield buffer[start : start + batch_size]

    return factory
