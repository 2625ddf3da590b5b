"""The ``--steer`` specs of ``musae generate`` (and of ``generate --continue``) -> interventions.

SAE features (``FEATURE_ID=ALPHA`` with ``--sae``, beta from the SAE, a ``--features`` database
checked against it) or steering-vector files (``VECTOR.npy:LAYER:STRENGTH``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from musae_core.errors import MusaeError


def parse_vector_steer(spec: str, mode: str, branch: str):
    """'VECTOR.npy:LAYER:STRENGTH' -> an intervention (layer checked later against the model)."""
    from musae_core.steering import AddDirection, ClampDirection, RelativeAdd

    parts = spec.rsplit(":", 2)
    if len(parts) != 3:
        raise MusaeError(f"Bad --steer {spec!r}.", "use VECTOR.npy:LAYER:STRENGTH.")
    path, layer_text, strength_text = parts
    try:
        layer, strength = int(layer_text), float(strength_text)
    except ValueError as exc:
        raise MusaeError(
            f"Bad --steer {spec!r}: layer or strength is not a number.", "use e.g. v.npy:2:4.0."
        ) from exc
    if not np.isfinite(strength):
        raise MusaeError(f"Bad --steer {spec!r}: strength must be finite.", "use a finite number.")
    try:
        vector = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise MusaeError(
            f"Cannot read steering vector {path}: {exc}.", "save it with numpy.save()."
        ) from exc
    source = {"vector_file": str(Path(path).resolve())}
    common = {"layer": layer, "direction": vector, "branch": branch, "source": source}
    if mode == "add":
        return AddDirection(alpha=strength, **common)
    if mode == "relative":
        return RelativeAdd(alpha=strength, **common)
    return ClampDirection(value=strength, **common)


def interventions_from_args(args: argparse.Namespace, model) -> list:
    """--steer specs: SAE features (FEATURE_ID=ALPHA) with --sae, else vector files."""
    if not args.sae:
        return [parse_vector_steer(s, args.steer_mode, args.cfg_branch) for s in args.steer]
    from musae_core.sae import load_sae, parse_feature_steer

    if args.steer_mode == "relative":
        raise MusaeError("--steer-mode relative applies to vector files.", "use add or clamp.")
    from musae_core.sae.evaluate import check_compatible

    sae = load_sae(args.sae)
    check_compatible(
        sae,
        model.model_id,
        list(range(model.num_layers)),
        model.d_model,
        f"model {model.model_id!r}",
    )
    sae_path = str(Path(args.sae).resolve())
    db = checked_feature_db(args.features, sae, args.sae) if args.features else None
    try:
        return [
            parse_feature_steer(spec, sae, args.steer_mode, args.cfg_branch, sae_path, db)
            for spec in args.steer
        ]
    finally:
        if db is not None:
            db.close()


def checked_feature_db(path: str, sae, sae_arg: str):
    """The --features database, refused when it was analysed from another SAE (beta is still
    the one ``feature_beta`` picks: the database's figure only where the SAE records none)."""
    from musae_core.features.db import FeatureDB
    from musae_core.features.sae_match import check_db_matches_sae

    db = FeatureDB.open(path, readonly=True)
    try:
        warning = check_db_matches_sae(db, sae, f"SAE {sae_arg}")
    except MusaeError:
        db.close()
        raise
    if warning:
        print(f"musae: warning: {warning}", file=sys.stderr)
    return db
