"""Association labels: the tag a feature's per-clip activation predicts best, over every clip.

Why: the top-clip labellers compare a feature's few top clips with random clips, so every
attribute those clips share passes. A drum feature's top clips are also percussive, loud and
dense, and whichever of those scores highest becomes its label. Association looks at every clip
of an activation store instead: a tagger (an Essentia head, the demo's factor classifier) tags
each clip from its audio, each feature's clip activation (mean or max over the clip, whichever
separates the tags better) is ranked against every tag, and the tag with the highest AUROC
becomes the label. That AUROC counts the clips the feature misses as well as the ones it
fires on, so it is stored as the label's validation (``labels.auroc``); the shown-label rule
prefers validated labels to unvalidated top-clip scores (``features.labels.BEST_LABEL_ORDER``).
The tagger only hears audio, so the labels can still be scored against ground truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import soxr
import torch

from musae_core.errors import MusaeError
from musae_core.features.concept_metrics import auroc_matrix
from musae_core.features.feature_store import FeatureStore
from musae_core.harvest.store import ActivationStore
from musae_core.jobs import CancelToken, ProgressFn, check
from musae_core.labeling.clip_audio import read_segment
from musae_core.sae.architectures import SparseAutoencoder

SOURCE = "association"
MIN_CLIPS = 5  # positives and negatives a tag needs before it can name a feature
MIN_AUROC = 0.75  # below this no tag is a fair name for the feature


@dataclass
class ClipCodes:
    """Per clip of a store: where its audio is, and each feature's mean and max activation
    (sparse: a clip of a 65k-latent SAE touches a few thousand latents)."""

    paths: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    mean: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0), dtype=np.float32))
    max: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0), dtype=np.float32))

    def __len__(self) -> int:
        return len(self.paths)


def _clip_rows(
    store: ActivationStore, layer: int, wanted: set[int] | None, cancel: CancelToken | None
) -> Iterator[tuple[tuple[int, float], torch.Tensor]]:
    """(source id, clip start) and the clip's residual rows, shard by shard (a shard holds
    whole clips, so no more than one shard is in memory)."""
    for _, rows, index in store.iter_shards(layer):
        check(cancel)
        keys = np.stack([index["source_id"].astype(np.float64), index["clip_start"]], axis=1)
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        for g, key in enumerate(uniq):
            if wanted is None or int(key[0]) in wanted:
                order = np.flatnonzero(inverse == g)
                order = order[np.argsort(index["frame"][order], kind="stable")]
                yield (int(key[0]), float(key[1])), rows[torch.from_numpy(order)]


def clip_codes(
    store: ActivationStore,
    sae: SparseAutoencoder,
    sources: set[int] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ClipCodes:
    """Each clip's mean and max SAE activation (``sources`` limits the clips, e.g. to a split)."""
    layer = sae.cfg.layer
    paths = {int(s["source_id"]): str(store.audio_path(s)) for s in store.sources()}
    out = ClipCodes()
    means, maxes = [], []
    frame_seconds = 1.0 / store.frame_rate
    total = len(sources) if sources is not None else len(paths)
    for i, ((source, start), rows) in enumerate(_clip_rows(store, layer, sources, cancel)):
        with torch.inference_mode():
            acts = sae.encode(rows.to(sae.W_enc.dtype)).float().numpy()
        means.append(sp.csr_matrix(acts.mean(axis=0, keepdims=True)))
        maxes.append(sp.csr_matrix(acts.max(axis=0, keepdims=True)))
        out.paths.append(paths[source])
        out.starts.append(start)
        out.seconds.append(len(rows) * frame_seconds)
        if progress:
            progress(i + 1, max(total, i + 1))
    if not means:
        raise MusaeError(
            f"No clips of layer {layer} in {store.path}.",
            "harvest the layer the SAE was trained on, or drop the source filter.",
        )
    out.mean, out.max = sp.vstack(means).tocsr(), sp.vstack(maxes).tocsr()
    return out


