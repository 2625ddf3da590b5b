"""Encode the corpus with the demo codec and train the MusicGen decoder + T5 text encoder on it.

The loss is MusicGen's: cross-entropy over every (delayed position, codebook) that holds a real
token, with the caption dropped (null condition: zero hidden states, zero mask, exactly what
``TransformersMusicGen._encode_text`` feeds the unconditional CFG branch) for ``cfg_dropout``
of the batch. Time-boxed, checkpointed atomically, resumable; a cancel saves first.

``mode_contrast`` adds a caption-contrast term (off by default): on the captioned rows, the
same codes scored under the caption with its mode word flipped must cost at least
``contrast_margin`` nats per token more than under the true caption, over the crop's first
``contrast_frames`` frames: where the LM must commit to a key before the audio tells it (a take
keeps the key it opened in). Plain likelihood training learns the mode slowest of all factors;
the contrast asks for exactly that dependence on the caption. Measured (docs/demo.md): the LM
then reads the mode word under teacher forcing but does not produce the mode when generating,
and follows other factors worse, so it is off by default and the shipped LM was trained without.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from musae_core.demo.factors import flip_mode
from musae_core.demo.tokenizer import demo_tokenizer
from musae_core.errors import MusaeError
from musae_core.fileio import atomic_path
from musae_core.jobs import CancelToken, ProgressFn, check, no_progress
from musae_core.models import delay as dp
from musae_core.models.semitone_codec import SemitoneCodecModel

CKPT = "lm_ckpt.pt"
CODES = "codes.npz"


@dataclass
class LMTrainSpec:
    minutes: float = 40.0
    batch: int = 8
    crop_frames: int = 200
    lr: float = 2e-3
    warmup: int = 100
    cfg_dropout: float = 0.15
    start_at_zero: float = 0.3
    seed: int = 0
    checkpoint_every: float = 120.0
    max_steps: int | None = None
    device: str = "cpu"  # "cuda": bf16 autocast; checkpoints load on any device (map_location)
    mode_contrast: float = 0.0  # weight of the caption-contrast term (0: plain MusicGen loss)
    contrast_margin: float = 0.3  # nats per token the flipped-mode caption must cost more
    contrast_frames: int = 50  # ... over each crop's opening (50 frames: 1 s)


def _schedule_fraction(step: int, elapsed: float, spec: LMTrainSpec) -> float:
    """How far the cosine learning-rate schedule has run: by steps when the run has a step
    budget (the same steps give the same model on any machine), else by the wall-clock one
    (a time-boxed build: a busier machine takes fewer steps down the same curve)."""
    if spec.max_steps is not None:
        return min(1.0, step / max(1, spec.max_steps))
    return min(1.0, elapsed / (spec.minutes * 60.0))


@torch.inference_mode()
def encode_corpus(
    codec: SemitoneCodecModel,
    audio: np.ndarray,
    batch: int = 8,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """(clips, samples) audio -> (clips, codebooks, frames) int16 codes."""
    progress = progress or no_progress
    out = []
    for start in range(0, len(audio), batch):
        check(cancel)
        wav = torch.from_numpy(audio[start : start + batch])[:, None]
        codes = codec.encode(wav).audio_codes
        assert codes is not None  # encode always sets them
        out.append(codes[0].numpy().astype(np.int16))
        progress(min(start + batch, len(audio)), len(audio))
    return np.concatenate(out)


def save_codes(path: Path, codes: np.ndarray, captions: list[str], clips: list[str]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, codes=codes, captions=np.array(captions), clips=np.array(clips))


def load_codes(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    data = np.load(path)
    return data["codes"], [str(c) for c in data["captions"]], [str(c) for c in data["clips"]]


def text_condition(hf, tokenizer, captions: list[str], drop: torch.Tensor):
    """Encoder hidden states and mask for ``captions``; rows where ``drop`` get the null one."""
    tok = tokenizer(captions, padding=True, return_tensors="pt").to(drop.device)
    hidden = hf.text_encoder(
        input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]
    ).last_hidden_state
    if hf.text_encoder.config.hidden_size != hf.decoder.config.hidden_size:
        hidden = hf.enc_to_dec_proj(hidden)
    mask = tok["attention_mask"] * (~drop)[:, None].long()
    return hidden * mask[..., None].to(hidden.dtype), mask


def token_nll(hf, tokenizer, codes: torch.Tensor, captions: list[str], drop: torch.Tensor):
    """Cross-entropy per delayed (row, codebook, position) and the mask of real targets."""
    b, k, n_frames = codes.shape
    pad = hf.config.decoder.pad_token_id
    delays = dp.codebook_delays(k, 1)
    targets = dp.delay(codes, delays, pad)
    inputs = dp.decoder_inputs(targets, hf.config.decoder.bos_token_id)
    enc, mask = text_condition(hf, tokenizer, captions, drop)
    s = targets.shape[2]
    hidden = hf.decoder.model(
        input_ids=inputs.reshape(b * k, s), encoder_hidden_states=enc, encoder_attention_mask=mask
    ).last_hidden_state
    logits = torch.stack([head(hidden) for head in hf.decoder.lm_heads], dim=1)  # B K S V
    valid = dp.valid_mask(s, delays, n_frames, device=codes.device)
    nll = nn.functional.cross_entropy(
        logits.permute(0, 3, 1, 2), torch.where(valid, targets, 0), reduction="none"
    )
    return nll * valid, valid


def lm_loss(hf, tokenizer, codes: torch.Tensor, captions: list[str], drop: torch.Tensor):
    """Mean cross-entropy over valid delayed (position, codebook) targets."""
    nll, valid = token_nll(hf, tokenizer, codes, captions, drop)
    per_codebook = nll.sum(dim=(0, 2)) / (valid.sum(dim=1) * len(codes))
    return per_codebook.mean(), per_codebook.detach()


def mode_gap(hf, tokenizer, codes: torch.Tensor, captions: list[str]) -> torch.Tensor:
    """Per row: nats per token the mode-flipped caption costs more than the true one."""
    no_drop = torch.zeros(2 * len(codes), dtype=torch.bool, device=codes.device)
    both = torch.cat([codes, codes])
    nll, valid = token_nll(
        hf, tokenizer, both, captions + [flip_mode(c) for c in captions], no_drop
    )
    per_row = nll.sum(dim=(1, 2)) / valid.sum()
    true, flipped = per_row.chunk(2)
    return flipped - true


def mode_contrast_loss(gap: torch.Tensor, margin: float, softness: float = 0.02) -> torch.Tensor:
    """Smooth hinge: zero once the gap exceeds ``margin``, linear in the shortfall below it."""
    return softness * nn.functional.softplus((margin - gap) / softness).mean()


def _batch(codes: np.ndarray, captions: list[str], spec: LMTrainSpec, rng) -> tuple:
    rows = rng.integers(0, len(codes), spec.batch)
    n = codes.shape[2]
    crop = min(spec.crop_frames, n)
    starts = rng.integers(0, n - crop + 1, spec.batch)
    starts[rng.random(spec.batch) < spec.start_at_zero] = 0
    pairs = zip(rows, starts, strict=True)
    x = np.stack([codes[r, :, s : s + crop] for r, s in pairs]).astype(np.int64)
    drop = torch.from_numpy(rng.random(spec.batch) < spec.cfg_dropout)
    return torch.from_numpy(x), [captions[r] for r in rows], drop


def train_lm(
    hf,
    codes: np.ndarray,
    captions: list[str],
    out: str | Path,
    spec: LMTrainSpec,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    log=print,
    heldout: tuple[np.ndarray, list[str]] | None = None,
):
    """Train ``hf`` (a MusicgenForConditionalGeneration; codec frozen) in place; resumable."""
    progress = progress or no_progress
    out = Path(out)
    ckpt_path = out / CKPT
    if spec.mode_contrast > 0 and spec.contrast_frames < 1:
        raise MusaeError(
            f"--contrast-frames must be >= 1, got {spec.contrast_frames}.",
            "use e.g. --contrast-frames 50 (one second).",
        )
    tokenizer = demo_tokenizer()
    state: dict[str, Any] = {"step": 0, "elapsed": 0.0, "history": [], "spec": asdict(spec)}
    payload = None
    if ckpt_path.exists():  # loaded on the CPU, so a refused checkpoint leaves ``hf`` there
        payload = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        try:
            hf.load_state_dict(payload["model"])
        except RuntimeError as exc:
            raise MusaeError(
                f"{ckpt_path} holds an LM of another shape ({str(exc).splitlines()[-1].strip()}).",
                "resume with the --lm-width/--lm-layers it was started with, or train into a "
                "new --out folder.",
            ) from exc
    device = torch.device(spec.device)
    hf.to(device)
    for p in hf.audio_encoder.parameters():
        p.requires_grad_(False)
    params = [p for n, p in hf.named_parameters() if not n.startswith("audio_encoder.")]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
        lr=spec.lr,
        betas=(0.9, 0.95),
    )
    if payload is not None:
        opt.load_state_dict(payload["optimizer"])  # moves its state to the parameters' device
        state = {k: payload[k] for k in state}
        log(f"resuming LM training at step {state['step']} ({state['elapsed'] / 60:.1f} min)")
    rng = np.random.default_rng(spec.seed + state["step"])
    torch.manual_seed(spec.seed + state["step"])
    budget = spec.minutes * 60.0
    started = time.perf_counter() - state["elapsed"]
    last_save = time.perf_counter()
    hf.train()

    def checkpoint() -> None:
        state["elapsed"] = time.perf_counter() - started
        with atomic_path(ckpt_path) as tmp:
            torch.save({"model": hf.state_dict(), "optimizer": opt.state_dict(), **state}, tmp)

    try:
        while True:
            elapsed = time.perf_counter() - started
            out_of_steps = spec.max_steps is not None and state["step"] >= spec.max_steps
            if elapsed >= budget or out_of_steps:
                break
            if cancel is not None and cancel.cancelled:
                break
            frac = _schedule_fraction(state["step"], elapsed, spec)
            warm = min(1.0, (state["step"] + 1) / spec.warmup)
            lr = spec.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
            for group in opt.param_groups:
                group["lr"] = lr
            x, caps, drop = _batch(codes, captions, spec, rng)
            with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
                loss, per_cb = lm_loss(hf, tokenizer, x.to(device), caps, drop.to(device))
                gap = None
                if spec.mode_contrast > 0 and not drop.all():
                    kept = [c for c, d in zip(caps, drop.tolist(), strict=True) if not d]
                    opening = x[~drop][:, :, : spec.contrast_frames]
                    gap = mode_gap(hf, tokenizer, opening.to(device), kept)
                    loss = loss + spec.mode_contrast * mode_contrast_loss(gap, spec.contrast_margin)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            state["step"] += 1
            if state["step"] % 25 == 0:
                row = {
                    "step": state["step"],
                    "min": round(elapsed / 60, 2),
                    "loss": round(float(loss.detach()), 4),
                    "per_codebook": [round(float(v), 3) for v in per_cb],
                }
                if gap is not None:
                    row["mode_gap"] = round(float(gap.detach().mean()), 4)
                if heldout is not None and state["step"] % 200 == 0:
                    row["heldout"] = round(evaluate_lm(hf, *heldout), 4)
                    hf.train()
                state["history"].append(row)
                log(str(row))
            if spec.max_steps is not None:
                progress(state["step"], spec.max_steps)
            else:
                progress(int(min(elapsed, budget)), int(budget))
            if time.perf_counter() - last_save > spec.checkpoint_every:
                checkpoint()
                last_save = time.perf_counter()
    finally:
        checkpoint()
        hf.to("cpu")  # the model folder is written from the CPU, whatever trained it
    return hf.eval()


@torch.inference_mode()
def evaluate_lm(
    hf, codes: np.ndarray, captions: list[str], frames: int = 250, max_clips: int = 32
) -> float:
    """Held-out conditional cross-entropy (nats per token) over the first ``frames`` frames."""
    hf.eval()
    device = next(hf.parameters()).device
    x = torch.from_numpy(codes[:max_clips, :, :frames].astype(np.int64)).to(device)
    drop = torch.zeros(len(x), dtype=torch.bool, device=device)
    loss, _ = lm_loss(hf, demo_tokenizer(), x, captions[:max_clips], drop)
    return float(loss)
