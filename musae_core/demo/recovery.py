"""Ground-truth recovery: how well single SAE features detect each factor value, frame by frame.

For every factor value (each instrument family, mode, tempo band, register band, dynamics level,
drums on/off) and every feature, a frame "detects" the value when the feature's activation,
averaged over ``smooth_seconds`` around the frame, exceeds a threshold (a share of the feature's
largest activation). Each (feature, value) pair's threshold is chosen on calibration clips (from
the SAE's training split) by F1, then precision, recall and F1 are measured on held-out clips the
SAE never saw. Every clip has one value per factor (the corpus records them), so a frame's truth
is its clip's.

A detector that fires on every frame already scores F1 = 2p / (1 + p) for a value covering a
share p of the frames (0.67 for drums on/off), so each value's trivial F1 is reported beside
it, and a feature only counts as *tracking* a value when it beats that baseline by a margin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from musae_core.demo.factor_classifier import FACTORS, factor_labels
from musae_core.harvest.store import ActivationStore
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.sae.architectures import SparseAutoencoder

THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6)  # shares of the feature's max activation


@dataclass(frozen=True)
class FactorValue:
    factor: str
    value: str

    @property
    def name(self) -> str:
        return f"{self.factor}={self.value}"


def factor_values(records: Iterable[dict]) -> list[FactorValue]:
    """Every value each scored factor takes in ``records``, sorted within each factor."""
    records = list(records)
    return [
        FactorValue(f, v) for f in FACTORS for v in sorted({factor_labels(r, f) for r in records})
    ]


def clip_activations(
    store: ActivationStore,
    layer: int,
    sae: SparseAutoencoder,
    wanted: set[int],
    cancel: CancelToken | None = None,
) -> Iterator[tuple[int, torch.Tensor, np.ndarray]]:
    """(source id, (frames, d_model) residual rows, (frames, d_sae) SAE activations), both in
    frame order, for the ``wanted`` sources.

    A source's rows may span shards; a source is yielded once every shard is read."""
    parts: dict[int, list[tuple[np.ndarray, torch.Tensor]]] = {}
    for _, rows, index in store.iter_shards(layer):
        check(cancel)
        sources = index["source_id"]
        for source in np.unique(sources):
            if int(source) not in wanted:
                continue
            mask = sources == source
            order = index["clip_start"][mask] * 1e6 + index["frame"][mask]
            parts.setdefault(int(source), []).append((order, rows[torch.from_numpy(mask)]))
    for source, chunks in parts.items():
        order = np.concatenate([o for o, _ in chunks])
        rows = torch.cat([r for _, r in chunks])[torch.from_numpy(np.argsort(order))]
        with torch.inference_mode():
            acts = sae.encode(rows.to(sae.W_enc.dtype)).float().numpy()
        yield source, rows, acts


def smooth(acts: np.ndarray, frames: int) -> np.ndarray:
    """Centred moving average over ``frames`` frames (edges average what exists)."""
    if frames <= 1:
        return acts
    kernel = np.ones(frames, dtype=np.float64)
    csum = np.concatenate([np.zeros((1, acts.shape[1])), np.cumsum(acts, axis=0)])
    half = frames // 2
    t = np.arange(len(acts))
    lo, hi = np.clip(t - half, 0, len(acts)), np.clip(t - half + len(kernel), 0, len(acts))
    return ((csum[hi] - csum[lo]) / (hi - lo)[:, None]).astype(np.float32)


