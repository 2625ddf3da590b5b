"""Add association labels to a built demo features folder without rebuilding it.

`musae demo features` runs this stage itself (stage 7 of ``demo/features_build.py``); this
script runs only that stage on a folder built before it existed (the shipped demo's):

    python scripts/demo_association_labels.py --features W/features --corpus W/corpus

FEATURES needs ``sae/``, ``features.db`` (written in place), ``factor_classifier.npz`` and
``store_analysis/``; only the store's training clips are tagged, so the scorecard's held-out
clips stay unseen. Resumes: features already labelled by the job are skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main() -> int:
    from musae_core.cli_support import stage_bars
    from musae_core.demo.corpus import load_factors
    from musae_core.demo.data import split_records
    from musae_core.demo.features_build import associate_features, training_sources
    from musae_core.harvest.store import ActivationStore
    from musae_core.sae import load_sae

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--features", required=True, help="a `musae demo features` folder")
    p.add_argument("--corpus", required=True, help="the demo corpus its clips come from")
    args = p.parse_args()
    torch.set_num_threads(1)
    folder = Path(args.features)
    store = ActivationStore.open(folder / "store_analysis")
    train, _ = split_records(load_factors(args.corpus))
    train_sources = training_sources(store, train)
    progress, close = stage_bars()
    try:
        associate_features(
            folder / "features.db",
            load_sae(folder / "sae"),
            store,
            folder / "factor_classifier.npz",
            train_sources,
            progress=progress,
            cancel=None,
        )
    finally:
        close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
