"""Ground-truth steering score: does adding a factor-tracking feature move takes toward it?

For every feature that tracks a factor value (``recovery.py``), the same prompts and seeds are
generated with and without adding the feature's decoder direction (alpha x beta, the paper's
intervention; beta from ``feature_beta``, the same the app and ``musae generate`` use) at the
SAE's layer. The factor classifier (trained on held-out corpus
audio) gives each take's probability of the tracked value; a feature *steers* when the paired
shift is positive with a one-sided Wilcoxon p below ``p_threshold``, the same test
``musae eval-steering`` applies to CLAP or descriptor scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from musae_core.demo.factor_classifier import FactorClassifier
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.labeling.steering_eval import mono_takes, paired_shift
from musae_core.models.base import GenerationRequest, MusicModel
from musae_core.models.sampling import SamplingSettings
from musae_core.render import render
from musae_core.sae.architectures import SparseAutoencoder
from musae_core.sae.steering import feature_intervention


@dataclass(frozen=True)
class SteeringScoreSettings:
    alpha: float = 4.0
    duration: float = 4.0
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    seed: int = 0
    p_threshold: float = 0.05
    max_features: int = 48


@dataclass
class FeatureSteering:
    feature: int
    value: str
    baseline_p: float
    steered_p: float
    p_value: float
    steers: bool
    steered_argmax: float  # share of steered takes the classifier assigns to the value
    baseline_argmax: float


@dataclass
class SteeringReport:
    features: list[FeatureSteering | ConceptSteering] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return sum(f.steers for f in self.features) / len(self.features) if self.features else 0.0

    def to_dict(self) -> dict:
        return {
            "fraction_steering": self.fraction,
            "evaluated": len(self.features),
            "features": [asdict(f) for f in self.features],
            "settings": self.settings,
        }


def _value_probability(probs: dict[str, np.ndarray], classifier, value: str):
    """Per take: P(value) and whether it is the classifier's top class for that factor."""
    factor, _, wanted = value.partition("=")
    column = classifier.heads[factor].classes.index(wanted)
    return probs[factor][:, column], probs[factor].argmax(axis=1) == column


def pick_features(tracking: dict[int, str], feature_f1: dict[int, float], limit: int) -> list[int]:
    """Up to ``limit`` tracking features, the best per value first, then round-robin by F1."""
    by_value: dict[str, list[int]] = {}
    for j in sorted(tracking, key=lambda j: -feature_f1.get(j, 0.0)):
        by_value.setdefault(tracking[j], []).append(j)
    picked: list[int] = []
    depth = 0
    while len(picked) < limit and any(depth < len(v) for v in by_value.values()):
        picked += [v[depth] for v in by_value.values() if depth < len(v)]
        depth += 1
    return picked[:limit]


