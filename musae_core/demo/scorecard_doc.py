"""The demo scorecard as a document: ``musae demo score``'s report (JSON) said in markdown
(docs/demo_scorecard.md), and both written atomically."""

from __future__ import annotations

from pathlib import Path

from musae_core.demo.concept_score import concept_markdown, level_tables
from musae_core.features.concepts import report_from_json
from musae_core.fileio import atomic_path, write_json_atomic

PAPER_STEERING = (0.15, 0.35)  # the paper's share of features that steer


def scorecard_markdown(report: dict) -> str:
    """The scorecard as Markdown tables (what docs/ and the README show)."""
    rec, lab, steer = report["recovery"], report["labels"], report["steering"]
    sae = report["sae"]
    lines = [
        "# Demo scorecard (ground truth)", "",
        f"SAE: layer {sae['layer']}, {sae['d_sae']} features, k={sae['k']}. "
        f"Recovery: frames of {rec['settings']['evaluation_clips']} held-out clips "
        f"(activation averaged over {rec['settings']['smooth_seconds']} s); thresholds chosen "
        f"on {rec['settings']['calibration_clips']} training clips.", "",
        "| factor value | best feature | precision | recall | F1 | all-frames F1 |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for v in rec["values"]:
        lines.append(
            f"| {v['value']} | {v['feature']} | {v['precision']:.2f} | "
            f"{v['recall']:.2f} | {v['f1']:.2f} | {v['trivial_f1']:.2f} |"
        )
    n_values = len(rec["values"])
    lines += [
        "", f"- factor values with a feature at F1 >= 0.7: **{rec['recovered_f1_0.7']} of "
        f"{n_values}**",
        f"- features tracking a factor value: {lab['tracking_features']}",
        f"- label accuracy (shown label names the tracked value): "
        f"**{lab['shown_label_accuracy']:.0%}**; any label: {lab['any_label_accuracy']:.0%}",
        f"- steering toward the tracked value (p < "
        f"{report['spec']['steering']['p_threshold']}, {len(steer['features'])} features): "
        f"**{steer['fraction_steering']:.0%}** (paper: {PAPER_STEERING[0]:.0%}-"
        f"{PAPER_STEERING[1]:.0%})",
        *_probe_lines(report.get("probes"), sae["layer"]),
    ]  # fmt: skip
    if "concepts" in report:
        lines += _concept_lines(report)
    if report.get("prompt_following"):
        lines += _prompt_lines(report["prompt_following"])
    return "\n".join(lines) + "\n"


def _concept_lines(report: dict) -> list[str]:
    """The calibrated per-frame concept section: summary, labels, steering, the table."""
    section = report["concepts"]
    labels, steer = report["concept_labels"], report["concept_steering"]
    st = steer["settings"]
    lines = concept_markdown(section)
    lines += [
        f"- tracking features whose labeller names the tracked concept (fine concepts: the "
        f"fine-DSP labeller's top label; factor values: the shown label): "
        f"**{labels['named_share']:.0%}** (target >= 70 %); any label: "
        f"{labels['any_label_share']:.0%}",
        f"- features that steer toward their concept (one-sided Wilcoxon over "
        f"{len(st['prompts'])} paired takes of {st['duration']:g} s at alpha "
        f"{', '.join(f'{a:g}' for a in st['alphas'])}, smallest p x {len(st['alphas'])} < "
        f"{st['p_threshold']}; {steer['evaluated']} features: "
        f"{st.get('features_from', 'tracking features')}, best first, round-robin over "
        f"concepts): **{steer['fraction_steering']:.0%}** (target >= 50 %; paper: "
        f"{PAPER_STEERING[0]:.0%}-{PAPER_STEERING[1]:.0%})", "",
        "Per concept, each at its level (held-out clips; F1 columns: best single feature at "
        "its calibrated threshold, k-sparse probes, full probes):", "",
    ]  # fmt: skip
    return lines + report_from_json(section).to_markdown().splitlines() + level_tables(section)


def _prompt_lines(pf: dict) -> list[str]:
    lines = [
        "", f"Prompt following ({pf['takes']} takes of {pf['seconds']:g} s, every instrument x "
        "mode): accuracy of the audio-feature factor classifier and of the token judge (the "
        "take re-encoded by the codec, first-codebook histogram; instrument only; its own "
        "held-out accuracy in brackets).", "",
        "| factor | factor classifier | token judge | chance |", "|---|---|---|---|",
    ]  # fmt: skip
    judge = pf.get("token_judge", {"accuracy": {}, "heldout_cv_accuracy": {}})
    for f, acc in pf["accuracy"].items():
        token = judge["accuracy"].get(f)
        token_text = (
            "-" if token is None else (f"{token:.2f} ({judge['heldout_cv_accuracy'][f]:.2f})")
        )
        lines.append(
            f"| {f} | {acc:.2f} | {token_text} | {pf['chance'].get(f, float('nan')):.2f} |"
        )
    return lines


def _probe_lines(probes: dict | None, layer: int) -> list[str]:
    if not probes:
        return []
    lines = [
        "", f"Linear probes on {probes['window_seconds']:g} s windows of layer {layer} "
        f"({probes['windows'] - probes['heldout_windows']} training windows, "
        f"{probes['heldout_windows']} held-out): what the residual stream carries at all, and "
        "what the SAE's codes keep (key: tonic and mode, 24 values; chance: the held-out share of "
        "the commonest training value).", "",
        "| factor | residual stream | SAE codes | chance |", "|---|---|---|---|",
    ]  # fmt: skip
    for f, row in probes["factors"].items():
        lines.append(f"| {f} | {row['residual']:.2f} | {row['sae']:.2f} | {row['chance']:.2f} |")
    return lines


def save_scorecard(report: dict, out: str | Path) -> tuple[Path, Path]:
    """Write ``out``.json and ``out``.md atomically."""
    out = Path(out)
    json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
    write_json_atomic(json_path, report)
    with atomic_path(md_path) as tmp:
        tmp.write_text(scorecard_markdown(report))
    return json_path, md_path
