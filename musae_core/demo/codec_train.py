"""Train the demo codec's codebooks: k-means, stage by stage, on semitone-band frames.

Each residual-VQ stage is fitted with Lloyd's k-means (k-means++-free: random frames as the
start, empty clusters re-seeded with random frames) on what the previous stages left. A
checkpoint is written atomically after every stage, so a cancel (Ctrl-C in the CLI) keeps the
finished stages and a rerun of the same command continues with the next one. On two CPU cores
the default (300k frames, 4 x 1024 entries, 20 iterations) takes a few minutes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from musae_core.fileio import atomic_path
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.models.semitone_codec import SemitoneCodecConfig, SemitoneCodecModel, nearest

CKPT = "codec_ckpt.pt"


@dataclass
class CodecTrainSpec:
    max_frames: int = 300_000  # frames sampled from the training clips
    iterations: int = 20
    seed: int = 0
    chunk: int = 32_768  # frames per distance computation (bounds memory)


def _assign(x: torch.Tensor, centres: torch.Tensor, chunk: int) -> torch.Tensor:
    return torch.cat([nearest(x[i : i + chunk], centres) for i in range(0, len(x), chunk)])


def kmeans(
    x: torch.Tensor,
    k: int,
    iterations: int,
    generator: torch.Generator,
    chunk: int = 32_768,
    cancel: CancelToken | None = None,
) -> torch.Tensor:
    """(N, D) -> (k, D) Lloyd's k-means centres."""
    centres = x[torch.randperm(len(x), generator=generator)[:k]].clone()
    if len(centres) < k:  # fewer frames than entries: repeat frames
        centres = x[torch.randint(0, len(x), (k,), generator=generator)].clone()
    for _ in range(iterations):
        check(cancel)
        assign = _assign(x, centres, chunk)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).float()
        empty = counts == 0
        fresh = x[torch.randint(0, len(x), (k,), generator=generator)]
        centres = torch.where(empty[:, None], fresh, sums / counts.clamp_min(1)[:, None])
    return centres


def frames_for_training(
    codec: SemitoneCodecModel,
    audio: np.ndarray,
    spec: CodecTrainSpec,
    cancel: CancelToken | None = None,
) -> torch.Tensor:
    """Log band frames of ``audio`` (clips, samples), sampled down to ``spec.max_frames``."""
    feats = []
    with torch.inference_mode():
        for start in range(0, len(audio), 16):
            check(cancel)
            wav = torch.from_numpy(audio[start : start + 16])
            feats.append(codec.band_features(wav).reshape(-1, codec.config.num_bands))
    x = torch.cat(feats)
    if len(x) > spec.max_frames:
        gen = torch.Generator().manual_seed(spec.seed)
        x = x[torch.randperm(len(x), generator=gen)[: spec.max_frames]]
    return x


