"""The feature map's 2-D layout: SAE decoder directions placed by cosine similarity.

Computed once per SAE (UMAP when umap-learn is installed, PCA otherwise) and cached in the
feature database keyed by a hash of the decoder weights, so a retrained SAE never shows a stale
map. Front ends only read the cached ``FeatureLayout``.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from musae_core.errors import MusaeError
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.timeutil import now

METHODS = ("auto", "umap", "pca")
TABLE = "feature_layouts"


@dataclass(frozen=True)
class FeatureLayout:
    """Map coordinates of every feature (row i = feature i), scaled into [-1, 1]."""

    xy: np.ndarray  # (d_sae, 2) float32
    sae_hash: str
    method: str

    @property
    def count(self) -> int:
        return int(self.xy.shape[0])


def decoder_hash(w_dec: np.ndarray) -> str:
    """sha256 of the decoder rows (float32, row-major) and their shape: the key of a cached
    layout, which depends on these rows alone (the database's SAE identity, ``sae.identity``,
    covers the encoder too and is checked where codes are read)."""
    rows = np.ascontiguousarray(np.asarray(w_dec, dtype=np.float32))
    digest = hashlib.sha256(repr(rows.shape).encode())
    digest.update(rows.tobytes())
    return digest.hexdigest()


def decoder_rows(sae) -> np.ndarray:
    """``W_dec`` (d_sae, d_in) of a loaded SAE as float32 numpy."""
    return sae.W_dec.detach().float().cpu().numpy()


def umap_available() -> bool:
    return importlib.util.find_spec("umap") is not None


def _unit_rows(w_dec: np.ndarray) -> np.ndarray:
    rows = np.asarray(w_dec, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def _scale(xy: np.ndarray) -> np.ndarray:
    """Centre and scale into [-1, 1] (same factor on both axes, so distances keep their shape)."""
    xy = xy - (xy.max(axis=0) + xy.min(axis=0)) / 2
    span = float(np.abs(xy).max()) or 1.0
    return (xy / span).astype(np.float32)


def _pca(unit: np.ndarray) -> np.ndarray:
    """Project onto the top two principal axes (covariance eigh: exact and deterministic).

    numpy rather than scikit-learn, which musae does not depend on directly."""
    centred = unit - unit.mean(axis=0)
    _values, vectors = np.linalg.eigh(centred.T @ centred)
    axes = vectors[:, ::-1][:, :2]
    axes = axes * np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])  # fixed sign convention
    return centred @ axes


@contextmanager
def _umap_epochs(progress: ProgressFn, cancel: CancelToken | None) -> Iterator[None]:
    """Report UMAP's optimisation epochs and stop between them when cancelled.

    umap-learn has no callback; its epoch loop iterates ``umap.layouts.tqdm``, so that name is
    swapped for a generator that reports and checks the token while the fit runs."""
    import umap.layouts as layouts

    original = layouts.tqdm

    def epochs(iterable, **_kwargs):
        items = list(iterable)
        for n, item in enumerate(items):
            check(cancel)
            progress(1 + n, 1 + len(items) + 1)
            yield item

    layouts.tqdm = epochs
    try:
        yield
    finally:
        layouts.tqdm = original


def _umap(unit: np.ndarray, seed: int, progress: ProgressFn, cancel) -> np.ndarray:
    import umap

    neighbours = min(15, max(2, unit.shape[0] - 1))
    reducer = umap.UMAP(
        n_components=2,
        metric="cosine",
        n_neighbors=neighbours,
        min_dist=0.1,
        random_state=seed,
        low_memory=True,
        n_jobs=1,
    )
    with _umap_epochs(progress, cancel):
        return reducer.fit_transform(unit.astype(np.float32))


def compute_layout(
    w_dec: np.ndarray,
    method: str = "auto",
    seed: int = 0,
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
) -> FeatureLayout:
    """Lay out the decoder rows (d_sae, d_in) in 2-D by cosine similarity.

    ``auto`` uses UMAP when umap-learn is installed and PCA otherwise (also below 8 features,
    where UMAP has no neighbourhood to learn)."""
    if method not in METHODS:
        raise MusaeError(f"Unknown map layout method {method!r}.", f"use one of {METHODS}.")
    w_dec = np.asarray(w_dec)
    if w_dec.ndim != 2 or w_dec.shape[0] < 2:
        raise MusaeError(
            f"The SAE decoder has shape {w_dec.shape}; a map needs (features >= 2, width).",
            "check the SAE folder holds a trained W_dec.",
        )
    if method == "umap" and not umap_available():
        raise MusaeError(
            "The UMAP layout needs umap-learn, which is not installed.",
            "pip install 'musae[map]', or use --method pca.",
        )
    use_umap = method == "umap" or (method == "auto" and umap_available() and len(w_dec) >= 8)
    sae_hash = decoder_hash(w_dec)
    progress(0, 3)
    check(cancel)
    unit = _unit_rows(w_dec)
    if use_umap:
        xy = _umap(unit, seed, progress, cancel)
    else:
        progress(1, 3)
        xy = _pca(unit)
    check(cancel)
    progress(3, 3)
    return FeatureLayout(_scale(np.asarray(xy)), sae_hash, "umap" if use_umap else "pca")


# --- cache in the feature database ------------------------------------------------------------
CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    sae_hash TEXT PRIMARY KEY,
    method TEXT NOT NULL,
    count INTEGER NOT NULL,
    xy BLOB NOT NULL,
    created TEXT NOT NULL
);
"""