def score_steering(
    model: MusicModel,
    sae: SparseAutoencoder,
    classifier: FactorClassifier,
    features: Sequence[int],
    tracking: dict[int, str],
    prompts: Sequence[str],
    settings: SteeringScoreSettings | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> SteeringReport:
    """Paired steered/unsteered takes for each feature; the unsteered takes are shared."""
    settings = settings or SteeringScoreSettings()
    progress = progress or no_progress
    rate = model.sample_rate
    request = GenerationRequest(
        prompts=tuple(prompts),
        duration=settings.duration,
        seed=settings.seed,
        sampling=settings.sampling,
    )

    def probabilities(interventions) -> dict[str, np.ndarray]:
        takes = mono_takes(render(model, request, interventions, cancel=cancel))
        return classifier.probabilities(takes, rate)

    baseline = probabilities([])  # shared by every feature
    report = SteeringReport(settings={**asdict(settings), "prompts": list(prompts)})
    for done, j in enumerate(features, start=1):
        check(cancel)
        value = tracking[j]
        steered = probabilities([feature_intervention(sae, j, settings.alpha)])
        base_p, base_top = _value_probability(baseline, classifier, value)
        steer_p, steer_top = _value_probability(steered, classifier, value)
        shift = paired_shift(base_p, steer_p)
        p_value = shift["p_value"] if math.isfinite(shift["p_value"]) else 1.0
        steers = bool(p_value < settings.p_threshold and shift["mean_shift"] > 0)
        report.features.append(
            FeatureSteering(
                j,
                value,
                float(base_p.mean()),
                float(steer_p.mean()),
                float(p_value),
                steers,
                float(steer_top.mean()),
                float(base_top.mean()),
            )
        )
        progress(done, len(features))
    return report


@dataclass
class ConceptSteering:
    feature: int
    concept: str
    judge: str  # "dsp" (fine concepts) or "classifier" (factor values)
    alphas: dict[str, dict[str, float]]  # alpha -> baseline / steered mean, shift, p-value
    p_value: float  # the smallest p over alphas, Bonferroni-corrected for their number
    steers: bool


@dataclass
class ConceptSteeringReport(SteeringReport):
    """``SteeringReport`` over concepts (``features`` holds ``ConceptSteering``), plus the
    features that were not steered and why."""

    skipped: dict[str, str] = field(default_factory=dict)  # feature -> why it was not steered

    def to_dict(self) -> dict:
        return {**super().to_dict(), "skipped": self.skipped}


def steering_targets(concepts) -> tuple[dict[int, str], dict[int, float], str]:
    """{feature: concept} to steer, a strength to rank them, and where they came from: the
    tracking features (held-out MCC >= 0.5), or, when no feature tracks a concept, the best
    single feature of each concept the layer carries (so the section still says whether the
    features closest to a concept move takes toward it)."""
    if concepts.tracking:
        return dict(concepts.tracking), dict(concepts.tracking_mcc), "tracking features"
    rows = [r for r in concepts.rows if r.get("carried") and "best_feature" in r]
    targets = {int(r["best_feature"]): r["name"] for r in rows}
    strength = {int(r["best_feature"]): float(r["auroc"]) for r in rows}
    return targets, strength, "best single feature of each carried concept (none tracks one)"


def score_concept_steering(
    model: MusicModel,
    sae: SparseAutoencoder,
    classifier: FactorClassifier,
    concepts,  # musae_core.features.concepts.ConceptReport
    prompts: Sequence[str],
    settings: SteeringScoreSettings,
    alphas: Sequence[float],
    limit: int,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ConceptSteeringReport:
    """For features tracking a concept: paired takes with and without the feature at each
    alpha; the judge is the concept's DSP strength (``labeling.fine_concepts``) or, for a
    factor value, the factor classifier's probability. One-sided Wilcoxon per alpha; a feature
    steers when the smallest p times the number of alphas is below ``p_threshold``."""
    from musae_core.labeling.fine_concepts import concept_strength, has_judge

    progress = progress or no_progress
    rate = model.sample_rate
    request = GenerationRequest(
        prompts=tuple(prompts),
        duration=settings.duration,
        seed=settings.seed,
        sampling=settings.sampling,
    )
    report = ConceptSteeringReport(
        settings={
            **asdict(settings),
            "alphas": list(alphas),
            "prompts": list(prompts),
            "limit": limit,
        }
    )

    def judged(takes: list[np.ndarray], concept: str) -> np.ndarray:
        if has_judge(concept):
            return np.array([concept_strength(t, rate, concept) for t in takes])
        return _value_probability(classifier.probabilities(takes, rate), classifier, concept)[0]

    def takes(interventions) -> list[np.ndarray]:
        return mono_takes(render(model, request, interventions, cancel=cancel))

    targets, strength, source = steering_targets(concepts)
    report.settings["features_from"] = source
    chosen = pick_features(targets, strength, limit)  # best first, round-robin over concepts
    baseline = takes([])
    for done, j in enumerate(chosen, start=1):
        check(cancel)
        concept = targets[j]
        factor = concept.partition("=")[0]
        if not has_judge(concept) and factor not in classifier.heads:
            report.skipped[str(j)] = f"no judge for {concept}"
            continue
        base = judged(baseline, concept)
        per_alpha, ps = {}, []
        for alpha in alphas:
            steered = judged(takes([feature_intervention(sae, j, alpha)]), concept)
            shift = paired_shift(base, steered)
            p = shift["p_value"] if math.isfinite(shift["p_value"]) else 1.0
            p = p if shift["mean_shift"] > 0 else 1.0
            ps.append(p)
            per_alpha[f"{alpha:g}"] = {
                "baseline": float(base.mean()), "steered": float(steered.mean()),
                "shift": float(shift["mean_shift"]), "p_value": float(p),
            }  # fmt: skip
        corrected = min(1.0, min(ps) * len(alphas))
        report.features.append(
            ConceptSteering(
                j,
                concept,
                "dsp" if has_judge(concept) else "classifier",
                per_alpha,
                corrected,
                corrected < settings.p_threshold,
            )
        )
        progress(done, len(chosen))
    return report
