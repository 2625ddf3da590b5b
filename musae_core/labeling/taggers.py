"""Pretrained music taggers: user-provided Essentia classifiers (genre, instrument, mood...).

Essentia's classifiers are two TensorFlow graphs the user downloads from
https://essentia.upf.edu/models/ : an embedding model (e.g. ``discogs-effnet-bs64-1.pb``) and
a classification head with its metadata JSON (e.g. ``mtg_jamendo_instrument-discogs-effnet-1.pb``
+ ``.json``, whose "classes" name the outputs). They run through the ``essentia-tensorflow``
package (``pip install essentia-tensorflow``, Linux/macOS wheels), which also computes the exact
mel front-end the models were trained on; musae does not re-implement that front-end, so the
ONNX exports of the same models are not run here. Without the package, this module raises a
MusaeError saying so; everything else in musae works without it.

Labels are the classes whose mean probability on the top clips most exceeds the baseline's,
with AUROC and a Mann-Whitney p-value per class, like the CLAP tagger.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from musae_core.errors import MusaeError
from musae_core.labeling.contrast_stats import compare
from musae_core.labeling.results import LabelResult

SOURCE = "essentia"
ESSENTIA_RATE = 16_000


@dataclass(frozen=True)
class HeadMetadata:
    """What the head's JSON says: its name, class names and the output node to read."""

    name: str
    classes: tuple[str, ...]
    output: str
    kind: str


def read_head_metadata(head_path: str | Path) -> HeadMetadata:
    """Read ``HEAD.json`` beside ``HEAD.pb`` (Essentia's model card format)."""
    meta_path = Path(head_path).with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MusaeError(
            f"Cannot read the Essentia model metadata {meta_path}: {exc}.",
            "download the .json that sits beside the model on essentia.upf.edu/models.",
        ) from exc
    classes = meta.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise MusaeError(f"{meta_path} has no list of class names.", "use Essentia's JSON.")
    outputs = meta.get("schema", {}).get("outputs", [])
    output = next(
        (o.get("name") for o in outputs if o.get("output_purpose") == "predictions"),
        "model/Softmax",
    )
    return HeadMetadata(
        name=str(meta.get("name", meta_path.stem)),
        classes=tuple(classes),
        output=str(output),
        kind=str(meta.get("type", "")),
    )


class EssentiaTagger:
    """Per-clip class probabilities from an Essentia embedding model + classification head."""

    def __init__(self, embedding_path: str | Path, head_path: str | Path) -> None:
        try:
            from essentia.standard import TensorflowPredict2D, TensorflowPredictEffnetDiscogs
        except ImportError as exc:
            raise MusaeError(
                "Essentia taggers need the essentia-tensorflow package, which is not installed.",
                "pip install essentia-tensorflow (Linux/macOS), or use --method clap instead.",
            ) from exc
        for path in (embedding_path, head_path):
            if not Path(path).is_file():
                raise MusaeError(
                    f"Essentia model file {path} does not exist.",
                    "download the embedding model and the classification head (.pb + .json) "
                    "from essentia.upf.edu/models.",
                )
        self.metadata = read_head_metadata(head_path)
        self.model_name = self.metadata.name
        self.sample_rate = ESSENTIA_RATE
        self._embed = TensorflowPredictEffnetDiscogs(
            graphFilename=str(embedding_path), output="PartitionedCall:1"
        )
        self._head = TensorflowPredict2D(graphFilename=str(head_path), output=self.metadata.output)

    def probabilities(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mean class probabilities over the clip's patches, shape (n_classes,)."""
        mono = np.asarray(audio, dtype=np.float32)
        if sample_rate != ESSENTIA_RATE:
            mono = soxr.resample(mono, sample_rate, ESSENTIA_RATE).astype(np.float32)
        embeddings = self._embed(mono)
        return np.asarray(self._head(embeddings), dtype=np.float32).mean(axis=0)


def contrast_labels(
    top_scores: np.ndarray,
    baseline_scores: np.ndarray,
    classes: Sequence[str],
    model_name: str,
    top_k: int = 3,
    evidence_classes: int = 10,
    source: str = SOURCE,
) -> list[LabelResult]:
    """Classes ranked by mean score on top clips minus baseline; the best ``top_k`` with a
    positive contrast become labels."""
    top = np.asarray(top_scores, dtype=np.float64)
    base = np.asarray(baseline_scores, dtype=np.float64)
    if top.ndim != 2 or base.ndim != 2 or not top.shape[1] == base.shape[1] == len(classes):
        raise MusaeError("Tagger scores do not match the class list.", "check the model files.")
    if len(top) == 0 or len(base) == 0:
        raise MusaeError("Tagging needs top and baseline clips.", "check the feature has clips.")
    contrast = top.mean(axis=0) - base.mean(axis=0)
    order = np.argsort(-contrast, kind="stable")
    stats = {int(i): compare(top[:, i], base[:, i]) for i in order[: max(top_k, evidence_classes)]}
    ranking = [
        {"class": classes[i], "score": round(float(contrast[i]), 6),
         "auroc": round(stats[int(i)].auroc, 4)}
        for i in order[:evidence_classes]
    ]  # fmt: skip
    labels = []
    for rank, index in enumerate(order[:top_k], start=1):
        if contrast[index] <= 0:
            break
        result = stats[int(index)]
        evidence = {
            "model": model_name,
            "class": classes[index],
            "rank": rank,
            "mean_top": float(top[:, index].mean()),
            "mean_baseline": float(base[:, index].mean()),
            **result.as_dict(),
            "ranking": ranking,
        }
        labels.append(LabelResult(source, classes[index], float(contrast[index]), evidence))
    return labels
