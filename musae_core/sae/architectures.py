"""SAE architectures in a registry: TopK (the paper's), BatchTopK, Matryoshka BatchTopK, JumpReLU
and ReLU + L1.

All share encode/decode with a pre-encoder decoder-bias subtraction, unit-norm decoder rows
(the feature directions used for steering) and activations in raw residual units.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from musae_core.sae.config import SAEConfig


class SparseAutoencoder(nn.Module):
    """x_hat = W_dec^T f(x) + b_dec with f(x) = act((x - b_dec) W_enc + b_enc); the b_dec
    subtraction is skipped when ``cfg.apply_b_dec_to_input`` is False (SAELens' flag)."""

    max_activation: torch.Tensor  # buffer (d_sae,)

    def __init__(self, cfg: SAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.W_enc = nn.Parameter(torch.zeros(cfg.d_in, cfg.d_sae))
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae))
        self.W_dec = nn.Parameter(torch.zeros(cfg.d_sae, cfg.d_in))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in))
        # per-feature statistics gathered while training; used as beta when steering
        self.register_buffer("max_activation", torch.zeros(cfg.d_sae))

    # --- forward ----------------------------------------------------------------------------
    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.apply_b_dec_to_input:  # False in some SAELens SAEs: encode x as it is
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        """Sparse codes from pre-activations (inference behaviour)."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.pre_acts(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    # --- training ---------------------------------------------------------------------------
    def training_codes(self, pre: torch.Tensor) -> torch.Tensor:
        """Codes used for the training loss (BatchTopK differs from inference)."""
        return self.activate(pre)

    def sparsity_loss(self, f: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        """Extra loss term that buys sparsity (none for the k-sparse families)."""
        return f.new_zeros(())

    def extra_reconstruction_loss(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Reconstruction terms beyond the full one (Matryoshka's nested prefixes)."""
        return f.new_zeros(())

    def on_step_end(self, f: torch.Tensor) -> None:
        """Hook for architectures that track statistics between steps."""

    def init_from_sample(self, pre: torch.Tensor) -> None:
        """Hook to set data-dependent parameters (thresholds) from initial pre-activations."""

    def calibrate(self, pre_batches: list[torch.Tensor]) -> None:
        """Hook to set inference-time parameters from the trained SAE's pre-activations."""

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec.data /= self.W_dec.data.norm(dim=1, keepdim=True).clamp_min(1e-8)

    @torch.no_grad()
    def remove_parallel_grad(self) -> None:
        """Project out the gradient component that would change decoder row norms."""
        if self.W_dec.grad is None:
            return
        rows = self.W_dec.data
        parallel = (self.W_dec.grad * rows).sum(dim=1, keepdim=True)
        self.W_dec.grad -= parallel * rows

    @torch.no_grad()
    def fold_scale(self, scale: float) -> None:
        """Turn an SAE trained on ``scale * x`` into one that reads raw ``x`` (same codes / scale).

        ReLU and TopK are positively homogeneous, so dividing the biases (and thresholds) by
        ``scale`` makes codes come out in raw units while decoder rows stay unit-norm.
        """
        self.b_enc.data /= scale
        self.b_dec.data /= scale
        self.max_activation /= scale


