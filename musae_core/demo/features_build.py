"""`musae demo features`: the demo model's SAE, feature database and labels, with musae's own
pipeline (harvest -> train -> analyze -> label), every stage resumable.

Stages (state lives in ``out``):
1. ``store_train``: residual activations of every training clip at ``layer`` (unconditional,
   as in the paper), for the SAE (skipped when the SAE exists or is adopted);
2. ``sae``: an SAE on them (TopK, or ``architecture``), or a trained one adopted from
   ``sae_from`` (the best `musae sweep` cell: docs/demo_sweep.md);
3. ``store_analysis``: the held-out clips plus as many training clips, the clips the feature
   database describes and the scorecard measures (calibration: its training clips,
   evaluation: its held-out clips, which the LM and SAE never saw);
4. ``features.db``: statistics and top clips; each snippet is a whole clip in Ogg Opus, so the
   snippet folder doubles as a small clip library that ships with the database;
5. ``factor_classifier.npz``: the tagger used for labels and for scoring (classifier_train.py),
   fitted on the held-out clips and every clip of ``classifier_corpus`` when given;
6. labels: DSP descriptors and the factor classifier for every feature on its top clips (CLAP
   and LLM labels need weights or an endpoint this build does not assume; add them with
   ``musae label``);
7. association labels: the classifier tags every training clip of ``store_analysis`` (it was
   fitted on other clips) and each feature is named by the tag its clip activation predicts
   best (``labeling.tag_association``); held-out clips stay out, so the scorecard can judge
   the labels on them.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from musae_core.demo.corpus import load_factors
from musae_core.demo.data import split_records
from musae_core.errors import MusaeError
from musae_core.fileio import write_json_atomic
from musae_core.harvest.collection import SourceFile
from musae_core.jobs import CancelToken, ProgressFactory, check

DONE = "features_build.json"


@dataclass
class FeatureBuildSpec:
    layer: int | None = None  # None: the middle layer
    expansion: int = 16
    k: int = 32
    epochs: float = 3.0
    analysis_train_clips: int = 300  # training clips in the analysis store (beside held-out)
    top_n: int = 8
    baseline_size: int = 96
    seed: int = 0
    max_clips: int | None = None  # tests: only the first N corpus clips
    model_id: str = "demo"  # what stores and the SAE record: the id the shipped model loads by
    classifier_corpus: str | None = None  # another seed's corpus: more held-out clips to fit on
    architecture: str = "topk"  # any of musae train's (the sweep's best demo cell: matryoshka)
    sae_from: str | None = None  # a trained SAE (e.g. a `musae sweep` cell) used, not trained


def corpus_files(corpus: Path, records: list[dict]) -> list[SourceFile]:
    return [SourceFile((corpus / "clips" / r["file"]).resolve(), r["file"]) for r in records]


def build_demo_features(
    model_dir: str | Path,
    corpus: str | Path,
    out: str | Path,
    spec: FeatureBuildSpec | None = None,
    progress: ProgressFactory | None = None,
    cancel: CancelToken | None = None,
    log=print,
) -> Path:
    """Run (or resume) every stage; returns ``out``."""
    from musae_core.demo.classifier_train import train_demo_classifier
    from musae_core.features.analyze import analyze
    from musae_core.harvest.config import HarvestConfig
    from musae_core.harvest.harvester import harvest_audio
    from musae_core.harvest.store import ActivationStore
    from musae_core.models.loading import load_model
    from musae_core.sae import load_sae
    from musae_core.sae.sources import store_batches
    from musae_core.sae.trainer import TrainSettings, train_sae

    spec = spec or FeatureBuildSpec()
    progress = progress or (lambda name: None)
    corpus, out = Path(corpus), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = load_factors(corpus)[: spec.max_clips] if spec.max_clips else load_factors(corpus)
    train, held = split_records(records)
    if not held or not train:
        raise MusaeError(f"{corpus} has too few clips for a held-out split.", "build more clips.")
    model = load_model(str(model_dir), device="cpu", dtype="fp32")
    model.model_id = spec.model_id
    layer = model.num_layers // 2 if spec.layer is None else spec.layer
    config = HarvestConfig(layers=(layer,), clip_seconds=10.0, batch_size=8, shard_rows=32_768)

    def harvest(name: str, subset: list[dict]) -> ActivationStore:
        folder = out / name
        harvest_audio(
            model,
            corpus_files(corpus, subset),
            folder,
            config,
            progress=progress(f"harvest {name}"),
            cancel=cancel,
        )
        check(cancel)
        return ActivationStore.open(folder)

    sae_dir = out / "sae"
    if not (sae_dir / "cfg.json").exists() and spec.sae_from:
        adopt_sae(Path(spec.sae_from), sae_dir, layer, spec.model_id)
    if not (sae_dir / "cfg.json").exists():
        store = harvest("store_train", train)
        rows = store.num_rows(layer)
        settings = TrainSettings(
            architecture=spec.architecture,
            expansion=spec.expansion,
            k=spec.k,
            seed=spec.seed,
            total_tokens=int(spec.epochs * rows),
            batch_size=min(4096, max(1, rows // 4)),
        )
        train_sae(
            store_batches(store, layer, settings.batch_size, seed=spec.seed),
            store.d_model,
            settings,
            sae_dir,
            model_id=spec.model_id,
            layer=layer,
            progress=progress("training SAE"),
            cancel=cancel,
        )
        check(cancel)
    sae = load_sae(sae_dir)
    analysis = harvest("store_analysis", held + train[: spec.analysis_train_clips])
    db_path = out / "features.db"
    if not db_path.exists():
        report = analyze(
            sae,
            analysis,
            db_path,
            top_n=spec.top_n,
            snippet_seconds=10.0,
            snippet_format="opus",
            sae_path=sae_dir,
            progress=progress("analyzing"),
            cancel=cancel,
        )
        log(report.summary())
    classifier_path = out / "factor_classifier.npz"
    if not classifier_path.exists():
        _, accuracy = train_demo_classifier(
            model,
            corpus,
            classifier_path,
            progress=progress("factor classifier"),
            cancel=cancel,
            extra_corpus=spec.classifier_corpus,
        )
        log(f"factor classifier: {accuracy}")
    label_features(db_path, classifier_path, spec, progress, cancel, log)
    train_sources = training_sources(analysis, train)
    associate_features(
        db_path, sae, analysis, classifier_path, train_sources, progress, cancel, log
    )
    write_json_atomic(out / DONE, {"spec": asdict(spec), "layer": layer, "model": str(model_dir)})
    return out


def training_sources(store, train: list[dict]) -> set[int]:
    """The source ids of ``store`` whose audio is one of the ``train`` records' clips."""
    files = {r["file"] for r in train}
    return {int(src["source_id"]) for src in store.sources() if Path(src["path"]).name in files}


