"""How fast is concept scoring at sweep scale, and what does the sparse rank trick buy?

    python bench/concept_scoring.py [--rows 100000] [--d-sae 3072] [--k 32] [--concepts 200]

Synthetic TopK-like codes (k non-zeros per row) and random per-frame concepts, 75 % of the clips
for calibration. Prints the wall time of ``score_concepts`` (residual ceiling included) per
million (row x concept) pairs, and the ratio of the sparse all-pairs AUROC
(``concept_metrics.auroc_matrix``) to dense per-column ranking on the same matrix (same
numbers, checked). Use one torch thread; nothing is asserted (benchmarks measure, tests assert).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
import torch
from scipy.stats import rankdata

from musae_core.features.concept_metrics import auroc_matrix
from musae_core.features.concepts import ConceptTruth, score_concepts


def synthetic(rows: int, d_sae: int, k: int, concepts: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, d_sae, (rows, k))
    codes = sp.csr_matrix(
        (
            rng.exponential(1.0, rows * k).astype(np.float32),
            (np.repeat(np.arange(rows), k), cols.ravel()),
        ),
        shape=(rows, d_sae),
    )
    truth = rng.random((rows, concepts)) < rng.uniform(0.01, 0.4, concepts)
    codes = codes.tolil()
    for c in range(min(concepts, d_sae)):  # plant a detector per concept, so numbers move
        codes[np.flatnonzero(truth[:, c])[::3], c] = 3.0
    clips = np.arange(rows) // 500
    resid = rng.normal(size=(rows, 64)).astype(np.float32)
    return (
        codes.tocsr(),
        ConceptTruth([f"c{i}" for i in range(concepts)], truth, clips, np.arange(rows) % 500, 50.0),
        clips % 4 != 3,
        resid,
    )


def dense_auroc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ranks = rankdata(x, axis=0)
    npos = y.sum(0)
    sums = y.T.astype(np.float64) @ ranks
    return (sums - (npos * (npos + 1) / 2)[:, None]) / (npos * (len(y) - npos))[:, None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--d-sae", type=int, default=3072)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--concepts", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    codes, truth, cal, resid = synthetic(args.rows, args.d_sae, args.k, args.concepts)
    t = time.perf_counter()
    report = score_concepts(codes, truth, cal, resid)
    total = time.perf_counter() - t
    pairs = args.rows * args.concepts / 1e6
    print(
        f"score_concepts: {args.rows} rows x {args.d_sae} features x {args.concepts} "
        f"concepts in {total:.1f} s ({total / pairs:.2f} s per million row-concept pairs; "
        f"{report.summary()['tracking_features']} tracking features)"
    )
    n = min(args.rows, 20_000)
    sub, y = codes[:n], truth.frames[:n]
    t = time.perf_counter()
    fast = auroc_matrix(sub, y)
    t_fast = time.perf_counter() - t
    t = time.perf_counter()
    slow = dense_auroc(sub.toarray(), y)
    t_slow = time.perf_counter() - t
    print(
        f"all-pairs AUROC on {n} rows: sparse ranks {t_fast:.2f} s, dense ranks "
        f"{t_slow:.2f} s, ratio {t_slow / t_fast:.1f}x; max |difference| "
        f"{np.abs(fast - slow).max():.1e}"
    )


if __name__ == "__main__":
    main()
