"""Train the demo codec on corpus audio: spectral reconstruction losses + EMA residual VQ.

Losses (``phase_mode="griffin_lim"``, the default): L1 between predicted and true log-magnitude
STFT frames plus linear-magnitude spectral convergence, computed at the frame rate (no output
STFT, no phase), and a commitment term. With ``phase_mode="predicted"``: multi-resolution
log-magnitude STFT L1 + spectral convergence and log-mel L1 on the waveform. No GAN: it would
not pay for itself in a CPU hour. The first ``warmup_steps``
run without quantisation; then every codebook is seeded from the latents (k-means++-free: random
residual vectors) and updated by exponential moving averages, with dead entries re-seeded.

Training is time-boxed (``minutes``), checkpoints atomically every ``checkpoint_every`` seconds
and resumes from ``out/codec_ckpt.pt``; a cancel (Ctrl-C in the CLI) saves a checkpoint first.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from musae_core.demo.codec import DemoCodecConfig, DemoCodecModel, log_magnitude
from musae_core.fileio import atomic_path
from musae_core.jobs import CancelToken, ProgressFn, no_progress

CKPT = "codec_ckpt.pt"


@dataclass
class CodecTrainSpec:
    minutes: float = 40.0
    batch: int = 16
    crop_seconds: float = 1.28
    lr: float = 1e-3
    warmup_steps: int = 100
    ema_decay: float = 0.99
    commit_weight: float = 1.0
    seed: int = 0
    checkpoint_every: float = 120.0
    max_steps: int | None = None  # tests: stop after this many steps regardless of time


class SpectralLoss(nn.Module):
    """Multi-resolution STFT (log-magnitude L1 + spectral convergence) and log-mel L1."""

    def __init__(self, sample_rate: int, ffts=(256, 512, 1024, 2048), n_mels: int = 80) -> None:
        super().__init__()
        import librosa

        self.ffts = ffts
        mel = librosa.filters.mel(sr=sample_rate, n_fft=1024, n_mels=n_mels)
        self.register_buffer("mel", torch.from_numpy(mel).float())

    @staticmethod
    def _mag(wav: torch.Tensor, n_fft: int) -> torch.Tensor:
        window = torch.hann_window(n_fft, device=wav.device)
        spec = torch.stft(wav, n_fft, n_fft // 4, window=window, return_complex=True)
        return spec.abs().clamp_min(1e-5)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        stft = 0.0
        mel = None
        for n_fft in self.ffts:
            p, t = self._mag(pred, n_fft), self._mag(target, n_fft)
            conv = torch.linalg.norm(t - p) / torch.linalg.norm(t).clamp_min(1e-5)
            stft = stft + (p.log() - t.log()).abs().mean() + conv
            if n_fft == 1024:
                mp = torch.log(self.mel @ p + 1e-5)
                mt = torch.log(self.mel @ t + 1e-5)
                mel = (mp - mt).abs().mean()
        return {"stft": stft / len(self.ffts), "mel": mel}


def frame_loss(codec: DemoCodecModel, pred: torch.Tensor, wav: torch.Tensor) -> dict:
    """Log-magnitude L1 + spectral convergence of decoder frames (B, T', bins) against ``wav``."""
    c = codec.config
    window = torch.hann_window(c.synth_n_fft, device=wav.device)
    spec = torch.stft(wav, c.synth_n_fft, c.synth_hop, window=window, return_complex=True)
    mag = spec.abs()[..., : pred.shape[1]].transpose(1, 2)
    logmag = (pred - torch.log(mag + 1e-2)).abs().mean()
    conv = torch.linalg.norm(torch.exp(pred.clamp(max=6.0)) - mag) / torch.linalg.norm(mag)
    return {"logmag": logmag, "sc": conv}


class EmaQuantizer:
    """Training-side state of the codec's residual VQ: EMA statistics and dead-code refresh."""

    def __init__(self, codec: DemoCodecModel, decay: float) -> None:
        self.codec = codec
        self.decay = decay
        q, k, _ = codec.quantizer.codebooks.shape
        self.cluster_size = torch.ones(q, k)
        self.embed_sum = codec.quantizer.codebooks.detach().clone()

    def seed_from(self, z: torch.Tensor, generator: torch.Generator) -> None:
        """Initialise every codebook from random residual vectors of the latents ``z`` (N, D)."""
        books = self.codec.quantizer.codebooks
        residual = z.detach()
        for q in range(books.shape[0]):
            pick = torch.randint(0, residual.shape[0], (books.shape[1],), generator=generator)
            books[q] = residual[pick]
            idx = self.codec.quantizer.nearest(residual, books[q])
            residual = residual - books[q][idx]
        self.embed_sum = books.clone()
        self.cluster_size = torch.ones(books.shape[:2])

    def update(self, codes: torch.Tensor, residuals: list[torch.Tensor], gen) -> float:
        """EMA step for each stage; returns the mean fraction of codebook entries in use."""
        books = self.codec.quantizer.codebooks
        k = books.shape[1]
        used = []
        for q, residual in enumerate(residuals):
            residual = residual.detach()
            onehot = nn.functional.one_hot(codes[q], k).float()  # (N, K)
            counts = onehot.sum(0)
            sums = onehot.t() @ residual
            self.cluster_size[q].mul_(self.decay).add_(counts, alpha=1 - self.decay)
            self.embed_sum[q].mul_(self.decay).add_(sums, alpha=1 - self.decay)
            n = self.cluster_size[q].sum()
            size = (self.cluster_size[q] + 1e-5) / (n + k * 1e-5) * n
            books[q] = self.embed_sum[q] / size[:, None]
            dead = self.cluster_size[q] < 0.05
            if dead.any():  # re-seed unused entries with current residuals
                pick = torch.randint(0, residual.shape[0], (int(dead.sum()),), generator=gen)
                books[q][dead] = residual[pick]
                self.embed_sum[q][dead] = residual[pick]
                self.cluster_size[q][dead] = 1.0
            used.append(float((counts > 0).float().mean()))
        return float(np.mean(used))


def _crops(audio: np.ndarray, batch: int, length: int, rng: np.random.Generator) -> torch.Tensor:
    rows = rng.integers(0, audio.shape[0], batch)
    starts = rng.integers(0, audio.shape[1] - length + 1, batch)
    pairs = zip(rows, starts, strict=True)
    return torch.from_numpy(np.stack([audio[r, s : s + length] for r, s in pairs]))


def save_checkpoint(path: Path, codec, ema, opt, state: dict) -> None:
    payload = {
        "config": codec.config.to_dict(),
        "model": codec.state_dict(),
        "cluster_size": ema.cluster_size,
        "embed_sum": ema.embed_sum,
        "optimizer": opt.state_dict(),
        **state,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def codec_finished(path: str | Path, spec: CodecTrainSpec) -> bool:
    """Whether the checkpoint at ``path`` already used its whole time (or step) budget."""
    path = Path(path)
    if not path.exists():
        return False
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if spec.max_steps is not None and payload["step"] >= spec.max_steps:
        return True
    return payload["elapsed"] >= spec.minutes * 60.0


def load_codec_checkpoint(path: str | Path) -> DemoCodecModel:
    """The codec stored in a training checkpoint, in eval mode."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    codec = DemoCodecModel(DemoCodecConfig(**_config_kwargs(payload["config"])))
    codec.load_state_dict(payload["model"])
    return codec.eval()


def _config_kwargs(d: dict) -> dict:
    fields = DemoCodecConfig.__dataclass_fields__
    return {k: v for k, v in d.items() if k in fields and k not in ("model_type",)}


def train_codec(
    audio: np.ndarray,
    out: str | Path,
    config: DemoCodecConfig,
    spec: CodecTrainSpec,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    log=print,
) -> DemoCodecModel:
    """Train (or resume) on ``audio`` (clips, samples) at ``config.sampling_rate``."""
    progress = progress or no_progress
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CKPT
    torch.manual_seed(spec.seed)
    codec = DemoCodecModel(config).train()
    opt = torch.optim.AdamW(codec.parameters(), lr=spec.lr, betas=(0.8, 0.99), weight_decay=0.01)
    ema = EmaQuantizer(codec, spec.ema_decay)
    loss_fn = SpectralLoss(config.sampling_rate) if config.phase_mode == "predicted" else None
    state = {"step": 0, "elapsed": 0.0, "seeded": False, "history": [], "spec": asdict(spec)}
    if ckpt_path.exists():
        payload = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        codec.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
        ema.cluster_size, ema.embed_sum = payload["cluster_size"], payload["embed_sum"]
        state = {k: payload[k] for k in state}
        log(f"resuming codec training at step {state['step']} ({state['elapsed'] / 60:.1f} min)")
    rng = np.random.default_rng(spec.seed + state["step"])
    gen = torch.Generator().manual_seed(spec.seed + state["step"])
    length = int(spec.crop_seconds * config.sampling_rate)
    length -= length % config.hop_length
    budget = spec.minutes * 60.0
    last_save = time.perf_counter()
    started = time.perf_counter() - state["elapsed"]

    def checkpoint() -> None:
        state["elapsed"] = time.perf_counter() - started
        save_checkpoint(ckpt_path, codec, ema, opt, state)

    try:
        while True:
            elapsed = time.perf_counter() - started
            out_of_steps = spec.max_steps is not None and state["step"] >= spec.max_steps
            if elapsed >= budget or out_of_steps:
                break
            if cancel is not None and cancel.cancelled:
                break
            frac = min(1.0, elapsed / budget)
            warm = min(1.0, (state["step"] + 1) / 50)
            lr = spec.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            for group in opt.param_groups:
                group["lr"] = lr
            wav = _crops(audio, spec.batch, length, rng)
            z = codec.latents(wav)
            b, t, d = z.shape
            flat = z.reshape(b * t, d)
            commit = torch.zeros(())
            used = 0.0
            if state["step"] >= spec.warmup_steps:
                if not state["seeded"]:
                    ema.seed_from(flat, gen)
                    state["seeded"] = True
                with torch.no_grad():
                    q, codes, residuals = codec.quantizer.quantize(flat)
                commit = (flat - q).pow(2).mean()
                zq = (flat + (q - flat).detach()).reshape(b, t, d)
            else:
                zq = z
            if config.phase_mode == "predicted":
                losses = loss_fn(codec.synthesize(zq), wav)
            else:
                losses = frame_loss(codec, codec.decoder_output(zq), wav)
            loss = sum(losses.values()) + spec.commit_weight * commit
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
            opt.step()
            if state["step"] >= spec.warmup_steps:
                with torch.no_grad():
                    used = ema.update(codes, residuals, gen)
            state["step"] += 1
            if state["step"] % 10 == 0:
                row = {"step": state["step"], "min": round(elapsed / 60, 2)}
                row.update({k: round(float(v.detach()), 4) for k, v in losses.items()})
                row.update({"commit": round(float(commit), 4), "used": round(used, 3)})
                state["history"].append(row)
                log(str(row))
            progress(int(min(elapsed, budget)), int(budget))
            if time.perf_counter() - last_save > spec.checkpoint_every:
                checkpoint()
                last_save = time.perf_counter()
    finally:
        checkpoint()
    return codec.eval()


@torch.inference_mode()
def evaluate_codec(codec: DemoCodecModel, audio: np.ndarray, max_clips: int = 16) -> dict:
    """Reconstruction quality on ``audio`` (clips, samples): mel L1, SNR, chroma correlation."""
    import librosa

    sr = codec.config.sampling_rate
    clips = torch.from_numpy(audio[:max_clips])
    codes = codec.encode(clips[:, None]).audio_codes
    recon = codec.decode(codes).audio_values[:, 0, : clips.shape[1]]
    loss = SpectralLoss(sr)
    mel_l1 = float(loss(recon, clips)["mel"])
    # baseline: what a codec that outputs silence-level noise would score
    noise = torch.randn_like(clips) * 1e-3
    mel_l1_silence = float(loss(noise, clips)["mel"])
    snr = 10 * torch.log10(clips.pow(2).sum(1) / (clips - recon).pow(2).sum(1).clamp_min(1e-9))
    chroma_r, logmag_r = [], []
    for a, b in zip(clips.numpy(), recon.numpy(), strict=True):
        ca = librosa.feature.chroma_stft(y=a, sr=sr, n_fft=2048)
        cb = librosa.feature.chroma_stft(y=b, sr=sr, n_fft=2048)
        chroma_r.append(float(np.corrcoef(ca.ravel(), cb.ravel())[0, 1]))
    la = log_magnitude(clips, 1024, 256)
    lb = log_magnitude(recon, 1024, 256)
    for a, b in zip(la, lb, strict=True):
        logmag_r.append(float(np.corrcoef(a.ravel().numpy(), b.ravel().numpy())[0, 1]))
    return {
        "clips": int(clips.shape[0]),
        "mel_l1": mel_l1,
        "mel_l1_silence_baseline": mel_l1_silence,
        "snr_db": float(snr.mean()),
        "chroma_corr": float(np.nanmean(chroma_r)),
        "logmag_corr": float(np.mean(logmag_r)),
    }
