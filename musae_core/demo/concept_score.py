"""The scorecard's concept section: the SAE scored per frame against the corpus's concept truth.

``ConceptRows`` collects, while recovery reads the store (``score_recovery(on_clip=...)``),
each clip's SAE codes (sparse) and residual rows; ``score_concept_section`` lines them up with
the truth (the corpus's recorded truth, or truth re-derived from clip seeds), splits rows by
clip into calibration (the SAE's training split) and held-out clips, and hands them to
``musae_core.features.concepts.score_concepts``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from musae_core.errors import MusaeError
from musae_core.features.concept_levels import score_concept_levels
from musae_core.features.concepts import ConceptReport, ConceptTruth

HARVESTING = "harvest.incomplete"  # marks a store this module is still harvesting


class ConceptRows:
    """Per clip: sparse SAE codes and residual rows, in frame order; every ``stride``-th frame
    (a stride of 2 halves the scoring time on a busy CPU at the cost of half the rows)."""

    def __init__(self, stride: int = 1) -> None:
        self.stride = max(1, int(stride))
        self.codes: list[sp.csr_matrix] = []
        self.resid: list[np.ndarray] = []
        self.sources: list[int] = []
        self.frames: list[np.ndarray] = []

    def add(self, source: int, rows: torch.Tensor, acts: np.ndarray) -> None:
        keep = np.arange(0, len(acts), self.stride)
        self.codes.append(sp.csr_matrix(acts[keep].astype(np.float32)))
        self.resid.append(rows[torch.from_numpy(keep)].float().numpy().astype(np.float32))
        self.sources.append(int(source))
        self.frames.append(keep)

    def frames_by_source(self) -> dict[int, np.ndarray]:
        return dict(zip(self.sources, self.frames, strict=True))

    def clip_ids(self) -> np.ndarray:
        return np.repeat(np.asarray(self.sources, np.int64), [len(f) for f in self.frames])

    def frame_index(self) -> np.ndarray:
        return np.concatenate(self.frames).astype(np.int64)


def align_truth(
    truth: ConceptTruth, clip_ids: np.ndarray, frames: np.ndarray, path: str | Path = "truth"
) -> ConceptTruth:
    """``truth`` reordered to the given (clip, frame) rows; every row must be present."""
    key = truth.clip_ids * 1_000_000 + truth.frame_index
    wanted = clip_ids * 1_000_000 + frames
    order = np.argsort(key)
    pos = np.searchsorted(key[order], wanted)
    pos = np.minimum(pos, len(key) - 1)
    found = key[order][pos] == wanted
    if not found.all():
        missing = int((~found).sum())
        raise MusaeError(
            f"{path} lacks {missing} of the store's {len(wanted)} (clip, frame) rows.",
            "give the truth file written for this corpus (same clips, same frame rate).",
        )
    rows = order[pos]
    return ConceptTruth(list(truth.names), truth.frames[rows], clip_ids, frames, truth.frame_rate)


def score_concept_section(
    rows: ConceptRows,
    truth: ConceptTruth,
    calibration_sources: set[int],
    ks: tuple[int, ...] = (1, 2, 5, 20),
    min_positives: int = 20,
) -> ConceptReport:
    """Score the collected rows against ``truth`` (already aligned to them), each concept at
    the level its truth lives (``features.concept_levels``; the sweep scores the same way)."""
    codes = sp.vstack(rows.codes).tocsr()
    resid = np.concatenate(rows.resid)
    calibration = np.isin(truth.clip_ids, list(calibration_sources))
    return score_concept_levels(
        codes, truth, calibration, resid, ks=ks, min_positives=min_positives
    ).judged


def concept_markdown(section: dict) -> list[str]:
    """The concept section's Markdown: the judged summary against the targets (each concept at
    the level its truth lives), then the frame-level summary as before."""
    s = section["summary"]
    st = section["settings"]
    levels = st.get("levels", {})
    clip = levels.get("clip", {}).get("settings", {})
    lines = [
        "", "## Concepts, each at the level its truth lives (calibrated)", "",
        f"Truth: {section.get('truth_source', 'corpus')}. Rows: {st['calibration_rows']} "
        f"calibration frames ({st['calibration_clips']} clips) choose every feature, threshold, "
        f"pooling and probe; {st['heldout_rows']} held-out frames ({st['heldout_clips']} clips) "
        f"give every number. Clip-level concepts ({len(st.get('clip_level_concepts', []))}: "
        f"instrument, mode, tempo band, register, dynamics, drums) are judged on one pooled row "
        f"per clip (each feature's mean or max over the clip, chosen on calibration clips; "
        f"{clip.get('max_pooled_features', '-')} features use the max), every other concept per "
        f"frame. A concept is carried when the residual probe's held-out F1 >= "
        f"{st['carried_f1']} and >= the always-on F1 + {st.get('carried_margin', 0)}; "
        f"tracking = held-out MCC >= {st['tracking_mcc']} (clip-level concepts: over held-out "
        f"clips).", "",
        *_summary_lines(s, st), "",
    ]  # fmt: skip
    if "frame" in levels:
        f, fs = levels["frame"]["summary"], levels["frame"]["settings"]
        lines += [
            "Frame by frame (every concept per frame, the previous scorecard's measure):", "",
            *_summary_lines(f, fs), "",
        ]  # fmt: skip
    return lines


def _summary_lines(s: dict, st: dict) -> list[str]:
    return [
        f"- concepts scored: {s['scored']} of {s['concepts']} (the rest have too few "
        f"positives in a split); carried by the layer: **{s['carried']}**; not carried: "
        f"{len(s['not_carried'])}",
        f"- carried concepts with a single feature at AUROC >= 0.95: "
        f"**{s['carried_single_auroc_0.95']:.0%}** (target >= 80 %)",
        f"- carried concepts reaching 90 % of the full probe with k <= 5: "
        f"**{s['carried_90pct_with_k_le_5']:.0%}** (target >= 80 %)",
        f"- features tracking a concept (held-out MCC >= {st['tracking_mcc']}): "
        f"**{s['tracking_features']}** (target >= 30)",
    ]


def level_tables(section: dict) -> list[str]:
    """The per-level tables after the judged one: clip, 0.5-s window and frame level."""
    from musae_core.features.concepts import report_from_json

    levels = section["settings"].get("levels", {})
    titles = {
        "clip": "Clip level (clip-level concepts; one pooled row per clip)",
        "window": "0.5-s windows (clip-level concepts; one pooled row per window)",
        "frame": "Frame level (every concept, every scored frame; the previous measure)",
    }
    lines: list[str] = []
    for name, title in titles.items():
        if name not in levels:
            continue
        data = levels[name]
        rep = report_from_json(
            {"rows": data["rows"], "settings": data["settings"], "summary": {"tracking": {}}}
        )
        s = data["summary"]
        lines += [
            "",
            f"### {title}",
            "",
            f"carried {s['carried']}; single feature AUROC >= 0.95: "
            f"{s['carried_single_auroc_0.95']:.0%}; 90 % with k <= 5: "
            f"{s['carried_90pct_with_k_le_5']:.0%}; tracking features: "
            f"{s['tracking_features']}",
            "",
            *rep.to_markdown().splitlines(),
        ]
    return lines


def ensure_analysis_store(
    model, corpus, folder: Path, layer: int, train_clips: int, progress=None, cancel=None
):
    """The scored store: ``folder`` if it exists, else the corpus's held-out clips plus its first
    ``train_clips`` training clips harvested at ``layer`` (as ``musae demo features`` does)."""
    from musae_core.demo.corpus import load_factors
    from musae_core.demo.data import split_records
    from musae_core.demo.features_build import corpus_files
    from musae_core.harvest.config import HarvestConfig
    from musae_core.harvest.harvester import harvest_audio
    from musae_core.harvest.store import ActivationStore

    folder = Path(folder)
    if (folder / "store.json").exists() and (folder / "sources.json").exists():
        store = ActivationStore.open(folder)
        if not (folder / HARVESTING).exists():
            return store  # a finished store (ours or `musae demo features`'s)
    train, held = split_records(load_factors(corpus))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / HARVESTING).touch()  # a killed harvest resumes on the next run
    config = HarvestConfig(layers=(layer,), clip_seconds=10.0, batch_size=8, shard_rows=32_768)
    harvest_audio(
        model,
        corpus_files(Path(corpus), held + train[:train_clips]),
        folder,
        config,
        progress=progress,
        cancel=cancel,
    )
    (folder / HARVESTING).unlink()
    return ActivationStore.open(folder)


def concept_truth(
    path: str | None,
    rows: ConceptRows,
    records: dict[int, dict],
    corpus,
    frame_rate: float,
    lag: int = 0,
) -> tuple[ConceptTruth, str]:
    """The truth for the collected rows: the given file, or re-derived from the clip seeds;
    row frame ``f`` is matched with audio frame ``f - lag``."""
    from musae_core.demo.corpus_spec import load_spec
    from musae_core.demo.frame_truth import corpus_truth

    if path:
        frames = np.maximum(rows.frame_index() - lag, 0)
        truth = align_truth(ConceptTruth.load(path), rows.clip_ids(), frames, path)
        truth.frame_index = rows.frame_index()
        return truth, f"recorded per-frame truth ({Path(path).name}), lag {lag} frame(s)"
    spec = load_spec(corpus)
    truth = corpus_truth(
        records,
        rows.frames_by_source(),
        spec.seed,
        spec.clip_seconds,
        frame_rate,
        rows.sources,
        lag,
    )
    return truth, (
        f"re-derived from each clip's seed (MIDI notes, drum hits, chords, "
        f"factors); row t matched with audio frame t - {lag}"
    )


def label_fine_concepts(db_path: Path, feature_ids: list[int], progress=None, cancel=None) -> None:
    """Fine-concept DSP labels (``labeling.fine_concepts``) for ``feature_ids``; resumes."""
    from musae_core.features.db import FeatureDB
    from musae_core.labeling.fine_concepts import FineConceptMethod
    from musae_core.labeling.label_job import run_label_job

    db = FeatureDB.open(db_path)
    try:
        run_label_job(db, FineConceptMethod(), feature_ids, progress=progress, cancel=cancel)
    finally:
        db.close()


FINE_KINDS = ("pitch", "pitch_class", "onset", "drum", "chord", "melody", "accompaniment")


def is_fine_concept(concept: str) -> bool:
    """A within-clip concept (labelled by the fine-DSP labeller), not a clip factor value."""
    return concept.partition("=")[0] in FINE_KINDS


def score_concept_labels(db, tracking: dict[int, str]) -> dict:
    """Of the tracking features: the share whose own labeller's top label names the tracked
    concept (fine concepts: the fine-DSP labeller; factor values: the shown label), and the
    share with any label naming it."""
    from musae_core.demo.factor_tagger import label_names_value
    from musae_core.labeling.fine_concepts import SOURCE, concept_of_label

    shown_rows = {int(r.id): r.best_label for r in db.query()}
    named = anywhere = 0
    per_feature = {}
    for j, concept in tracking.items():
        labels = db.labels(j)
        if is_fine_concept(concept):
            fine = sorted((x for x in labels if x.source == SOURCE), key=lambda x: -x.score)
            top = fine[0].text if fine else None
            hit = top is not None and concept_of_label(top) == concept
            hit_any = any(concept_of_label(x.text) == concept for x in fine)
        else:
            top = shown_rows.get(j)
            hit = bool(top and label_names_value(top, concept))
            hit_any = any(label_names_value(x.text, concept) for x in labels)
        named += hit
        anywhere += hit_any
        per_feature[str(j)] = {"concept": concept, "label": top, "named": hit, "any": hit_any}
    n = len(tracking)
    return {
        "tracking_features": n,
        "named_share": named / n if n else 0.0,
        "any_label_share": anywhere / n if n else 0.0,
        "features": per_feature,
    }


def store_concept_groups(db_path: str | Path, rows: list[dict], source: str = "demo-scorecard"):
    """Write the scorecard's concept groups into the database at ``db_path`` (migrating it to
    the schema with a ``concept_groups`` table if needed); returns the rows written."""
    from musae_core.features.concept_groups import groups_from_report, write_concept_groups
    from musae_core.features.db import FeatureDB

    db = FeatureDB.open(db_path)
    try:
        return write_concept_groups(db, groups_from_report(rows, source), source)
    finally:
        db.close()