class TopKSAE(SparseAutoencoder):
    """h = TopK(ReLU(pre)): exactly k active features per frame (Gao et al., the paper's SAE)."""

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        values, indices = self.topk(pre)
        return torch.zeros_like(pre).scatter_(-1, indices, values)

    @property
    def k(self) -> int:
        """Active features per frame (``SAEConfig`` refuses a k-sparse config without one)."""
        if not self.cfg.k:
            raise ValueError(f"{self.cfg.architecture} needs k (active features per frame)")
        return self.cfg.k

    def topk(self, pre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The k largest pre-activations, rectified (ReLU on k values, not on the full row)."""
        values, indices = torch.topk(pre, self.k, dim=-1, sorted=False)
        return F.relu(values), indices

    def decode_sparse(self, values: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """Decode from the k active rows only: an embedding-bag gather instead of a dense matmul."""
        flat = F.embedding_bag(
            indices.reshape(-1, indices.shape[-1]),
            self.W_dec,
            per_sample_weights=values.reshape(-1, values.shape[-1]),
            mode="sum",
        )
        return flat.reshape(*values.shape[:-1], -1) + self.b_dec


class BatchTopKSAE(TopKSAE):
    """Training keeps the batch's k * batch largest activations (Bussmann et al.); inference uses
    a learned global threshold estimate when trained, else per-frame TopK."""

    threshold: torch.Tensor  # buffer (): 0 until training has estimated it

    def __init__(self, cfg: SAEConfig) -> None:
        super().__init__(cfg)
        self.register_buffer("threshold", torch.zeros(()))

    def training_codes(self, pre: torch.Tensor) -> torch.Tensor:
        acts = F.relu(pre)
        flat = acts.reshape(-1)
        keep = min(flat.numel(), self.k * acts.shape[0])
        values, indices = torch.topk(flat, keep, sorted=False)
        codes = torch.zeros_like(flat).scatter_(0, indices, values).reshape(acts.shape)
        return codes

    def on_step_end(self, f: torch.Tensor) -> None:
        positive = f[f > 0]
        if not positive.numel():
            return
        smallest = positive.min().detach()
        if self.threshold > 0:  # running estimate of the smallest kept activation
            self.threshold.mul_(0.99).add_(0.01 * smallest)
        else:
            self.threshold.copy_(smallest)

    @torch.no_grad()
    def calibrate(self, pre_batches: list[torch.Tensor]) -> None:
        """The inference threshold from the trained weights: the mean over batches of the
        smallest activation BatchTopK keeps. The running average of ``on_step_end`` spans the
        whole run, so in a short one (a sweep cell: 73 steps) it keeps the early, far larger
        cutoffs and inference fires far less than k per frame (L0 4.3 and 1.7 at k 32)."""
        cutoffs = []
        for pre in pre_batches:
            kept = self.training_codes(pre)
            positive = kept[kept > 0]
            if positive.numel():
                cutoffs.append(positive.min())
        if cutoffs:
            self.threshold.copy_(torch.stack(cutoffs).mean())

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        if self.threshold > 0:
            return pre * (pre > self.threshold)
        return super().activate(pre)

    @torch.no_grad()
    def fold_scale(self, scale: float) -> None:
        super().fold_scale(scale)
        self.threshold /= scale


def matryoshka_widths(cfg: SAEConfig) -> list[int]:
    """Nested prefix sizes, smallest first, ending at d_sae: ``cfg.extra["matryoshka_widths"]``
    or d_sae / 16, / 8, / 4, / 2, / 1 (SAELens's key name)."""
    widths = cfg.extra.get("matryoshka_widths") or [cfg.d_sae // d for d in (16, 8, 4, 2, 1)]
    widths = sorted({int(w) for w in widths if 0 < int(w) <= cfg.d_sae} | {cfg.d_sae})
    return widths


class MatryoshkaBatchTopKSAE(BatchTopKSAE):
    """BatchTopK whose every nested prefix of the dictionary (the first ``w`` latents for each
    width ``w``) must reconstruct the input on its own (Bussmann et al. 2025; Nabeshima 2024), so
    early latents learn general concepts and later ones refine them instead of absorbing them.
    Inference is BatchTopK's (a global threshold), so codes read the same way."""

    def __init__(self, cfg: SAEConfig) -> None:
        super().__init__(cfg)
        self.widths = matryoshka_widths(cfg)

    def extra_reconstruction_loss(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Sum of the squared errors of every proper prefix (the full one is the trainer's)."""
        loss = f.new_zeros(())
        partial = self.b_dec.expand_as(x)
        start = 0
        for width in self.widths[:-1]:
            partial = partial + f[:, start:width] @ self.W_dec[start:width]
            loss = loss + (partial - x).pow(2).sum(-1).mean()
            start = width
        return loss


class _JumpStep(torch.autograd.Function):
    """Heaviside step with a rectangle-kernel straight-through gradient for the threshold."""

    @staticmethod
    def forward(
        ctx: Any, pre: torch.Tensor, log_threshold: torch.Tensor, bandwidth: float
    ) -> torch.Tensor:
        threshold = log_threshold.exp()
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor, None]:
        pre, threshold = ctx.saved_tensors
        near = ((pre - threshold).abs() < ctx.bandwidth / 2).to(pre.dtype)
        grad_threshold = -(threshold / ctx.bandwidth) * near * grad
        return None, grad_threshold.reshape(-1, pre.shape[-1]).sum(0), None


def _jump_step(pre: torch.Tensor, log_threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    # torch leaves Function.apply unannotated
    step: torch.Tensor = _JumpStep.apply(pre, log_threshold, bandwidth)  # type: ignore[no-untyped-call]
    return step


class JumpReLUSAE(SparseAutoencoder):
    """f = pre * H(pre - theta) with a learned per-feature threshold and an L0 penalty
    (Rajamanoharan et al.)."""

    bandwidth = 0.05  # in training units (inputs scaled to unit mean squared norm per dim)

    def __init__(self, cfg: SAEConfig) -> None:
        super().__init__(cfg)
        self.log_threshold = nn.Parameter(torch.full((cfg.d_sae,), -3.0))
        self.l0_coefficient = float(cfg.extra.get("l0_coefficient", 1e-3))

    @torch.no_grad()
    def init_from_sample(self, pre: torch.Tensor) -> None:
        """Start each threshold at the quantile that makes the initial L0 about d_in / 4, so the
        slow straight-through threshold gradient starts near a sparse solution."""
        target = float(self.cfg.extra.get("init_l0", max(1, self.cfg.d_in // 4)))
        q = 1.0 - min(0.5, target / self.cfg.d_sae)
        threshold = torch.quantile(F.relu(pre).float(), q, dim=0).clamp_min(1e-3)
        self.log_threshold.data.copy_(threshold.log())

    @property
    def threshold(self) -> torch.Tensor:
        return self.log_threshold.exp()

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return pre * (pre > self.threshold)

    def training_codes(self, pre: torch.Tensor) -> torch.Tensor:
        return F.relu(pre) * _jump_step(pre, self.log_threshold, self.bandwidth)

    def sparsity_loss(self, f: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        l0 = _jump_step(pre, self.log_threshold, self.bandwidth).sum(-1).mean()
        return self.l0_coefficient * l0

    @torch.no_grad()
    def fold_scale(self, scale: float) -> None:
        super().fold_scale(scale)
        self.log_threshold.data -= torch.log(torch.tensor(scale))


class ReLUSAE(SparseAutoencoder):
    """f = ReLU(pre) with an L1 penalty weighted by decoder norms (Anthropic's 2023 recipe)."""

    def __init__(self, cfg: SAEConfig) -> None:
        super().__init__(cfg)
        self.l1_coefficient = float(cfg.extra.get("l1_coefficient", 1e-3))

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        return F.relu(pre)

    def sparsity_loss(self, f: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
        l1: torch.Tensor = self.l1_coefficient * (f * self.W_dec.norm(dim=1)).sum(-1).mean()
        return l1


REGISTRY: dict[str, type[SparseAutoencoder]] = {
    "topk": TopKSAE,
    "batchtopk": BatchTopKSAE,
    "matryoshka_batchtopk": MatryoshkaBatchTopKSAE,
    "jumprelu": JumpReLUSAE,
    "relu": ReLUSAE,
}


def build_sae(cfg: SAEConfig) -> SparseAutoencoder:
    """Instantiate the registered class for ``cfg.architecture`` (weights still zero)."""
    return REGISTRY[cfg.architecture](cfg)
