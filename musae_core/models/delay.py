"""MusicGen's codebook delay pattern: codebook k of frame f sits at decoder position f + delay[k].

Mono models delay codebook k by k; stereo models interleave left/right codebooks and delay pair
k//2 by k//2. Kept as pure tensor functions so generation, teacher forcing and every backend
agree on where each frame lives; residual position t is aligned with frame t (codebook 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def codebook_delays(num_codebooks: int, audio_channels: int = 1) -> list[int]:
    """Per-codebook delay in decoder steps."""
    if audio_channels == 2:
        return [k // 2 for k in range(num_codebooks)]
    return list(range(num_codebooks))


def steps_for_frames(n_frames: int, delays: Sequence[int]) -> int:
    """Decoder positions needed to predict ``n_frames`` complete frames."""
    return n_frames + max(delays)


def valid_mask(steps: int, delays: Sequence[int], n_frames: int, device=None) -> torch.Tensor:
    """(codebooks, steps) bool: whether position t predicts a real token for codebook k."""
    t = torch.arange(steps, device=device)[None, :]
    shift = torch.tensor(list(delays), device=device)[:, None]
    frame = t - shift
    return (frame >= 0) & (frame < n_frames)


def delay(codes: torch.Tensor, delays: Sequence[int], pad_id: int) -> torch.Tensor:
    """(B, K, F) codes -> (B, K, F + max delay) targets; position t holds frame t - delay[k]."""
    b, k, f = codes.shape
    out = codes.new_full((b, k, steps_for_frames(f, delays)), pad_id)
    for cb, shift in enumerate(delays):
        out[:, cb, shift : shift + f] = codes[:, cb]
    return out


def undelay(delayed: torch.Tensor, delays: Sequence[int], n_frames: int) -> torch.Tensor:
    """Inverse of ``delay``: (B, K, >= F + max delay) -> (B, K, F)."""
    return torch.stack(
        [delayed[:, cb, shift : shift + n_frames] for cb, shift in enumerate(delays)], dim=1
    )


def decoder_inputs(targets: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Shift delayed targets right by one with a BOS column: the teacher-forcing input."""
    bos = targets.new_full((*targets.shape[:2], 1), bos_id)
    return torch.cat([bos, targets[:, :, :-1]], dim=2)


def delayed_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, delays: Sequence[int], n_frames: int
) -> torch.Tensor:
    """Mean cross-entropy per item of ``logits`` (B, K, S, V) against delayed ``targets``
    (B, K, S), over the cells that hold real frames (the delay pattern's pad cells excluded)."""
    valid = valid_mask(targets.shape[2], delays, n_frames, device=targets.device)
    safe_targets = torch.where(valid, targets, 0)
    nll = torch.nn.functional.cross_entropy(
        logits.permute(0, 3, 1, 2), safe_targets, reduction="none"
    )
    return (nll * valid).sum(dim=(1, 2)) / valid.sum()
