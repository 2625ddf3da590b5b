"""The demo corpus's per-frame truth as a concept table aligned to activation-store rows.

Columns (binary per frame): ``pitch=N`` (MIDI note sounding), ``pitch_class=X``, ``onset`` (a
pitched note starts), ``drum=kick|snare|hat`` (a hit), ``chord=X:q`` (the sounding chord),
``melody`` / ``accompaniment`` (a melody note / chord tone sounds), and the clip factors named as
the factor classifier names them (``instrument=``, ``mode=``, ``tempo_band=``, ``register=``,
``dynamics=``, ``drums=true|false``), constant over a clip. Pitches and chords that never occur
in the selected rows get no column. The scorecard's re-derived truth
(``frame_truth.corpus_truth``) builds its columns here too, so the scorecard and the sweep read
one truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musae_core.demo.corpus import load_factors
from musae_core.demo.corpus_spec import clip_name
from musae_core.demo.data import is_heldout
from musae_core.demo.factors import (
    DYNAMICS,
    INSTRUMENT_FAMILIES,
    MODES,
    NOTE_NAMES,
    REGISTER_BANDS,
    TEMPO_BANDS,
)
from musae_core.demo.truth import (
    CHORD,
    DRUM_KINDS,
    FRAME_RATE,
    MELODY,
    QUALITIES,
    ClipTruth,
    load_clip_truth,
    truth_path,
)
from musae_core.errors import MusaeError
from musae_core.features.concepts import ConceptTruth
from musae_core.jobs import CancelToken, check

FACTOR_CONCEPTS: tuple[tuple[str, tuple], ...] = (
    ("instrument", tuple(sorted(INSTRUMENT_FAMILIES))),
    ("mode", MODES),
    ("tempo_band", tuple(TEMPO_BANDS)),
    ("register", tuple(REGISTER_BANDS)),
    ("dynamics", tuple(DYNAMICS)),
    ("drums", (True, False)),
)
PITCHES = range(128)
CHORDS = [(root, q) for root in range(12) for q in QUALITIES]


def concept_names() -> list[str]:
    """Every possible column, in table order (before unused pitches and chords are dropped)."""
    names = [f"pitch={p}" for p in PITCHES]
    names += [f"pitch_class={n}" for n in NOTE_NAMES]
    names += ["onset", *(f"drum={d}" for d in DRUM_KINDS)]
    names += [f"chord={NOTE_NAMES[r]}:{q}" for r, q in CHORDS]
    names += ["melody", "accompaniment"]
    for factor, values in FACTOR_CONCEPTS:
        names += [f"{factor}={str(v).lower() if factor == 'drums' else v}" for v in values]
    return names


def is_factor(name: str) -> bool:
    """A clip-level factor column (constant over a clip)."""
    return name.partition("=")[0] in dict(FACTOR_CONCEPTS)


def clip_concepts(truth: ClipTruth, record: dict) -> np.ndarray:
    """(frames, len(concept_names())) bool table of one clip."""
    sounding = truth.role > 0
    pcs = np.zeros((truth.n_frames, 12), bool)
    for pc in range(12):
        pcs[:, pc] = sounding[:, pc::12].any(1)
    chords = np.zeros((truth.n_frames, len(CHORDS)), bool)
    has = truth.chord_root >= 0
    chords[has, truth.chord_root[has] * len(QUALITIES) + truth.chord_quality[has]] = True
    parts = [
        sounding,
        pcs,
        truth.onset.any(1, keepdims=True),
        truth.drums,
        chords,
        ((truth.role & MELODY) > 0).any(1, keepdims=True),
        ((truth.role & CHORD) > 0).any(1, keepdims=True),
    ]
    for factor, values in FACTOR_CONCEPTS:
        value = bool(record[factor]) if factor == "drums" else record[factor]
        parts.append(np.tile(np.array([value == v for v in values]), (truth.n_frames, 1)))
    return np.concatenate(parts, axis=1)


def store_clip_numbers(sources: list[dict]) -> dict[int, int]:
    """source_id -> corpus clip number, from each source's file name (``000123.flac``)."""
    mapping = {}
    for source in sources:
        stem = Path(str(source["path"])).name.split(".")[0]
        if not stem.isdigit():
            raise MusaeError(
                f"Store source {source['path']} is not a demo corpus clip.",
                "harvest the corpus's clips/ folder (`musae harvest --audio CORPUS/clips`).",
            )
        mapping[int(source["source_id"])] = int(stem)
    return mapping


def corpus_concept_truth(
    corpus: str | Path,
    source_ids: np.ndarray,
    frames: np.ndarray,
    clip_numbers: dict[int, int],
    cancel: CancelToken | None = None,
    lag: int = 0,
) -> ConceptTruth:
    """The concept table for rows (``source_ids``, ``frames``) of a store over ``corpus``;
    row frame ``f`` gets the truth of frame ``f - lag`` (all false before the clip starts)."""
    corpus = Path(corpus)
    records = {int(r["clip"]): r for r in load_factors(corpus)}
    names = concept_names()
    clip_level = np.array([is_factor(n) for n in names])
    table = np.zeros((len(source_ids), len(names)), bool)
    for source in np.unique(source_ids):
        check(cancel)
        number = clip_numbers[int(source)]
        truth = load_clip_truth(truth_path(corpus / "clips", clip_name(number)))
        rows = np.flatnonzero(source_ids == source)
        source = frames[rows] - lag
        inside = np.clip(source, 0, truth.n_frames - 1)
        table[rows] = clip_concepts(truth, records[number])[inside]
        table[rows] &= (source >= 0)[:, None] | clip_level  # factors hold from the first row
    optional = [n.startswith(("pitch=", "chord=")) for n in names]
    keep = [i for i in range(len(names)) if table[:, i].any() or not optional[i]]
    return ConceptTruth(
        names=[names[i] for i in keep],
        frames=table[:, keep],
        clip_ids=np.asarray(source_ids, np.int64),
        frame_index=np.asarray(frames, np.int64),
        frame_rate=FRAME_RATE,
    )


def write_store_truth(
    corpus: str | Path, store_path: str | Path, out: str | Path, clips: int = 100, lag: int = 1
) -> ConceptTruth:
    """Truth for the first ``clips`` held-out clips of the store and as many training clips
    (the calibration rows of ``score_concepts``), saved to ``out``; store row ``t`` gets the
    truth of audio frame ``t - lag`` (the scorecard's default ``--truth-lag``)."""
    from musae_core.harvest.store import ActivationStore
    from musae_core.sae.sweep_data import store_row_keys

    store = ActivationStore.open(store_path)
    numbers = store_clip_numbers(store.sources())
    source_ids, frames = store_row_keys(store)
    present = sorted(set(source_ids.tolist()))
    held = [s for s in present if is_heldout(numbers[s])][:clips]
    train = [s for s in present if not is_heldout(numbers[s])][: len(held)]
    if not held or not train:
        raise MusaeError(
            f"Store {store_path} lacks held-out or training clips of the corpus.",
            "harvest every clip of CORPUS/clips (the held-out clips are every 10th one).",
        )
    rows = np.flatnonzero(np.isin(source_ids, held + train))
    truth = corpus_concept_truth(corpus, source_ids[rows], frames[rows], numbers, lag=lag)
    truth.save(out)
    return truth
