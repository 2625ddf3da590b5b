"""MusicGen through transformers' ``MusicgenForConditionalGeneration``.

musae runs its own decoding loop (same maths as ``model.generate``: delay pattern, raw-logit
CFG, transformers' warpers) so that every step reports progress, can be cancelled, exposes the
decoder position to residual hooks (for envelopes and time mapping) and returns the codes.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from transformers.cache_utils import EncoderDecoderCache

from musae_core.errors import MusaeError
from musae_core.models import delay as dp
from musae_core.models.base import (
    ForwardContext,
    GenerationRequest,
    MusicModel,
    StepLogits,
    TeacherForcedOutput,
)
from musae_core.models.static_cache import (
    CROSS_BUCKET,
    SELF_BUCKET,
    DecodeOptions,
    LayerCompiler,
    bucket,
    decode_options,
    new_cache,
)


class TransformersMusicGen(MusicModel):
    """A loaded transformers MusicGen (any size, mono or stereo) behind the musae interface."""

    def __init__(self, hf_model: Any, tokenizer: Any, model_id: str) -> None:
        """``hf_model``: a transformers MusicGen(-Melody)ForConditionalGeneration (Any: its parts,
        decoder, audio_encoder, text_encoder, lm_heads, are untyped nn.Module attributes)."""
        super().__init__()
        self.hf = hf_model.eval()
        self.tokenizer = tokenizer
        self.model_id = model_id
        cfg = self.hf.config
        dec = cfg.decoder
        self.num_layers = dec.num_hidden_layers
        self.d_model = dec.hidden_size
        self.num_codebooks = dec.num_codebooks
        self.audio_channels = dec.audio_channels
        self.sample_rate = cfg.audio_encoder.sampling_rate
        self.frame_rate = float(cfg.audio_encoder.frame_rate)
        self.codebook_size = dec.vocab_size
        self.delays = dp.codebook_delays(self.num_codebooks, self.audio_channels)
        gen = self.hf.generation_config
        self.pad_id = int(gen.pad_token_id if gen.pad_token_id is not None else dec.pad_token_id)
        start = gen.decoder_start_token_id
        self.bos_id = int(start if start is not None else dec.bos_token_id)
        max_length = gen.max_length if gen.max_length and gen.max_length > 20 else 1500
        self.max_duration = float(max_length) / self.frame_rate
        param = next(hf_model.parameters())
        self.device = param.device
        self.dtype = param.dtype
        self.decode_options: DecodeOptions | None = None  # None: decode_options(device)
        self._compiler: LayerCompiler | None = None
        # transformers 5.24 renamed the decoder's ``past_key_values`` to ``cache`` (the old name
        # warns, and goes in 5.40); releases before 5.24 only know the old one.
        forward_params = inspect.signature(self.hf.decoder.model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in forward_params else "past_key_values"

    # --- residual stream -------------------------------------------------------------------
    @property
    def _layers(self) -> nn.ModuleList:
        return self.hf.decoder.model.decoder.layers

    def residual_module(self, layer: int) -> nn.Module:
        return self._layers[self.check_layer(layer)]

    # --- audio <-> codes ------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.ndim != 2:
            raise MusaeError(
                f"encode() expects mono audio shaped (batch, samples), got {tuple(audio.shape)}.",
                "mix to mono and add a batch dimension.",
            )
        codec = self.hf.audio_encoder
        wav = audio.to(self.device, dtype=next(codec.parameters()).dtype)[:, None, :]
        codes = codec.encode(wav).audio_codes[0]  # (B, K', F)
        if self.audio_channels == 2 and codes.shape[1] == self.num_codebooks // 2:
            codes = codes.repeat_interleave(2, dim=1)  # mono input for a stereo model
        return codes.long()

    @torch.inference_mode()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        codec = self.hf.audio_encoder
        codes = codes.to(self.device)
        b = codes.shape[0]
        scales = [None] * b
        if self.audio_channels == 1:
            return codec.decode(codes[None], audio_scales=scales).audio_values.float()
        left = codec.decode(codes[None, :, ::2], audio_scales=scales).audio_values
        right = codec.decode(codes[None, :, 1::2], audio_scales=scales).audio_values
        return torch.cat([left, right], dim=1).float()

    # --- text conditioning ----------------------------------------------------------------
    def _encode_text(
        self, prompts: list[str], cfg: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Conditioning for the decoder's cross-attention; empty prompts are the null condition."""
        if any(prompts):
            tok = self.tokenizer(prompts, padding=True, return_tensors="pt").to(self.device)
            hidden = self.hf.text_encoder(
                input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]
            ).last_hidden_state
            mask = tok["attention_mask"].clone()
            for row, prompt in enumerate(prompts):
                if not prompt:
                    mask[row] = 0
        else:
            width = self.hf.config.text_encoder.hidden_size
            hidden = torch.zeros(len(prompts), 1, width, device=self.device, dtype=self.dtype)
            mask = torch.zeros(len(prompts), 1, device=self.device, dtype=torch.long)
        if (
            self.hf.text_encoder.config.hidden_size != self.d_model
            and getattr(self.hf.decoder.config, "cross_attention_hidden_size", None) is None
        ):
            hidden = self.hf.enc_to_dec_proj(hidden)
        hidden = hidden * mask[..., None].to(hidden.dtype)
        if cfg:
            hidden = torch.cat([hidden, torch.zeros_like(hidden)], dim=0)
            mask = torch.cat([mask, torch.zeros_like(mask)], dim=0)
        return hidden, mask

    def _decoder_hidden(
        self,
        input_ids: torch.Tensor,
        enc: torch.Tensor,
        enc_mask: torch.Tensor | None,
        ctx: ForwardContext,
        cache: EncoderDecoderCache | None,
    ) -> torch.Tensor:
        """(B, K, S) ids -> (B, S, D) final hidden states, with ``ctx`` visible to hooks."""
        b, k, s = input_ids.shape
        with self._in_context(ctx):
            out = self.hf.decoder.model(
                input_ids=input_ids.reshape(b * k, s),
                encoder_hidden_states=enc,
                encoder_attention_mask=enc_mask,
                use_cache=cache is not None,
                **{self._cache_kwarg: cache},
            )
        return out.last_hidden_state

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, S, D) -> (B, K, S, V)."""
        return torch.stack([head(hidden) for head in self.hf.decoder.lm_heads], dim=1)

    # --- the decoding step --------------------------------------------------------------
    def _cache_lengths(self, steps: int, enc: torch.Tensor) -> tuple[int, int | None]:
        """(self-attention positions, cross-attention positions) one generation needs."""
        return steps + 1, enc.shape[1]

    def _layer_compiler(self, options: DecodeOptions) -> LayerCompiler | None:
        """The per-layer compiler for ``options`` (built once per model), or None."""
        if not (options.compile and options.static_cache):
            return None
        if self._compiler is None or self._compiler.mode != (
            options.compile_mode or ("reduce-overhead" if self.device.type == "cuda" else None)
        ):
            self._compiler = LayerCompiler(self._layers, self.device, options.compile_mode)
        return self._compiler

    @contextlib.contextmanager
    def open_decoder(
        self, request: GenerationRequest, steps: int, cfg: bool
    ) -> Iterator[StepLogits]:
        """Text conditioning, a KV cache (static and bucketed when compiled, see
        ``static_cache``) and the compiled layers for one generation of ``steps`` positions."""
        batch = request.batch_size
        options = self.decode_options or decode_options(self.device)
        compiler = self._layer_compiler(options)
        with compiler.active() if compiler is not None else contextlib.nullcontext():
            enc, enc_mask = self._encode_text(request.batch_prompts(), cfg)
            self_len, cross_len = self._cache_lengths(steps, enc)
            if compiler is not None:  # bucket shapes so new durations/prompts reuse the graphs
                self_len = bucket(self_len, SELF_BUCKET)
                if cross_len is not None and enc_mask is not None:
                    cross_len = bucket(cross_len, CROSS_BUCKET)
                    enc = nn.functional.pad(enc, (0, 0, 0, cross_len - enc.shape[1]))
                    enc_mask = nn.functional.pad(enc_mask, (0, cross_len - enc_mask.shape[1]))
            cache = new_cache(self.hf.decoder.config, self_len, cross_len, options.static_cache)
            positions = torch.arange(steps)

            def step_logits(t: int, step_ids: torch.Tensor) -> torch.Tensor:
                ctx = ForwardContext(
                    positions=positions[t : t + 1],
                    conditional_rows=batch,
                    cfg=cfg,
                    frame_rate=self.frame_rate,
                )
                if compiler is not None:
                    compiler.step_begin()
                hidden = self._decoder_hidden(step_ids, enc, enc_mask, ctx, cache)
                return self._logits(hidden[:, -1:])[:, :, -1]

            yield step_logits

    # --- teacher forcing ------------------------------------------------------------------
    @torch.inference_mode()
    def teacher_force(
        self, codes: torch.Tensor, texts: list[str] | None = None
    ) -> TeacherForcedOutput:
        codes = self.check_codes(codes)
        b, _, n_frames = codes.shape
        targets = dp.delay(codes, self.delays, self.pad_id)
        inputs = dp.decoder_inputs(targets, self.bos_id)
        enc, enc_mask = self._encode_text(texts if texts else [""] * b, cfg=False)
        ctx = ForwardContext(
            positions=torch.arange(targets.shape[2]),
            conditional_rows=b,
            cfg=False,
            frame_rate=self.frame_rate,
        )
        hidden = self._decoder_hidden(inputs, enc, enc_mask, ctx, cache=None)
        logits = self._logits(hidden).float()  # (B, K, S, V)
        loss = dp.delayed_cross_entropy(logits, targets, self.delays, n_frames)
        return TeacherForcedOutput(loss=loss, n_frames=n_frames)
