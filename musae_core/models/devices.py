"""Compute device and dtype selection: 'auto' picks CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

import torch

from musae_core.errors import MusaeError

_DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
}


def select_device(name: str = "auto") -> torch.device:
    """Resolve 'auto' | 'cpu' | 'cuda[:n]' | 'mps' to an available device."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise MusaeError(
            f"Unknown device {name!r}.", "use auto, cpu, cuda, cuda:N or mps."
        ) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MusaeError("CUDA was requested but no CUDA GPU is available.", "use --device cpu.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise MusaeError("MPS was requested but is not available.", "use --device cpu.")
    return device


def select_dtype(name: str, device: torch.device) -> torch.dtype:
    """'auto' means bf16 on GPUs that support it, fp16 on other GPUs, fp32 on CPU."""
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return torch.float32
    if name not in _DTYPES:
        raise MusaeError(f"Unknown dtype {name!r}.", "use auto, fp32, fp16 or bf16.")
    dtype = _DTYPES[name]
    if device.type == "cpu" and dtype == torch.float16:
        raise MusaeError("fp16 is not supported on the CPU.", "use fp32 or bf16 on the CPU.")
    return dtype
