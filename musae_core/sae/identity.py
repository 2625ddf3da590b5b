"""An SAE's identity: a content hash of its weights plus the facts that place it in a model.

Feature databases record it (``musae analyze``, ``musae db stamp``) so every consumer can refuse
a database that describes another SAE instead of silently reading its numbers.
"""

from __future__ import annotations

import hashlib

import torch

from musae_core.sae.architectures import SparseAutoencoder

HASHED_TENSORS = ("W_enc", "b_enc", "W_dec", "b_dec", "threshold", "log_threshold")
"""What the hash covers: the tensors that define the codes and directions (float32 bytes); the
thresholds only where the architecture has one (BatchTopK, JumpReLU), so a TopK SAE's hash is
its four weight tensors'."""


@torch.no_grad()
def weights_sha256(sae: SparseAutoencoder) -> str:
    """sha256 over the weights' float32 bytes and shapes; equal for a saved and reloaded SAE."""
    digest = hashlib.sha256()
    for name in HASHED_TENSORS:
        if not isinstance(getattr(sae, name, None), torch.Tensor):
            continue
        tensor = getattr(sae, name).detach().float().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def sae_identity(sae: SparseAutoencoder) -> dict:
    """What a feature database records about the SAE it was analysed from."""
    cfg = sae.cfg
    return {
        "weights_sha256": weights_sha256(sae),
        "d_sae": cfg.d_sae,
        "d_in": cfg.d_in,
        "layer": cfg.layer,
        "model_id": cfg.model_id,
        "architecture": cfg.architecture,
    }
