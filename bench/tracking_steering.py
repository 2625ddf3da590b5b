"""Steer a sample of a scorecard's tracking features with the engine's concept-steering scorer.

    python bench/tracking_steering.py --card W/card.json --out W/steer [--limit 24] \
        [--model resources/demo/model] [--sae resources/demo/sae] \
        [--classifier resources/demo/factor_classifier.npz] [--alphas 4 8] [--seconds 2] [--skip N]
    python bench/tracking_steering.py --merge W/steer W/steer/part2 ... --out W/steer/all

For when a ``musae demo score`` run found tracking features but had no CPU left to steer them
(``--concept-features 0``): reads the card's concept report back (``report_from_json``) and its
steering prompts, and calls ``steering_score.score_concept_steering`` unchanged: the sample is
its own ``pick_features`` (best held-out MCC first, round-robin over concepts; chosen before any
steering is seen), each feature steered at every alpha on the same paired takes, judged by the
factor classifier (or the DSP judge for fine concepts), one-sided Wilcoxon, smallest p x number
of alphas < 0.05. Writes ``steering.json`` (the scorer's report plus timing) and a per-concept
breakdown in ``summary.md``. ``--skip N`` steers the features a ``--limit`` run would pick after
its first N (to extend a run in chunks); ``--merge`` summarises such runs together. Use one
torch thread; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import torch

from musae_core.demo.factor_classifier import FactorClassifier
from musae_core.demo.steering_score import (
    SteeringScoreSettings,
    pick_features,
    score_concept_steering,
    steering_targets,
)
from musae_core.features.concepts import ConceptReport, report_from_json
from musae_core.models.loading import load_model
from musae_core.models.sampling import SamplingSettings
from musae_core.sae.io import load_sae


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--card", help="a `musae demo score` report (card.json)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="resources/demo/model")
    ap.add_argument("--sae", default="resources/demo/sae")
    ap.add_argument("--classifier", default="resources/demo/factor_classifier.npz")
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--alphas", type=float, nargs="+", default=[4.0, 8.0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--skip",
        type=int,
        default=0,
        help="steer only the sample's features after the first SKIP (extends an earlier run)",
    )
    ap.add_argument("--merge", nargs="+", help="runs' --out folders to summarise together")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, Path(args.out))
        return
    if not args.card:
        ap.error("--card is needed unless --merge")
    torch.set_num_threads(1)

    card = json.loads(Path(args.card).read_text())
    concepts = report_from_json(card["concepts"])
    prompts = card["concept_steering"]["settings"]["prompts"][: args.prompts]
    settings = SteeringScoreSettings(
        duration=args.seconds, sampling=SamplingSettings(), seed=args.seed
    )
    targets, strength, _ = steering_targets(concepts)
    chosen = pick_features(targets, strength, args.limit)[args.skip :]
    if args.skip:  # the same features a full --limit run would steer after its first SKIP
        concepts = ConceptReport(
            concepts.rows,
            {j: targets[j] for j in chosen},
            {j: strength[j] for j in chosen},
            concepts.settings,
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sample.json").write_text(
        json.dumps([{"feature": j, "concept": targets[j], "mcc": strength[j]} for j in chosen])
    )

    t0 = time.time()
    model = load_model(args.model, device="cpu", dtype="fp32")
    sae = load_sae(args.sae)
    classifier = FactorClassifier.load(args.classifier)
    torch.set_num_threads(1)  # load_model fits threads to the model; keep to one
    start = time.time()

    def progress(done: int, total: int) -> None:
        print(f"{done}/{total} features, {time.time() - start:.0f} s", flush=True)

    report = score_concept_steering(
        model, sae, classifier, concepts, prompts, settings, args.alphas, len(chosen), progress
    )
    data = report.to_dict()
    data["timing_s"] = {"load": start - t0, "steering": time.time() - start}
    data["tracking_mcc"] = {str(j): strength[j] for j in chosen}
    (out / "steering.json").write_text(json.dumps(data, indent=1))

    (out / "summary.md").write_text(summary(data["features"], strength, report.skipped))
    print((out / "summary.md").read_text())


def summary(rows: list[dict], mcc: dict, skipped: dict) -> str:
    """Markdown: the share that steers (and over the first 24 / 48 in sample order), the
    per-concept breakdown, then one row per feature."""
    total, steers = Counter(), Counter()
    for f in rows:
        total[f["concept"]] += 1
        steers[f["concept"]] += f["steers"]
    n = len(rows)
    lines = [f"{sum(steers.values())} of {n} steer ({sum(steers.values()) / max(n, 1):.0%})"]
    for head in (24, 48):
        if n > head:
            k = sum(f["steers"] for f in rows[:head])
            lines.append(f"first {head} in sample order: {k} of {head} ({k / head:.0%})")
    lines += [f"skipped: {skipped or 'none'}", "", "| concept | steered | steer |", "|---|---|---|"]
    lines += [f"| {c} | {total[c]} | {steers[c]} ({steers[c] / total[c]:.0%}) |" for c in total]
    lines += ["", "| feature | concept | MCC | alpha: baseline -> steered (p) | p x alphas |"]
    lines += ["|---|---|---|---|---|"]
    for f in rows:
        per = "; ".join(
            f"{a}: {v['baseline']:.2f} -> {v['steered']:.2f} ({v['p_value']:.3g})"
            for a, v in f["alphas"].items()
        )
        mark = " (steers)" if f["steers"] else ""
        lines.append(
            f"| {f['feature']} | {f['concept']} | {mcc[f['feature']]:.2f} | {per} "
            f"| {f['p_value']:.3g}{mark} |"
        )
    return "\n".join(lines) + "\n"


def merge(parts: list[str], out: Path) -> None:
    """Concatenate runs (e.g. one then its --skip extensions) in order into one summary."""
    rows, mcc, skipped, seconds = [], {}, {}, 0.0
    for part in parts:
        data = json.loads((Path(part) / "steering.json").read_text())
        order = [s["feature"] for s in json.loads((Path(part) / "sample.json").read_text())]
        rows += sorted(data["features"], key=lambda f: order.index(f["feature"]))  # pick order
        mcc.update({int(j): m for j, m in data["tracking_mcc"].items()})
        skipped.update(data["skipped"])
        seconds += sum(data["timing_s"].values())
    out.mkdir(parents=True, exist_ok=True)
    text = summary(rows, mcc, skipped) + f"\nruns: {', '.join(parts)}; {seconds:.0f} s in all\n"
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
