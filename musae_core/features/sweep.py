"""`musae sweep`: train a grid of SAEs on one store, score every cell, point at the best one.

Grid: layers x expansions x ks x architectures x seeds (JumpReLU has no k: one cell per layer and
expansion). Each cell lives in ``OUT/cells/<name>/`` (``sae/`` a SAELens folder, ``metrics.json``
written last), so a rerun skips finished cells and a half-trained one resumes from its
checkpoint. Every cell is scored on held-out sources (never trained on): FVU, L0, dead share,
the delta-loss when a model is given, and, when a truth table is given, the concept scores of
``musae_core.features.concepts.score_concepts`` (calibration: the table's training-source rows).

Best cell (stated in the table; ``sweep_table.best_cell``): among set-ups with held-out FVU <=
``fvu_bound``, the most carried concepts that reach 90 % of the full probe with k <= 5 latents,
then the most tracking features, then the lowest FVU. Without a truth table: the lowest
delta-loss, else the lowest FVU. A set-up trained with several seeds (``seeds``) is judged by
its mean over them, and its seed with the lowest held-out FVU is the one pointed at.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from musae_core.errors import MusaeError
from musae_core.features.sweep_table import METRICS, cell_done, write_table
from musae_core.fileio import write_json_atomic
from musae_core.jobs import CancelToken, ProgressFactory, check
from musae_core.sae.config import ARCHITECTURES, K_SPARSE
from musae_core.sae.sweep_data import LayerRows, encode_rows, is_heldout_source


@dataclass
class SweepSpec:
    """The grid and how every cell is trained and scored."""

    layers: list[int]
    expansions: list[int] = field(default_factory=lambda: [16])
    ks: list[int] = field(default_factory=lambda: [32])
    architectures: list[str] = field(default_factory=lambda: ["topk"])
    tokens: int = 1_000_000
    batch_size: int = 4096
    seeds: list[int] = field(default_factory=lambda: [0])  # each set-up trained once per seed
    holdout_every: int = 10
    eval_rows: int = 50_000
    fvu_bound: float = 0.25
    delta_clips: int = 8
    matryoshka_widths: list[int] | None = None  # nested sizes of matryoshka cells (None: default)

    def cells(self) -> list[dict]:
        bad = [a for a in self.architectures if a not in ARCHITECTURES]
        if bad:
            raise MusaeError(
                f"Unknown architecture {bad[0]!r}.", f"use {', '.join(ARCHITECTURES)}."
            )
        out, seen = [], set()
        for layer, exp, spec_k, arch, seed in itertools.product(
            self.layers, self.expansions, self.ks, self.architectures, self.seeds
        ):
            k = spec_k if arch in K_SPARSE else None
            setup = f"L{layer}-x{exp}-{arch}" + (f"-k{k}" if k else "")
            if arch == "matryoshka_batchtopk" and self.matryoshka_widths:
                setup += "-w" + ".".join(str(w) for w in self.matryoshka_widths)
            name = setup + (f"-s{seed}" if seed else "")  # seed 0 keeps the older cells' names
            if name not in seen:
                seen.add(name)
                out.append({
                    "name": name, "setup": setup, "seed": seed, "layer": layer,
                    "expansion": exp, "k": k, "arch": arch,
                })  # fmt: skip
        return out


def run_sweep(
    store_path: str | Path,
    out: str | Path,
    spec: SweepSpec,
    truth_path: str | Path | None = None,
    model_path: str | None = None,
    progress: ProgressFactory | None = None,
    cancel: CancelToken | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Train and score every missing cell, then write OUT/sweep.json and OUT/sweep.md."""
    from musae_core.harvest.store import ActivationStore

    progress = progress or (lambda name: None)
    out = Path(out)
    store = ActivationStore.open(store_path)
    missing = [layer for layer in spec.layers if layer not in store.layers]
    if missing:
        raise MusaeError(
            f"Layer {missing[0]} is not in store {store_path} ({store.layers}).",
            "pick --layers from the store's layers.",
        )
    truth = _load_truth(truth_path)
    cells = spec.cells()
    (out / "cells").mkdir(parents=True, exist_ok=True)
    where = {"store": str(store_path), "truth": str(truth_path or ""), "model": model_path}
    write_json_atomic(out / "spec.json", {**asdict(spec), **where})
    model = None
    for layer in spec.layers:
        todo = [c for c in cells if c["layer"] == layer and not cell_done(out, c)]
        if not todo:
            continue
        rows = LayerRows.load(store, layer, spec.holdout_every, cancel)
        if model is None and model_path and spec.delta_clips:
            from musae_core.models.loading import load_model

            model = load_model(model_path, device="cpu", dtype="fp32")
        for cell in todo:
            log(f"cell {cells.index(cell) + 1}/{len(cells)}: {cell['name']}")
            metrics = _run_cell(store, rows, cell, spec, out, truth, model, progress, cancel)
            write_json_atomic(out / "cells" / cell["name"] / METRICS, metrics)
        del rows
    return write_table(out, cells, asdict(spec), spec.fvu_bound)