def adopt_sae(source: Path, sae_dir: Path, layer: int, model_id: str) -> None:
    """Use a trained SAE (a sweep cell) as the build's SAE, recorded under the demo's model id."""
    from musae_core.sae import load_sae, save_sae

    sae = load_sae(source)
    if sae.cfg.layer != layer:
        raise MusaeError(
            f"{source} reads layer {sae.cfg.layer}, the build harvests layer {layer}.",
            f"pass --layer {sae.cfg.layer}, or a cell of layer {layer}.",
        )
    sae.cfg.model_id = model_id
    tmp = sae_dir.with_name(sae_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # a killed copy's leftovers
    shutil.copytree(source, tmp)  # the training side files (sparsity...) come along
    save_sae(sae, tmp)
    tmp.rename(sae_dir)


def label_features(
    db_path: Path,
    classifier_path: Path,
    spec: FeatureBuildSpec,
    progress: ProgressFactory,
    cancel: CancelToken | None,
    log=print,
) -> None:
    """Descriptor and factor-classifier labels for every feature (resumes per feature)."""
    from musae_core.demo.factor_tagger import FactorTagger
    from musae_core.features.db import FeatureDB
    from musae_core.labeling.descriptor_labeler import DescriptorThresholds
    from musae_core.labeling.label_job import run_label_job
    from musae_core.labeling.methods import DescriptorMethod, FeatureMethod, TaggerMethod

    db = FeatureDB.open(db_path)
    try:
        ids = [int(row.id) for row in db.query(hide_dead=True)]
        methods: dict[str, FeatureMethod] = {
            "classifier": TaggerMethod(FactorTagger.load(classifier_path), source="classifier"),
            "descriptors": DescriptorMethod(DescriptorThresholds()),
        }
        for name, method in methods.items():
            summary = run_label_job(
                db,
                method,
                ids,
                baseline_size=spec.baseline_size,
                seed=spec.seed,
                progress=progress(f"labels: {name}"),
                cancel=cancel,
            )
            log(
                f"{name}: {summary.done} labelled, {summary.skipped} already done, "
                f"{summary.failed} failed, {summary.labels_added} labels"
            )
            check(cancel)
    finally:
        db.close()


def associate_features(
    db_path: Path,
    sae,
    analysis,
    classifier_path: Path,
    sources: set[int],
    progress: ProgressFactory,
    cancel: CancelToken | None,
    log=print,
) -> None:
    """Association labels from the factor classifier over the analysis store's training clips
    (never the held-out ones the scorecard judges on); resumes per feature."""
    from musae_core.demo.factor_tagger import FactorTagger
    from musae_core.features.db import FeatureDB
    from musae_core.labeling.tag_association import label_by_association

    db = FeatureDB.open(db_path)
    try:
        summary = label_by_association(
            db,
            sae,
            analysis,
            FactorTagger.load(classifier_path),
            sources=sources,
            progress=progress,
            cancel=cancel,
        )
    finally:
        db.close()
    log(
        f"association: {summary.clips} clips; {summary.labelled} labelled, "
        f"{summary.skipped} already done, {summary.weak} below the AUROC bar, "
        f"{summary.silent} silent"
    )
