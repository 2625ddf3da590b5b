"""Per-frame concept truth for demo-corpus clips, re-derived from each clip's seed.

Clip ``i`` of a corpus is a pure function of (seed, i) (``corpus.render_clip``), so its notes
can be composed again (``truth.derive_clip``, the same function that records a corpus's
``.truth.npz``) and turned into the concept columns of ``truth_table.clip_concepts`` (the
sweep's truth table): the scorecard and the sweep read one truth. Columns:

- clip-level factor values, true on every frame of the clip: ``instrument=piano``,
  ``mode=minor``, ``tempo_band=fast``, ``register=high``, ``dynamics=soft``, ``drums=true``;
- ``pitch=61`` / ``pitch_class=C#``: a note of that pitch / class sounds;
- ``onset``: a pitched note starts in the frame (the frame whose centre is nearest);
- ``drum=kick|snare|hat``: that drum is hit in the frame;
- ``chord=C:maj``: the sounding chord; ``melody`` / ``accompaniment``: a melody note / chord
  tone sounds.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from musae_core.demo.factor_classifier import FACTORS
from musae_core.demo.truth_table import is_factor
from musae_core.errors import MusaeError
from musae_core.features.concepts import ConceptTruth


def clip_concepts(
    record: dict, seed: int, clip_seconds: float, n_frames: int, frame_rate: float
) -> dict[str, np.ndarray]:
    """Every concept column of one clip that is true somewhere in it, checked against its
    factor record: the recorded truth's columns (``truth.derive_clip`` composes the clip's
    notes again; ``truth_table.clip_concepts`` turns them into concept columns), so the
    scorecard and ``musae demo truth`` (the sweep's truth table) read one truth."""
    from musae_core.demo.truth import derive_clip
    from musae_core.demo.truth_table import clip_concepts as table_columns
    from musae_core.demo.truth_table import concept_names

    factors, _, truth = derive_clip(seed, int(record["clip"]), clip_seconds, frame_rate)
    if factors.to_dict()["caption"] != record["caption"]:
        raise MusaeError(
            f"Clip {record['clip']} does not re-derive from seed {seed} (its factors differ).",
            "score with --truth from a corpus that records its per-frame truth.",
        )
    table = table_columns(truth, record)
    if len(table) < n_frames:  # rows past the clip's end hold its last frame's factors only
        pad = np.zeros((n_frames - len(table), table.shape[1]), bool)
        table = np.concatenate([table, pad])
    table = table[:n_frames]
    names = concept_names()
    return {name: table[:, i] for i, name in enumerate(names) if table[:, i].any()}


def corpus_truth(
    records_by_source: dict[int, dict],
    frames_by_source: dict[int, np.ndarray],
    seed: int,
    clip_seconds: float,
    frame_rate: float,
    sources: Iterable[int],
    lag: int = 0,
) -> ConceptTruth:
    """Truth rows for ``sources`` in order, each clip's rows at ``frames_by_source`` frames;
    row frame ``f`` gets the truth of audio frame ``f - lag`` (false before the clip starts)."""
    sources = list(sources)
    per_clip, names = [], set()
    for s in sources:
        frames = np.asarray(frames_by_source[s], dtype=np.int64)
        n = int(frames.max()) + 1 if len(frames) else 0
        cols = clip_concepts(records_by_source[s], seed, clip_seconds, n, frame_rate)
        per_clip.append((cols, frames))
        names |= set(cols)
    ordered = sorted(names, key=_concept_order)
    column = {name: i for i, name in enumerate(ordered)}
    total = sum(len(f) for _, f in per_clip)
    truth = np.zeros((total, len(ordered)), bool)
    row = 0
    for cols, frames in per_clip:
        source = frames - lag
        inside = (source >= 0) & (source < n)
        for name, values in cols.items():
            truth[row : row + len(frames), column[name]] = values[np.clip(source, 0, n - 1)] & (
                inside | is_factor(name)  # a clip's factors hold from its first row
            )
        row += len(frames)
    lengths = [len(f) for _, f in per_clip]
    clip_ids = np.repeat(np.asarray(sources, np.int64), lengths)
    frame_index = np.concatenate([f for _, f in per_clip])
    return ConceptTruth(ordered, truth, clip_ids, frame_index, frame_rate)


def _concept_order(name: str) -> tuple:
    kind, _, value = name.partition("=")
    kinds = (*FACTORS, "chord", "pitch_class", "pitch", "onset", "drum")
    rank = kinds.index(kind) if kind in kinds else len(kinds)
    return (rank, int(value) if value.isdigit() else 0, value)
