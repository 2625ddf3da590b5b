"""Does a feature database describe this SAE? Checked by every consumer, recorded by stamping.

A database made by ``musae analyze`` records the SAE's identity (``musae_core.sae.identity``).
Consumers (``musae generate --features``, ``musae eval-steering``, the workstation session)
refuse a database whose identity differs. Older databases record no identity: they are
accepted with a warning when their d_sae, layer and model match, refused otherwise;
``musae db stamp`` records the identity once it has checked the database's stored decoder
cosines against the SAE's directions.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from musae_core.errors import MusaeError
from musae_core.sae.architectures import SparseAutoencoder
from musae_core.sae.identity import sae_identity

if TYPE_CHECKING:
    from musae_core.features.db import FeatureDB

STRUCTURAL_KEYS = ("d_sae", "layer", "model_id")
COSINE_TOLERANCE = 1e-3
COSINE_SAMPLE = 256  # features whose stored neighbour cosines ``stamp_db`` re-computes


class SaeMismatch(MusaeError):
    """A feature database that was analysed from another SAE than the one in use."""


def _fix(db_path: Path | str) -> str:
    return (
        "pass the feature database analysed from this SAE, or analyse it: `musae analyze "
        f"--sae SAE --store STORE --out NEW.db` (instead of {db_path})."
    )


def _structural_differences(recorded: dict, sae: SparseAutoencoder) -> list[str]:
    """'d_sae 3072 (this SAE: 48)'-style notes for the recorded facts that differ."""
    mine = {"d_sae": sae.cfg.d_sae, "layer": sae.cfg.layer, "model_id": sae.cfg.model_id}
    notes = []
    for key in STRUCTURAL_KEYS:
        theirs = recorded.get(key)
        if theirs in (None, "") or (key == "model_id" and not mine[key]):
            continue  # not recorded (or the SAE does not say): nothing to compare
        if theirs != mine[key]:
            notes.append(f"{key} {theirs!r} (this SAE: {mine[key]!r})")
    return notes


def check_db_matches_sae(
    db: FeatureDB, sae: SparseAutoencoder, sae_label: str = "the SAE"
) -> str | None:
    """Raise ``SaeMismatch`` when ``db`` describes another SAE; a warning text for a legacy
    database that records no identity but matches in d_sae, layer and model; else None."""
    meta = db.meta()
    recorded = meta.get("sae_identity")
    if recorded:
        if recorded.get("weights_sha256") == sae_identity(sae)["weights_sha256"]:
            return None
        notes = _structural_differences(recorded, sae) or ["its weights hash differs"]
        raise SaeMismatch(
            f"Feature database {db.path} was analysed from another SAE than {sae_label}: "
            f"{', '.join(notes)}.",
            _fix(db.path),
        )
    notes = _structural_differences(meta, sae)
    if notes:
        raise SaeMismatch(
            f"Feature database {db.path} does not describe {sae_label}: {', '.join(notes)}.",
            _fix(db.path),
        )
    return (
        f"Feature database {db.path} records no SAE identity (made before musae recorded it); "
        f"its d_sae, layer and model match {sae_label}, so it is used. To record it: "
        f"`musae db stamp --db {db.path} --sae SAE`."
    )


def _stored_cosines_agree(db: FeatureDB, sae: SparseAutoencoder) -> int:
    """Compare stored neighbour cosines of up to COSINE_SAMPLE features with the SAE's decoder;
    returns how many pairs were compared, raises ``SaeMismatch`` on the first disagreement."""
    d_sae = sae.cfg.d_sae
    step = max(1, d_sae // COSINE_SAMPLE)
    directions = sae.W_dec.detach().float().cpu()
    directions = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-12)
    compared = 0
    for feature in range(0, d_sae, step):
        for other, stored in db.neighbours(feature):
            cosine = float(torch.dot(directions[feature], directions[other]))
            if not math.isclose(cosine, stored, abs_tol=COSINE_TOLERANCE):
                raise SaeMismatch(
                    f"Feature database {db.path} stores decoder cosine {stored:.4f} between "
                    f"features {feature} and {other}; this SAE's directions give {cosine:.4f}.",
                    _fix(db.path),
                )
            compared += 1
    return compared


def stamp_db(db: FeatureDB, sae: SparseAutoencoder, sae_label: str = "the SAE") -> tuple[dict, int]:
    """Record ``sae``'s identity in a legacy ``db`` (opened read-write) after checking that it
    describes this SAE; returns the identity and how many stored cosines were checked."""
    identity = sae_identity(sae)
    recorded = db.meta().get("sae_identity")
    if recorded:
        check_db_matches_sae(db, sae, sae_label)  # raises when it records another SAE
        return identity, 0
    notes = _structural_differences(db.meta(), sae)
    if notes:
        raise SaeMismatch(
            f"Feature database {db.path} does not describe {sae_label}: {', '.join(notes)}.",
            _fix(db.path),
        )
    compared = _stored_cosines_agree(db, sae)
    db.update_meta(sae_identity=identity)
    return identity, compared