def clip_tags(
    tagger: Any,
    clips: ClipCodes,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Per clip, which of the tagger's classes hold (n_clips, n_classes) bool, and the names.

    A tagger whose metadata groups classes into factors (``metadata.factors``: one of several
    exclusive values, as the demo's classifier heads) gets each group's most probable class;
    any other tagger a class wherever its probability is at least 0.5."""
    rate = int(tagger.sample_rate)
    probs = []
    for i, (path, start, seconds) in enumerate(
        zip(clips.paths, clips.starts, clips.seconds, strict=True)
    ):
        check(cancel)
        try:
            audio, src_rate = read_segment(Path(path), start, seconds)
        except (OSError, RuntimeError) as exc:
            raise MusaeError(
                f"Cannot read the audio of a store clip: {path} ({exc}).",
                "keep the harvested audio where the store's sources.json says it is.",
            ) from exc
        if src_rate != rate:
            audio = soxr.resample(audio, src_rate, rate).astype(np.float32)
        probs.append(np.asarray(tagger.probabilities(audio, rate), np.float32))
        if progress:
            progress(i + 1, len(clips))
    p = np.stack(probs)
    names = list(tagger.metadata.classes)
    groups = getattr(tagger.metadata, "factors", None)
    if not groups:
        return p >= 0.5, names
    held = np.zeros(p.shape, bool)
    group_of = np.asarray(groups)
    for g in dict.fromkeys(groups):
        cols = np.flatnonzero(group_of == g)
        held[np.arange(len(p)), cols[p[:, cols].argmax(axis=1)]] = True
    return held, names


@dataclass(frozen=True)
class Association:
    """The tag a feature's clip activation predicts best, and how well."""

    feature_id: int
    tag: str
    auroc: float
    pooling: str  # "mean" or "max"
    positives: int
    clips: int


def associate(
    codes: ClipCodes, tags: np.ndarray, names: list[str], min_clips: int = MIN_CLIPS
) -> list[Association]:
    """Per feature that fires on some clip: its best tag by AUROC over all clips (tags held by
    fewer than ``min_clips`` clips, or missing from fewer, are not candidates)."""
    pos = tags.sum(axis=0)
    usable = np.flatnonzero((pos >= min_clips) & (len(tags) - pos >= min_clips))
    if not len(usable):
        return []
    y = tags[:, usable]
    by = {
        how: auroc_matrix(x, y)  # (tags, features)
        for how, x in (("mean", codes.mean), ("max", codes.max))
    }
    fired = np.flatnonzero(codes.max.getnnz(axis=0) > 0)
    out = []
    for j in fired:
        how = max(by, key=lambda h: float(by[h][:, j].max()))
        t = int(by[how][:, j].argmax())
        col = int(usable[t])
        out.append(
            Association(int(j), names[col], float(by[how][t, j]), how, int(pos[col]), len(tags))
        )
    return out


@dataclass
class AssociationSummary:
    job: str
    clips: int
    labelled: int = 0
    skipped: int = 0  # already labelled by this job
    weak: int = 0  # best tag below the AUROC bar: no label
    silent: int = 0  # never fired on these clips: nothing to name


def label_by_association(
    db: FeatureStore,
    sae: SparseAutoencoder,
    store: ActivationStore,
    tagger: Any,
    sources: set[int] | None = None,
    min_auroc: float = MIN_AUROC,
    progress: Callable[[str], ProgressFn | None] | None = None,
    cancel: CancelToken | None = None,
) -> AssociationSummary:
    """Add one association label to every feature whose best tag reaches ``min_auroc``.

    Resumable: features this job already labelled are skipped, and a label is written whole
    (label and validation in one row) or not at all."""
    stage = progress or (lambda name: None)
    job = f"label:{SOURCE}:{tagger.model_name}"
    if all(db.done(j, job) for j in range(sae.cfg.d_sae)):  # a rerun after a finished job
        return AssociationSummary(job, 0, skipped=sae.cfg.d_sae)
    codes = clip_codes(store, sae, sources, stage("association: clip codes"), cancel)
    tags, names = clip_tags(tagger, codes, stage("association: tagging clips"), cancel)
    summary = AssociationSummary(job, len(codes))
    found = associate(codes, tags, names)
    write = stage("association: labels")
    for i, a in enumerate(found):
        check(cancel)
        if db.done(a.feature_id, job):
            summary.skipped += 1
        elif a.auroc < min_auroc:
            summary.weak += 1
            db.mark_done(a.feature_id, job)
        else:
            evidence = {
                "job": job, "kind": "per-clip association over every clip of the store",
                "auroc": a.auroc, "pooling": a.pooling, "clips": a.clips,
                "positives": a.positives, "tagger": tagger.model_name, "store": str(store.path),
            }  # fmt: skip
            db.add_label(a.feature_id, SOURCE, a.tag, a.auroc, evidence, auroc=a.auroc)
            db.mark_done(a.feature_id, job)
            summary.labelled += 1
        if write:
            write(i + 1, len(found))
    named = {a.feature_id for a in found}
    for j in range(sae.cfg.d_sae):
        if j not in named and not db.done(j, job):
            db.mark_done(j, job)
            summary.silent += 1
    return summary