def create_layout_table(conn) -> None:
    """Schema migration step: the table of cached map layouts (one row per SAE identity)."""
    conn.execute(CREATE_TABLE)


def save_layout(db, layout: FeatureLayout) -> None:
    """Cache ``layout`` in ``db`` (opened read-write), replacing any layout of the same SAE."""
    count = db.feature_count()
    if count and count != layout.count:
        raise MusaeError(
            f"The map has {layout.count} features but {db.path} holds {count}.",
            "compute the map from the SAE this database was analysed from.",
        )
    blob = np.ascontiguousarray(layout.xy, dtype="<f4").tobytes()
    with db._tx() as conn:
        create_layout_table(conn)
        conn.execute(
            f"INSERT OR REPLACE INTO {TABLE}(sae_hash, method, count, xy, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (layout.sae_hash, layout.method, layout.count, blob, now()),
        )


def load_layout(db, sae_hash: str | None = None) -> FeatureLayout | None:
    """The cached layout of the SAE with ``sae_hash``; without a hash, the newest one.

    None when nothing is cached for that SAE (a changed SAE has another hash: recompute)."""
    if not db.has_table(TABLE):
        return None
    sql = f"SELECT sae_hash, method, count, xy FROM {TABLE}"
    if sae_hash is None:
        rows = db._rows(sql + " ORDER BY created DESC, rowid DESC LIMIT 1")
    else:
        rows = db._rows(sql + " WHERE sae_hash = ?", (sae_hash,))
    if not rows:
        return None
    found, method, count, blob = rows[0]
    xy = np.frombuffer(blob, dtype="<f4").reshape(int(count), 2).astype(np.float32)
    return FeatureLayout(xy, found, method)


def layout_for_sae(
    db,
    w_dec: np.ndarray,
    method: str = "auto",
    progress: ProgressFn = no_progress,
    cancel: CancelToken | None = None,
    recompute: bool = False,
) -> tuple[FeatureLayout, bool]:
    """The cached layout of this SAE, computing and caching it when missing.

    Returns (layout, computed)."""
    cached = None if recompute else load_layout(db, decoder_hash(w_dec))
    if cached is not None:
        return cached, False
    layout = compute_layout(w_dec, method, progress=progress, cancel=cancel)
    save_layout(db, layout)
    return layout, True
