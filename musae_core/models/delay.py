"""MusicGen's codebook delay pattern: codebook k of frame f sits at decoder position f + k.

Kept as pure tensor functions so generation, teacher forcing and every backend agree on where
each frame lives; residual position t is aligned with frame t (codebook 0, the coarsest).
"""

from __future__ import annotations

import torch


def steps_for_frames(n_frames: int, num_codebooks: int) -> int:
    """Decoder positions needed to predict ``n_frames`` complete frames."""
    return n_frames + num_codebooks - 1


def valid_mask(steps: int, num_codebooks: int, n_frames: int, device=None) -> torch.Tensor:
    """(codebooks, steps) bool: whether position t predicts a real token for codebook k."""
    t = torch.arange(steps, device=device)[None, :]
    k = torch.arange(num_codebooks, device=device)[:, None]
    frame = t - k
    return (frame >= 0) & (frame < n_frames)


def delay(codes: torch.Tensor, pad_id: int) -> torch.Tensor:
    """(B, K, F) codes -> (B, K, F + K - 1) targets where position t holds frame t - k."""
    b, k, f = codes.shape
    out = codes.new_full((b, k, steps_for_frames(f, k)), pad_id)
    for cb in range(k):
        out[:, cb, cb : cb + f] = codes[:, cb]
    return out


def undelay(delayed: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Inverse of ``delay``: (B, K, >= F + K - 1) -> (B, K, F)."""
    k = delayed.shape[1]
    return torch.stack([delayed[:, cb, cb : cb + n_frames] for cb in range(k)], dim=1)


def decoder_inputs(targets: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Shift delayed targets right by one with a BOS column: the teacher-forcing input."""
    bos = targets.new_full((*targets.shape[:2], 1), bos_id)
    return torch.cat([bos, targets[:, :, :-1]], dim=2)
