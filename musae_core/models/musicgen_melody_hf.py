"""MusicGen-Melody through transformers: conditioning is a prefix in the decoder's own sequence.

Chroma (235 frames) and text states are prepended to the audio tokens instead of being read by
cross-attention, so prefix positions are negative here: hooks see them with ``positions < 0``
and steering and capture act on audio frames only.
"""

from __future__ import annotations

import dataclasses

import torch
from transformers.cache_utils import EncoderDecoderCache

from musae_core.models.base import ForwardContext
from musae_core.models.musicgen_hf import TransformersMusicGen


class TransformersMusicGenMelody(TransformersMusicGen):
    """``facebook/musicgen-melody*`` (text-conditioned; the melody prompt is the null chroma)."""

    def _encode_text(self, prompts: list[str], cfg: bool) -> tuple[torch.Tensor, None]:
        text, _ = super()._encode_text(prompts, cfg)
        config = self.hf.config
        chroma = torch.zeros(text.shape[0], 1, config.num_chroma, device=self.device)
        chroma[:, :, 0] = 1.0  # the "no melody" chroma, as transformers uses for text-only
        chroma = chroma.to(self.dtype)
        if config.num_chroma != self.d_model:
            chroma = self.hf.audio_enc_to_dec_proj(chroma)
        chroma = chroma.repeat(1, config.chroma_length, 1)[:, : config.chroma_length]
        return torch.cat([chroma, text], dim=1), None

    def _cache_lengths(self, steps: int, enc: torch.Tensor) -> tuple[int, None]:
        return enc.shape[1] + steps + 1, None  # the prefix sits in the self-attention cache

    def _decoder_hidden(
        self,
        input_ids: torch.Tensor,
        enc: torch.Tensor,
        enc_mask: torch.Tensor | None,
        ctx: ForwardContext,
        cache: EncoderDecoderCache | None,
    ) -> torch.Tensor:
        first = cache is None or cache.get_seq_length() == 0
        prefix = enc.shape[1] if first else 0
        if prefix:
            before = torch.arange(-prefix, 0)
            ctx = dataclasses.replace(ctx, positions=torch.cat([before, ctx.positions]))
        b, k, s = input_ids.shape
        with self._in_context(ctx):
            out = self.hf.decoder.model(
                input_ids=input_ids.reshape(b * k, s),
                encoder_hidden_states=enc if first else None,
                use_cache=cache is not None,
                **{self._cache_kwarg: cache},
            )
        return out.last_hidden_state[:, prefix:]
