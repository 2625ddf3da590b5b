"""Batched logistic probes for concept scoring (``features.concepts``): full probes on SAE codes
or the residual stream, and SAEBench-style k-sparse probes on the top-k latents by mean
difference. Fitted on calibration rows, thresholds chosen there, F1 measured on held-out rows."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from musae_core.features.concept_metrics import best_threshold, detector_scores

# ---- probes ----------------------------------------------------------------------------------


def fit_logistic(x, y: torch.Tensor, l2: float, iters: int = 100, mean=None, std=None):
    """Independent binary logistic regressions, batched: ``x`` (n, d) shared by every concept
    (dense, or a torch sparse matrix standardised on the fly by ``mean``/``std``) or (n, c, d)
    per concept, ``y`` (n, c) 0/1. Returns weights (c, d) and biases (c,)."""
    c, d = y.shape[1], x.shape[-1]
    w = torch.zeros(c, d, requires_grad=True)
    b = torch.zeros(c, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = _logits(x, w, b, mean, std)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        total = loss.mean(dim=0).sum() + l2 * w.pow(2).sum()
        total.backward()
        return total

    opt.step(closure)
    return w.detach(), b.detach()


def _logits(x, w: torch.Tensor, b: torch.Tensor, mean=None, std=None) -> torch.Tensor:
    if mean is not None:  # sparse x: (x - mean) / std @ w.T, without densifying x
        ws = w / std
        return torch.sparse.mm(x, ws.T) + (b - ws @ mean)
    if x.dim() == 2:
        return x @ w.T + b
    return torch.einsum("ncd,cd->nc", x, w) + b


def moments(x) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and std (sparse or dense), the std floored so a code that never fires on
    the fitting rows cannot blow up held-out logits."""
    if sp.issparse(x):
        mean = np.asarray(x.mean(axis=0)).ravel()
        std = np.sqrt(np.maximum(np.asarray(x.multiply(x).mean(axis=0)).ravel() - mean**2, 0))
    else:
        mean, std = x.mean(axis=0), x.std(axis=0)
    return mean, np.maximum(std, 1e-2 * float(std.mean()) + 1e-8)


def _torch_sparse(x: sp.spmatrix) -> torch.Tensor:
    coo = x.tocoo()
    idx = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    return torch.sparse_coo_tensor(
        idx, torch.from_numpy(coo.data.astype(np.float32)), coo.shape, check_invariants=False
    ).coalesce()


def probe_f1(
    x, y: np.ndarray, fit: np.ndarray, cal: np.ndarray, held: np.ndarray, l2: float
) -> np.ndarray:
    """Held-out F1 per concept of a full probe on all columns of ``x`` (CSR or dense), fitted
    on the ``fit`` rows, each concept's threshold chosen by F1 on the ``cal`` rows."""
    mean, std = moments(x[fit])
    if sp.issparse(x):
        m, s = torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(std.astype(np.float32))

        def prep(rows):
            return _torch_sparse(x[rows]), m, s
    else:

        def prep(rows):
            z = np.clip((x[rows] - mean) / std, -20, 20).astype(np.float32)
            return torch.from_numpy(z), None, None

    xf, m_, s_ = prep(fit)
    w, b = fit_logistic(xf, torch.from_numpy(y[fit].astype(np.float32)), l2, mean=m_, std=s_)

    def logits(rows: np.ndarray) -> np.ndarray:
        xr, mr, sr = prep(rows)
        return _logits(xr, w, b, mr, sr).numpy()

    return _heldout_f1(logits(cal), logits(held), y[cal], y[held])


def _heldout_f1(cal_l, held_l, y_cal, y_held) -> np.ndarray:
    out = np.zeros(y_cal.shape[1])
    for c in range(y_cal.shape[1]):
        thr = best_threshold(cal_l[:, c], y_cal[:, c], "f1")
        out[c] = detector_scores(held_l[:, c], y_held[:, c], thr)["f1"]
    return out


def sparse_probe_f1(
    parts: dict, ys: dict, order: np.ndarray, k: int, l2: float, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """Held-out F1 per concept of a logistic probe on each concept's top-``k`` latents.

    Fitted on dense copies of just those columns of the fitting rows (concepts in chunks);
    the fitted probes are then one (d_sae, concepts) weight matrix, so scoring every
    calibration and held-out row is one sparse product."""
    n_fit, d = parts["fit"].shape
    c_all = ys["fit"].shape[1]
    weights = np.zeros((d, c_all), np.float32)
    bias = np.zeros(c_all, np.float32)
    chunk = max(1, 8_000_000 // max(1, n_fit * k))
    for c0 in range(0, c_all, chunk):
        cs = np.arange(c0, min(c_all, c0 + chunk))
        cols = order[cs, :k]  # (c, k)
        flat = cols.ravel()
        z = (parts["fit"][:, flat].toarray() - mean[flat]) / std[flat]
        x = torch.from_numpy(z.astype(np.float32).reshape(n_fit, len(cs), k))
        w, b = fit_logistic(x, torch.from_numpy(ys["fit"][:, cs].astype(np.float32)), l2)
        w = w.numpy() / std[cols]  # fold the standardisation into the weights
        for i, c in enumerate(cs):
            weights[cols[i], c] = w[i]
            bias[c] = float(b[i]) - float(w[i] @ mean[cols[i]])
    logits = {split: np.asarray(parts[split] @ weights) + bias for split in ("cal", "held")}
    return _heldout_f1(logits["cal"], logits["held"], ys["cal"], ys["held"])