def save_checkpoint(path: Path, codec: SemitoneCodecModel, stages_done: int, spec) -> None:
    payload = {
        "config": codec.config.to_dict(),
        "model": codec.state_dict(),
        "stages_done": stages_done,
        "spec": asdict(spec),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _payload(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def codec_finished(path: str | Path, spec: CodecTrainSpec | None = None) -> bool:
    """Whether the checkpoint at ``path`` has every RVQ stage fitted."""
    path = Path(path)
    if not path.exists():
        return False
    payload = _payload(path)
    return payload["stages_done"] >= payload["config"]["num_quantizers"]


def load_codec_checkpoint(path: str | Path) -> SemitoneCodecModel:
    """The codec stored in a training checkpoint, in eval mode."""
    payload = _payload(Path(path))
    codec = SemitoneCodecModel(SemitoneCodecConfig(**_config_kwargs(payload["config"])))
    codec.load_state_dict(payload["model"])
    return codec.eval()


def _config_kwargs(d: dict) -> dict:
    fields = SemitoneCodecConfig.__dataclass_fields__
    return {k: v for k, v in d.items() if k in fields and k not in ("model_type",)}


def train_codec(
    audio: np.ndarray,
    out: str | Path,
    config: SemitoneCodecConfig,
    spec: CodecTrainSpec,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    log=print,
) -> SemitoneCodecModel:
    """Fit (or resume fitting) every RVQ stage on ``audio`` (clips, samples)."""
    progress = progress or no_progress
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / CKPT
    codec = SemitoneCodecModel(config).eval()
    done = 0
    if ckpt.exists():
        payload = _payload(ckpt)
        codec.load_state_dict(payload["model"])
        done = payload["stages_done"]
        log(f"resuming codec training after stage {done}")
    x = frames_for_training(codec, audio, spec, cancel)
    gen = torch.Generator().manual_seed(spec.seed)
    residual = x
    books = codec.codebooks.data
    for stage in range(config.num_quantizers):
        if stage >= done:
            books[stage] = kmeans(
                residual, config.codebook_size, spec.iterations, gen, spec.chunk, cancel
            )
            save_checkpoint(ckpt, codec, stage + 1, spec)
        chosen = books[stage][_assign(residual, books[stage], spec.chunk)]
        residual = residual - chosen
        rms = float(residual.pow(2).mean().sqrt())
        log(f"codec stage {stage + 1}/{config.num_quantizers}: residual rms {rms:.3f}")
        progress(stage + 1, config.num_quantizers)
    return codec


def mel_l1(pred: torch.Tensor, target: torch.Tensor, sample_rate: int) -> float:
    """Mean absolute log-mel difference (80 mels, 1024-point STFT)."""
    import librosa

    mel = torch.from_numpy(librosa.filters.mel(sr=sample_rate, n_fft=1024, n_mels=80)).float()
    window = torch.hann_window(1024)

    def logmel(wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, 1024, 256, window=window, return_complex=True).abs()
        return torch.log(mel @ spec + 1e-5)

    return float((logmel(pred) - logmel(target)).abs().mean())


@torch.inference_mode()
def evaluate_codec(codec: SemitoneCodecModel, audio: np.ndarray, max_clips: int = 16) -> dict:
    """Reconstruction quality on ``audio`` (clips, samples): mel L1, chroma and log-magnitude
    correlation (SNR is reported but means little: Griffin-Lim does not keep the phase)."""
    import librosa

    sr = codec.config.sampling_rate
    clips = torch.from_numpy(audio[:max_clips])
    codes = codec.encode(clips[:, None]).audio_codes
    assert codes is not None  # encode always sets them
    recon = codec.decode(codes).audio_values[:, 0, : clips.shape[1]].float()
    noise = torch.randn_like(clips) * 1e-3
    snr = 10 * torch.log10(clips.pow(2).sum(1) / (clips - recon).pow(2).sum(1).clamp_min(1e-9))
    chroma_r, logmag_r = [], []
    for a, b in zip(clips.numpy(), recon.numpy(), strict=True):
        ca = librosa.feature.chroma_stft(y=a, sr=sr, n_fft=2048)
        cb = librosa.feature.chroma_stft(y=b, sr=sr, n_fft=2048)
        chroma_r.append(float(np.corrcoef(ca.ravel(), cb.ravel())[0, 1]))
        la = np.log(np.abs(librosa.stft(a, n_fft=1024, hop_length=256)) + 1e-5)
        lb = np.log(np.abs(librosa.stft(b, n_fft=1024, hop_length=256)) + 1e-5)
        logmag_r.append(float(np.corrcoef(la.ravel(), lb.ravel())[0, 1]))
    return {
        "clips": int(clips.shape[0]),
        "mel_l1": mel_l1(recon, clips, sr),
        "mel_l1_silence_baseline": mel_l1(noise, clips, sr),
        "snr_db": float(snr.mean()),
        "chroma_corr": float(np.nanmean(chroma_r)),
        "logmag_corr": float(np.mean(logmag_r)),
    }
