"""The fast decode path: a preallocated (static) KV cache and an optional compiled decoder step.

``DecodeOptions`` says which path ``TransformersMusicGen.generate`` takes:

- eager (``static_cache=False``): transformers' ``DynamicCache``, grows by ``torch.cat`` every
  step. Exactly the maths of ``model.generate``.
- static (``static_cache=True``): transformers' ``StaticCache`` sized to the request, so every
  decoding step has the same tensor shapes (no per-step reallocation, a prerequisite for CUDA
  graphs). Attention runs over the padded length with a mask, so logits can differ from the
  eager path in the last bit (measured <= 2e-6 in fp32 on musicgen-small shapes); sampled tokens
  are the same in practice and the tests pin token equality on the tiny models.
- compiled (``compile=True``, needs ``static_cache``): ``torch.compile`` of every decoder
  layer's forward (mode ``reduce-overhead`` = CUDA graphs on CUDA), see ``LayerCompiler``.
  Residual hooks stay eager, so steering and capture work unchanged on this path. Cache and
  text lengths are bucketed (``SELF_BUCKET``, ``CROSS_BUCKET``; padding is masked) so new
  durations and prompts reuse the compiled graphs instead of recompiling every layer.

Defaults (``decode_options``): the static cache is on for CUDA and off on the CPU, where it was
measured not to pay off (the step is bound by the weight matmuls, and the padded attention
costs what the ``cat`` saved); compile is off by default (on the CPU it was measured at parity
after a ~30 s compile; on CUDA it is off until a GPU run confirms it, see docs/benchmarks.md).
Switches: ``MUSAE_FAST_DECODE=0|1`` (0 = eager everywhere, 1 = static cache everywhere),
``MUSAE_COMPILE=0|1``, or ``model.decode_options = DecodeOptions(...)``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
from transformers.cache_utils import DynamicCache, EncoderDecoderCache, StaticCache


@dataclass(frozen=True)
class DecodeOptions:
    """How the decoding loop runs; see the module docstring."""

    static_cache: bool = False
    compile: bool = False
    compile_mode: str | None = None  # None: "reduce-overhead" on CUDA, default elsewhere

    @property
    def name(self) -> str:
        if self.static_cache and self.compile:
            return "static+compile"
        return "static" if self.static_cache else "eager"


EAGER = DecodeOptions()

SELF_BUCKET = 256  # compiled path: self-attention cache length rounded up to a multiple of this
CROSS_BUCKET = 16  # compiled path: text conditioning padded (masked) to a multiple of this


def bucket(n: int, size: int) -> int:
    """``n`` rounded up to a multiple of ``size``: compiled graphs are shape-specialised, and
    bucketing lets takes of nearby durations / prompt lengths share them."""
    return -(-n // size) * size


def _env_flag(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    return None


def decode_options(device: torch.device) -> DecodeOptions:
    """The default path for ``device``, after the ``MUSAE_FAST_DECODE`` / ``MUSAE_COMPILE``
    environment switches."""
    fast = _env_flag("MUSAE_FAST_DECODE")
    static = device.type == "cuda" if fast is None else fast
    compile_flag = _env_flag("MUSAE_COMPILE")
    return DecodeOptions(static_cache=static, compile=bool(static and compile_flag))


def new_cache(
    decoder_config, self_len: int, cross_len: int | None, static: bool
) -> EncoderDecoderCache:
    """A KV cache for one generation: ``self_len`` self-attention positions (prefix + steps)
    and ``cross_len`` encoder positions (None: the decoder has no cross-attention)."""
    if not static:
        return EncoderDecoderCache(DynamicCache(), DynamicCache())
    self_cache = StaticCache(decoder_config, max_cache_len=self_len)
    if cross_len is None:
        return EncoderDecoderCache(self_cache, DynamicCache())
    return EncoderDecoderCache(self_cache, StaticCache(decoder_config, max_cache_len=cross_len))


class LayerCompiler:
    """``torch.compile`` of each decoder layer's ``forward`` (not of its hooks), swapped in for
    one generation by ``active()``.

    Compiling the whole transformers decoder does not work: its positional embedding branches
    on the cache length tensor, a data-dependent branch on which dynamo gives up and runs the
    whole forward eagerly. A layer's forward traces cleanly. Because ``nn.Module.__call__``
    stays eager, residual hooks (steering, capture) still run as Python on every step and see
    the step's ``ForwardContext``; with CUDA graphs only the layer bodies are replayed.
    """

    def __init__(self, layers: torch.nn.ModuleList, device: torch.device, mode: str | None):
        self.layers = layers
        self.mode = mode or ("reduce-overhead" if device.type == "cuda" else None)
        self.cuda_graphs = device.type == "cuda" and self.mode in (
            "reduce-overhead",
            "max-autotune",
        )
        # every layer shares one code object, specialised on its layer index and on whether
        # its cross-attention cache is filled yet: allow that many entries
        dynamo = torch._dynamo.config
        needed = 4 * len(layers) + 8
        for name in ("recompile_limit", "cache_size_limit"):
            if hasattr(dynamo, name) and getattr(dynamo, name) < needed:
                setattr(dynamo, name, needed)
        if getattr(dynamo, "accumulated_recompile_limit", needed) < needed:
            dynamo.accumulated_recompile_limit = needed
        self._compiled = [
            torch.compile(layer.forward, mode=self.mode, dynamic=False) for layer in layers
        ]

    @contextlib.contextmanager
    def active(self):
        for layer, fn in zip(self.layers, self._compiled, strict=True):
            layer.forward = fn
        try:
            yield
        finally:
            for layer in self.layers:
                layer.__dict__.pop("forward", None)  # back to the class's eager forward

    def step_begin(self) -> None:
        """Mark a new decoding step, so CUDA-graph outputs of the last one may be reused."""
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