def _load_truth(path):
    if not path:
        return None
    from musae_core.features.concepts import ConceptTruth

    return ConceptTruth.load(path)


def _run_cell(
    store,
    rows: LayerRows,
    cell,
    spec: SweepSpec,
    out: Path,
    truth,
    model,
    progress: ProgressFactory,
    cancel,
) -> dict:
    from musae_core.sae import load_sae
    from musae_core.sae.evaluate import reconstruction_metrics
    from musae_core.sae.trainer import TrainSettings, train_sae

    folder = out / "cells" / cell["name"] / "sae"
    started = time.perf_counter()
    if not (folder / "cfg.json").exists():
        settings = TrainSettings(
            architecture=cell["arch"],
            expansion=cell["expansion"],
            k=cell["k"] or 32,
            total_tokens=spec.tokens,
            batch_size=spec.batch_size,
            seed=cell["seed"],
            matryoshka_widths=tuple(spec.matryoshka_widths or ()) or None,
        )
        train_sae(
            rows.train_factory(spec.batch_size, cell["seed"]),
            store.d_model,
            settings,
            folder,
            model_id=store.model_id,
            layer=cell["layer"],
            progress=progress(f"training {cell['name']}"),
            cancel=cancel,
        )
    train_seconds = time.perf_counter() - started
    check(cancel)
    sae = load_sae(folder).eval()
    metrics = {**cell, "tokens": spec.tokens, "train_seconds": round(train_seconds, 1)}
    recon = reconstruction_metrics(sae, rows.heldout_batches(spec.eval_rows))
    metrics.update({k: recon[k] for k in ("fvu", "l0", "dead_fraction", "dense_fraction")})
    if model is not None:
        metrics.update(_delta_loss(model, sae, store, rows, spec.delta_clips, cancel))
    if truth is not None:
        metrics["concepts"] = _concepts(sae, rows, truth, spec, out / "cells" / cell["name"])
    return metrics


def _delta_loss(model, sae, store, rows: LayerRows, n_clips: int, cancel) -> dict:
    """Delta-loss on the first ``n_clips`` held-out sources' audio (codes from the model)."""
    from musae_core.audio.io import load_audio
    from musae_core.sae.evaluate import delta_loss

    held = sorted(set(rows.source_ids[rows.heldout].tolist()))[:n_clips]
    by_id = {int(s["source_id"]): s for s in store.sources()}
    codes = []
    for source_id in held:
        path = store.audio_path(by_id[source_id])
        try:
            signal = load_audio(path, model.sample_rate)
        except MusaeError:  # a source file gone or damaged since the harvest: score the rest
            continue
        length = int(store.meta.get("clip_seconds", 10.0) * model.sample_rate)
        piece = torch.from_numpy(np.ascontiguousarray(signal[:length]))
        codes.append(model.encode(piece[None]))
    result = delta_loss(model, sae, codes, cancel=cancel)
    return {"delta_loss": result["delta_loss"], "loss_recovered": result["loss_recovered"]}


def _concepts(sae, rows: LayerRows, truth, spec: SweepSpec, folder: Path) -> dict:
    """The scorecard's concept scoring (``score_concept_levels``: clip-level concepts pooled
    per clip, the others per frame) on the truth's rows; calibration = rows of training
    sources."""
    positions = rows.rows_for(truth.clip_ids, truth.frame_index)
    acts = rows.acts[torch.from_numpy(positions)]
    calibration = ~is_heldout_source(truth.clip_ids, spec.holdout_every)
    return concept_summary(
        encode_rows(sae, acts), truth, calibration, acts.float().numpy(), folder / "concepts.json"
    )


def concept_summary(codes, truth, calibration, resid, path: Path | None = None) -> dict:
    """The sweep table's concept columns from the one concept-scoring path."""
    from musae_core.features.concept_levels import score_concept_levels
    from musae_core.features.concepts import save_report

    report = score_concept_levels(codes, truth, calibration, resid).judged
    if path is not None:
        save_report(report, path)
    summary = report.summary()
    carried = summary["carried"]
    return {
        "carried": carried,
        "single_auroc_0.95": summary["carried_single_auroc_0.95"],
        "split_k_le_5": summary["carried_90pct_with_k_le_5"],
        "n_split_k_le_5": round(summary["carried_90pct_with_k_le_5"] * carried),
        "tracking_features": summary["tracking_features"],
        "concepts": summary["concepts"],
        "heldout_clips": report.settings.get("heldout_clips"),
    }
