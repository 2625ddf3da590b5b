"""Recipes to and from take sidecars: rebuild the steering a sidecar records, so a punch-in
take (or its parent) can be rendered again from the JSON alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from musae_core.errors import MusaeError
from musae_core.models.base import GenerationRequest
from musae_core.punch.schedule import Segment
from musae_core.punch.takes import Recipe
from musae_core.steering import AddDirection, ClampDirection, Envelope, RelativeAdd

VECTOR_KINDS = {
    "AddDirection": AddDirection,
    "RelativeAdd": RelativeAdd,
    "ClampDirection": ClampDirection,
}
PARAMS = ("alpha", "beta", "value")


def read_sidecar(path: str | Path) -> dict:
    """A take's JSON sidecar; a clear error when it is missing or not a musae sidecar."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MusaeError(
            f"Cannot read take sidecar {path}: {exc}.",
            "pass the .json written beside a take's WAV.",
        ) from exc
    if not isinstance(data, dict) or "request" not in data or "model_id" not in data:
        raise MusaeError(
            f"{path} is not a musae take sidecar (no request/model_id).",
            "pass the .json written beside a take's WAV.",
        )
    return data


def intervention_from_dict(data: dict, sae_cache: dict | None = None):
    """Rebuild one recorded intervention from its source (vector file or SAE feature); the
    direction must hash to what the sidecar recorded."""
    sae_cache = {} if sae_cache is None else sae_cache
    source = data.get("source", {})
    envelope = Envelope.from_dict(data["envelope"]) if data.get("envelope") else None
    common = {
        "layer": int(data["layer"]),
        "branch": data.get("branch", "both"),
        "envelope": envelope,
        "source": dict(source),
    }
    params = {k: float(data[k]) for k in PARAMS if k in data}
    kind = data.get("kind")
    if "vector_file" in source and kind in VECTOR_KINDS:
        try:
            vector = np.load(source["vector_file"], allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise MusaeError(
                f"Cannot read steering vector {source['vector_file']}: {exc}.",
                "put the vector file back where the take recorded it.",
            ) from exc
        iv = VECTOR_KINDS[kind](direction=vector, **common, **params)
    elif source.get("sae") and "feature" in source:
        from musae_core.sae import load_sae
        from musae_core.sae.steering import feature_intervention

        path = source["sae"]
        sae = (
            sae_cache.setdefault(path, load_sae(path)) if path not in sae_cache else sae_cache[path]
        )
        mode = "clamp" if kind == "SaeFeatureClamp" else "add"
        strength = params.get("value", 0.0) if mode == "clamp" else params.get("alpha", 0.0)
        iv = feature_intervention(
            sae,
            int(source["feature"]),
            strength,
            mode=mode,
            branch=common["branch"],
            envelope=envelope,
            sae_path=path,
        )
        recorded = params.get("beta")  # beta is decided by feature_beta: it must agree
        beta = getattr(iv, "beta", recorded) if recorded is not None else None  # clamp: none
        if beta is not None and recorded is not None and abs(beta - recorded) > 1e-6:
            raise MusaeError(
                f"Feature {source['feature']}'s beta is {beta:g} now but the take was "
                f"steered with {recorded:g}.",
                "re-render with the SAE (and feature database) the take used.",
            )
    else:
        raise MusaeError(
            f"Cannot rebuild steering {kind} from the sidecar (source {source}).",
            "re-render takes steered from vector files or SAE features.",
        )
    if iv.to_dict()["direction_sha256_16"] != data.get("direction_sha256_16"):
        raise MusaeError(
            f"The steering direction from {source} changed since the take.",
            "use the vector file / SAE the take was rendered with.",
        )
    return iv


def recipe_from_sidecar(data: dict) -> Recipe:
    """The take's recipe: its ``recipe`` block for punch-in takes, else one segment with the
    take's steering from frame 0 (a plain ``musae generate`` take)."""
    cache: dict = {}
    if data.get("recipe"):
        return _recipe(data["recipe"], cache)
    request = GenerationRequest.from_dict(data["request"])
    steering = [intervention_from_dict(d, cache) for d in data.get("steering", [])]
    return Recipe(request, [Segment(0, steering)])


def _recipe(data: dict, cache: dict) -> Recipe:
    segments = [
        Segment(int(s["from_frame"]), [intervention_from_dict(d, cache) for d in s["steering"]])
        for s in data["segments"]
    ]
    parent = _recipe(data["parent"], cache) if data.get("parent") else None
    request = GenerationRequest.from_dict(data["request"])
    return Recipe(request, segments, parent, int(data.get("punch_frame", 0)))
