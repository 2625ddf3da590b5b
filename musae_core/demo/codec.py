"""The demo model's codec: a small spectral neural codec that plugs into transformers' MusicGen.

Why not a waveform EnCodec: a SEANet encoder/decoder runs its convolutions at the audio rate,
which on two shared CPU cores is too slow to train to recognisable pitches within the hour the
issue allows (see ``bench/demo_codec_speed.py``). This codec does all its learned work at the
frame rate instead:

- encoder: log-magnitude STFT (one frame per code frame) -> ConvNeXt blocks -> residual VQ
  (``num_quantizers`` codebooks of ``codebook_size`` entries, like EnCodec's RVQ);
- decoder: codes -> ConvNeXt blocks -> ``upsample``-times finer frames -> per-bin log-magnitude;
- phase: ``phase_mode="griffin_lim"`` (default) recovers it with a fixed number of fast
  Griffin-Lim iterations (deterministic: zero initial phase), so training needs no STFT of the
  output at all and runs on precomputed spectrogram frames, cheap enough for a shared CPU;
  ``phase_mode="predicted"`` adds a phase head and an inverse STFT (Vocos-style, trained with
  multi-resolution STFT losses on the waveform; better with a GPU's budget).

It is registered with transformers' Auto classes as ``musae_demo_codec``, so a MusicGen folder
whose ``audio_encoder`` is this codec loads with ``MusicgenForConditionalGeneration`` and runs
through musae's ``TransformersMusicGen`` unchanged: ``encode(wav).audio_codes`` is
(1, batch, codebooks, frames) and ``decode(codes, audio_scales=...).audio_values`` is
(batch, 1, samples), exactly like ``EncodecModel``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

MODEL_TYPE = "musae_demo_codec"


@strict
class DemoCodecConfig(PreTrainedConfig):
    """Shape of the demo codec. ``hop_length`` samples per code frame (50 Hz at the defaults)."""

    model_type = MODEL_TYPE
    sampling_rate: int = 16_000
    audio_channels: int = 1
    hop_length: int = 320
    n_fft: int = 1280
    hidden_size: int = 192
    intermediate_size: int = 512
    encoder_layers: int = 2
    decoder_layers: int = 4
    upsample: int = 2
    synth_n_fft: int = 960
    phase_mode: str = "griffin_lim"
    griffin_lim_iters: int = 16
    codebook_size: int = 1024
    codebook_dim: int = 64
    num_quantizers: int = 4
    initializer_range: float = 0.02

    @property
    def frame_rate(self) -> float:
        return self.sampling_rate / self.hop_length

    @property
    def synth_hop(self) -> int:
        return self.hop_length // self.upsample


@dataclass
class DemoCodecEncoderOutput(ModelOutput):
    audio_codes: torch.Tensor | None = None
    audio_scales: list | None = None


@dataclass
class DemoCodecDecoderOutput(ModelOutput):
    audio_values: torch.Tensor | None = None


class ConvNeXtBlock(nn.Module):
    """Depthwise conv + pointwise MLP with a residual (Vocos / ConvNeXt-1D)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.scale = nn.Parameter(torch.full((dim,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, D, T)
        y = self.dwconv(x).transpose(1, 2)
        y = self.fc2(nn.functional.gelu(self.fc1(self.norm(y))))
        return x + (self.scale * y).transpose(1, 2)


def log_magnitude(wav: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(B, samples) -> (B, n_fft // 2 + 1, samples // hop) log |STFT|, one column per frame."""
    window = torch.hann_window(n_fft, device=wav.device, dtype=wav.dtype)
    spec = torch.stft(wav, n_fft, hop, window=window, center=True, return_complex=True)
    frames = wav.shape[-1] // hop
    return torch.log(spec[..., :frames].abs() + 1e-5)


class ResidualVQ(nn.Module):
    """Residual vector quantisation with fixed (saved) codebooks; training updates them by EMA."""

    def __init__(self, num_quantizers: int, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("codebooks", torch.randn(num_quantizers, size, dim))

    @staticmethod
    def nearest(x: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
        """(N, D), (K, D) -> (N,) index of the closest entry."""
        dist = (
            x.pow(2).sum(1, keepdim=True) - 2 * x @ codebook.t() + codebook.pow(2).sum(1)[None, :]
        )
        return dist.argmin(dim=1)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(N, D) -> quantised (N, D), codes (Q, N), and each stage's input residual."""
        residual = z
        quantized = torch.zeros_like(z)
        codes, residuals = [], []
        for codebook in self.codebooks:
            residuals.append(residual)
            idx = self.nearest(residual, codebook)
            chosen = codebook[idx]
            quantized = quantized + chosen
            residual = residual - chosen
            codes.append(idx)
        return quantized, torch.stack(codes), residuals

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        """(Q, N) -> (N, D)."""
        return sum(self.codebooks[q][codes[q]] for q in range(codes.shape[0]))


class DemoCodecPreTrainedModel(PreTrainedModel):
    config: DemoCodecConfig
    config_class = DemoCodecConfig
    base_model_prefix = "demo_codec"
    main_input_name = "input_values"

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, ConvNeXtBlock):
            init.constant_(module.scale, 0.1)
        elif isinstance(module, ResidualVQ):
            init.normal_(module.codebooks)


class DemoCodecModel(DemoCodecPreTrainedModel):
    """Encoder (log-STFT -> latents), residual VQ, decoder (latents -> iSTFT)."""

    def __init__(self, config: DemoCodecConfig) -> None:
        super().__init__(config)
        c = config
        bins = c.n_fft // 2 + 1
        self.enc_in = nn.Conv1d(bins, c.hidden_size, kernel_size=1)
        self.enc_blocks = nn.ModuleList(
            ConvNeXtBlock(c.hidden_size, c.intermediate_size) for _ in range(c.encoder_layers)
        )
        self.enc_norm = nn.LayerNorm(c.hidden_size)
        self.enc_out = nn.Linear(c.hidden_size, c.codebook_dim)
        self.quantizer = ResidualVQ(c.num_quantizers, c.codebook_size, c.codebook_dim)
        self.dec_in = nn.Conv1d(c.codebook_dim, c.hidden_size, kernel_size=3, padding=1)
        half = c.decoder_layers // 2
        self.dec_blocks = nn.ModuleList(
            ConvNeXtBlock(c.hidden_size, c.intermediate_size) for _ in range(half)
        )
        self.dec_up = nn.Linear(c.hidden_size, c.hidden_size * c.upsample)
        self.dec_blocks_fine = nn.ModuleList(
            ConvNeXtBlock(c.hidden_size, c.intermediate_size)
            for _ in range(c.decoder_layers - half)
        )
        self.dec_norm = nn.LayerNorm(c.hidden_size)
        heads = 2 if c.phase_mode == "predicted" else 1
        self.head = nn.Linear(c.hidden_size, heads * (c.synth_n_fft // 2 + 1))
        self.post_init()

    # --- building blocks (also used by training) -------------------------------------------
    def latents(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, frames, codebook_dim) continuous latents."""
        c = self.config
        x = self.enc_in(log_magnitude(wav, c.n_fft, c.hop_length))
        for block in self.enc_blocks:
            x = block(x)
        return self.enc_out(self.enc_norm(x.transpose(1, 2)))

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        """(B, frames, codebook_dim) -> (B, frames * upsample, heads * bins) head output."""
        c = self.config
        b, t, _ = z.shape
        x = self.dec_in(z.transpose(1, 2))
        for block in self.dec_blocks:
            x = block(x)
        x = self.dec_up(x.transpose(1, 2)).reshape(b, t * c.upsample, c.hidden_size)
        x = x.transpose(1, 2)
        for block in self.dec_blocks_fine:
            x = block(x)
        return self.head(self.dec_norm(x.transpose(1, 2))).float()

    def synthesize(self, z: torch.Tensor) -> torch.Tensor:
        """(B, frames, codebook_dim) quantised latents -> (B, frames * hop_length) audio."""
        c = self.config
        length = z.shape[1] * c.hop_length
        out = self.decoder_output(z)
        if c.phase_mode == "predicted":
            log_mag, phase = out.chunk(2, dim=-1)
            mag = torch.exp(log_mag.clamp(max=6.0)).transpose(1, 2)
            spec = torch.polar(mag, phase.transpose(1, 2))
            return self._istft(spec, length)
        mag = torch.exp(out.clamp(max=6.0)).transpose(1, 2)  # (B, bins, T')
        return self.griffin_lim(mag, length)

    def _istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        c = self.config
        spec = torch.cat([spec, spec[..., -1:]], dim=-1)  # one frame past the end: exact length
        window = torch.hann_window(c.synth_n_fft, device=spec.device)
        return torch.istft(spec, c.synth_n_fft, c.synth_hop, window=window, center=True,
                           length=length)  # fmt: skip

    def griffin_lim(self, mag: torch.Tensor, length: int, momentum: float = 0.99) -> torch.Tensor:
        """Fast Griffin-Lim (Perraudin et al. 2013) from zero phase: deterministic."""
        c = self.config
        window = torch.hann_window(c.synth_n_fft, device=mag.device)
        mag = torch.cat([mag, mag[..., -1:]], dim=-1)
        angles = torch.ones_like(mag, dtype=torch.complex64)
        previous = torch.zeros_like(angles)
        wav = self._istft_full(mag * angles, window, length)
        for _ in range(c.griffin_lim_iters):
            rebuilt = torch.stft(wav, c.synth_n_fft, c.synth_hop, window=window, center=True,
                                 return_complex=True)[..., : mag.shape[-1]]  # fmt: skip
            accelerated = rebuilt - (momentum / (1 + momentum)) * previous
            angles = accelerated / accelerated.abs().clamp_min(1e-8)
            previous = rebuilt
            wav = self._istft_full(mag * angles, window, length)
        return wav

    def _istft_full(self, spec: torch.Tensor, window: torch.Tensor, length: int) -> torch.Tensor:
        c = self.config
        return torch.istft(spec, c.synth_n_fft, c.synth_hop, window=window, center=True,
                           length=length)  # fmt: skip

    # --- EncodecModel-compatible API ------------------------------------------------------
    def _pad(self, wav: torch.Tensor) -> torch.Tensor:
        hop = self.config.hop_length
        extra = (-wav.shape[-1]) % hop
        return nn.functional.pad(wav, (0, extra)) if extra else wav

    def encode(self, input_values: torch.Tensor, *args, **kwargs) -> DemoCodecEncoderOutput:
        """(B, 1, samples) -> audio_codes (1, B, num_quantizers, frames)."""
        wav = self._pad(input_values[:, 0].float())
        z = self.latents(wav)
        b, t, d = z.shape
        _, codes, _ = self.quantizer.quantize(z.reshape(b * t, d))
        codes = codes.reshape(-1, b, t).transpose(0, 1)  # (B, Q, T)
        return DemoCodecEncoderOutput(audio_codes=codes[None], audio_scales=[None] * b)

    def decode(self, audio_codes: torch.Tensor, audio_scales=None, *args, **kwargs):
        """audio_codes (1, B, Q, frames) -> audio_values (B, 1, samples)."""
        codes = audio_codes[0].long()
        b, q, t = codes.shape
        z = self.quantizer.dequantize(codes.transpose(0, 1).reshape(q, b * t))
        wav = self.synthesize(z.reshape(b, t, -1).to(self.enc_out.weight.dtype))
        return DemoCodecDecoderOutput(audio_values=wav[:, None].to(self.enc_out.weight.dtype))

    def forward(self, input_values: torch.Tensor, *args, **kwargs) -> DemoCodecDecoderOutput:
        codes = self.encode(input_values).audio_codes
        out = self.decode(codes)
        out.audio_values = out.audio_values[..., : input_values.shape[-1]]
        return out


def register() -> None:
    """Make ``AutoConfig``/``AutoModel`` (and so MusicGen's from_pretrained) know the codec."""
    with contextlib.suppress(ValueError):  # already registered
        AutoConfig.register(MODEL_TYPE, DemoCodecConfig)
    with contextlib.suppress(ValueError):
        AutoModel.register(DemoCodecConfig, DemoCodecModel)


register()