@dataclass
class Counts:
    """Per threshold: frames each feature fires on, and how many of those hold each value."""

    fires: np.ndarray  # (thresholds, d_sae)
    hits: np.ndarray  # (thresholds, d_sae, values)
    positives: np.ndarray  # (values,)
    frames: int = 0

    @classmethod
    def empty(cls, d_sae: int, n_values: int) -> Counts:
        return cls(
            np.zeros((len(THRESHOLDS), d_sae)),
            np.zeros((len(THRESHOLDS), d_sae, n_values)),
            np.zeros(n_values),
        )

    def add(self, acts: np.ndarray, scale: np.ndarray, truth: np.ndarray) -> None:
        """``acts`` (frames, d_sae) of one clip whose values are the 0/1 vector ``truth``."""
        for i, share in enumerate(THRESHOLDS):
            fired = (acts > share * scale).sum(axis=0)
            self.fires[i] += fired
            self.hits[i] += fired[:, None] * truth[None, :]
        self.positives += truth * len(acts)
        self.frames += len(acts)

    def scores(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Precision, recall, F1, each (thresholds, d_sae, values)."""
        precision = self.hits / np.maximum(self.fires[..., None], 1)
        recall = self.hits / np.maximum(self.positives, 1)
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        return precision, recall, f1


@dataclass
class ValueScore:
    value: str
    feature: int
    precision: float
    recall: float
    f1: float
    trivial_f1: float
    threshold: float


@dataclass
class RecoveryReport:
    values: list[ValueScore]
    tracking: dict[int, str]  # feature -> the factor value it tracks
    feature_f1: dict[int, float]
    settings: dict = field(default_factory=dict)

    def recovered(self, bar: float = 0.7) -> int:
        return sum(v.f1 >= bar for v in self.values)

    def to_dict(self) -> dict:
        return {
            "values": [asdict(v) for v in self.values],
            "recovered_f1_0.7": self.recovered(0.7),
            "tracking_features": {str(k): v for k, v in self.tracking.items()},
            "settings": self.settings,
        }


def score_recovery(
    store: ActivationStore,
    layer: int,
    sae: SparseAutoencoder,
    records_by_source: dict[int, dict],
    calibration: set[int],
    evaluation: set[int],
    smooth_seconds: float = 0.5,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    on_clip: Callable[[int, torch.Tensor, np.ndarray], None] | None = None,
) -> RecoveryReport:
    """Score every (feature, factor value) pair of ``sae`` over the clips of ``store``.

    ``on_clip`` sees each clip's residual rows and SAE activations on the way, so other
    measures (the scorecard's probes) need no second pass over the store."""

    def clips() -> Iterator[tuple[int, np.ndarray]]:
        for source, rows, acts in clip_activations(
            store, layer, sae, calibration | evaluation, cancel
        ):
            if on_clip is not None:
                on_clip(source, rows, acts)
            yield source, acts

    scale = sae.max_activation.float().numpy()
    frames = max(1, round(smooth_seconds * store.frame_rate))
    report = recovery_from_activations(
        clips(), scale, records_by_source, calibration, evaluation, frames, progress=progress
    )
    report.settings["smooth_seconds"] = smooth_seconds
    return report


def recovery_from_activations(
    clips: Iterable[tuple[int, np.ndarray]],
    scale: np.ndarray,
    records_by_source: dict[int, dict],
    calibration: set[int],
    evaluation: set[int],
    smooth_frames: int = 1,
    tracking_margin: float = 0.15,
    tracking_min_f1: float = 0.5,
    progress: ProgressFn | None = None,
) -> RecoveryReport:
    """The scoring itself, over (source id, (frames, d_sae) activations) pairs; ``scale`` is
    each feature's max activation (thresholds are shares of it)."""
    progress = progress or no_progress
    values = factor_values(records_by_source[s] for s in calibration | evaluation)
    scale = np.asarray(scale, dtype=np.float64).clip(min=1e-6)
    d_sae = len(scale)
    counts = {"cal": Counts.empty(d_sae, len(values)), "eval": Counts.empty(d_sae, len(values))}
    total = len(calibration | evaluation)
    for done, (source, acts) in enumerate(clips, start=1):
        record = records_by_source[source]
        truth = np.array([factor_labels(record, v.factor) == v.value for v in values], float)
        split = "eval" if source in evaluation else "cal"
        counts[split].add(smooth(acts, smooth_frames), scale, truth)
        progress(done, total)
    _, _, cal_f1 = counts["cal"].scores()
    best_thr = cal_f1.argmax(axis=0)  # (d_sae, values)
    precision, recall, f1 = counts["eval"].scores()
    pick = np.take_along_axis
    ev_p = pick(precision, best_thr[None], axis=0)[0]
    ev_r = pick(recall, best_thr[None], axis=0)[0]
    ev_f1 = pick(f1, best_thr[None], axis=0)[0]  # (d_sae, values)
    cal_best = pick(cal_f1, best_thr[None], axis=0)[0]
    share = counts["eval"].positives / max(counts["eval"].frames, 1)
    trivial = 2 * share / (1 + share)
    scores = []
    for v, value in enumerate(values):
        j = int(cal_best[:, v].argmax())  # the best single feature, chosen on calibration clips
        scores.append(
            ValueScore(
                value.name,
                j,
                float(ev_p[j, v]),
                float(ev_r[j, v]),
                float(ev_f1[j, v]),
                float(trivial[v]),
                THRESHOLDS[int(best_thr[j, v])],
            )
        )
    tracking, feature_f1 = {}, {}
    for j in range(d_sae):
        v = int(cal_best[j].argmax())
        if ev_f1[j, v] >= tracking_min_f1 and ev_f1[j, v] - trivial[v] >= tracking_margin:
            tracking[j] = values[v].name
            feature_f1[j] = float(ev_f1[j, v])
    settings = {
        "smooth_frames": smooth_frames, "thresholds": list(THRESHOLDS),
        "calibration_clips": len(calibration), "evaluation_clips": len(evaluation),
        "evaluation_frames": counts["eval"].frames, "tracking_min_f1": tracking_min_f1,
        "tracking_margin": tracking_margin,
    }  # fmt: skip
    return RecoveryReport(scores, tracking, feature_f1, settings)
