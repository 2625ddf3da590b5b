"""`musae demo train`: corpus -> codec -> codes -> LM -> a MusicGen folder, every stage resumable.

Stages (state lives in ``out``):
1. codec: ``codec_ckpt.pt`` (time-boxed training), then ``codec.json`` (its measured quality);
2. codes: ``codes.npz`` (every clip encoded; the held-out split is by clip index, data.py);
3. LM: ``lm_ckpt.pt`` (time-boxed decoder + text-encoder training);
4. model: ``model/`` (config.json, model.safetensors, tokenizer, musae_demo.json).
Rerunning the same command resumes at the first unfinished stage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from musae_core.demo.codec_train import (
    CKPT as CODEC_CKPT,
)
from musae_core.demo.codec_train import (
    CodecTrainSpec,
    codec_finished,
    evaluate_codec,
    load_codec_checkpoint,
    train_codec,
)
from musae_core.demo.corpus import load_factors
from musae_core.demo.data import load_corpus_audio, split_records
from musae_core.demo.lm_train import (
    CODES,
    LMTrainSpec,
    encode_corpus,
    evaluate_lm,
    load_codes,
    save_codes,
    train_lm,
)
from musae_core.demo.model_build import LMShape, build_demo_musicgen, save_demo_model
from musae_core.errors import MusaeError
from musae_core.fileio import write_json_atomic
from musae_core.jobs import CancelToken, ProgressFactory, check
from musae_core.models.semitone_codec import SemitoneCodecConfig


@dataclass
class DemoTrainSpec:
    codec: SemitoneCodecConfig = field(default_factory=SemitoneCodecConfig)
    codec_train: CodecTrainSpec = field(default_factory=CodecTrainSpec)
    shape: LMShape = field(default_factory=LMShape)
    lm_train: LMTrainSpec = field(default_factory=LMTrainSpec)
    codec_clips: int = 600  # training clips the codec sees (it needs far less than the LM)
    max_clips: int | None = None  # use only the first N corpus clips (tests)


def _records(corpus: Path, spec: DemoTrainSpec) -> list[dict]:
    records = load_factors(corpus)
    return records[: spec.max_clips] if spec.max_clips else records


def train_demo(
    corpus: str | Path,
    out: str | Path,
    spec: DemoTrainSpec,
    progress: ProgressFactory | None = None,
    cancel: CancelToken | None = None,
    log=print,
) -> Path:
    """Run (or resume) every stage; returns the model folder."""
    corpus, out = Path(corpus), Path(out)
    if not (corpus / "factors.jsonl").exists():
        raise MusaeError(
            f"{corpus} is not a finished demo corpus (factors.jsonl is missing).",
            "build it first: musae demo build-corpus --out DIR",
        )
    out.mkdir(parents=True, exist_ok=True)
    progress = progress or (lambda name: None)
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    records = _records(corpus, spec)
    train_records, held_records = split_records(records)
    sr = spec.codec.sampling_rate

    # 1. codec
    codec_json = out / "codec.json"
    if not codec_json.exists():
        if codec_finished(out / CODEC_CKPT, spec.codec_train):
            codec = load_codec_checkpoint(out / CODEC_CKPT)
        else:
            codec_audio, _ = load_corpus_audio(
                corpus, sr, train_records[: spec.codec_clips], progress("loading audio"), cancel
            )
            codec = train_codec(
                codec_audio,
                out,
                spec.codec,
                spec.codec_train,
                progress("training codec"),
                cancel,
                log,
            )
            del codec_audio
            check(cancel)
        held_audio, _ = load_corpus_audio(corpus, sr, held_records[:16])
        quality = evaluate_codec(codec, held_audio)
        write_json_atomic(codec_json, {"quality_heldout": quality, "spec": asdict(spec)})
        log(f"codec quality on held-out clips: {quality}")
    codec = load_codec_checkpoint(out / CODEC_CKPT)

    # 2. codes
    codes_path = out / CODES
    if not codes_path.exists():
        audio, _ = load_corpus_audio(corpus, sr, records, progress("loading audio"), cancel)
        codes = encode_corpus(codec, audio, progress=progress("encoding corpus"), cancel=cancel)
        save_codes(codes_path, codes, [r["caption"] for r in records], [r["clip"] for r in records])
        del audio
    codes, captions, clips = load_codes(codes_path)
    index = {c: i for i, c in enumerate(clips)}
    train_idx = [index[r["clip"]] for r in train_records]
    held_idx = [index[r["clip"]] for r in held_records]

    # 3. LM
    hf = build_demo_musicgen(codec, spec.shape, spec.lm_train.seed)
    held = (codes[held_idx], [captions[i] for i in held_idx]) if held_idx else None
    train_lm(
        hf,
        codes[train_idx],
        [captions[i] for i in train_idx],
        out,
        spec.lm_train,
        progress("training LM"),
        cancel,
        log,
        heldout=held,
    )
    check(cancel)

    # 4. model folder
    meta = {
        "format": "musae-demo-model",
        "version": 1,
        "corpus": json.loads((corpus / "corpus.json").read_text()),
        "spec": asdict(spec),
        "codec_quality": json.loads(codec_json.read_text())["quality_heldout"],
        "heldout_lm_loss": evaluate_lm(hf, *held) if held else None,
        "train_clips": len(train_idx),
        "heldout_clips": len(held_idx),
    }
    folder = save_demo_model(hf, out / "model", extra=meta)
    log(f"demo model written to {folder}")
    return folder


def heldout_codes(out: str | Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Codes, captions and clip names of the held-out clips of a trained ``out`` folder."""
    from musae_core.demo.data import is_heldout

    codes, captions, clips = load_codes(Path(out) / CODES)
    keep = [i for i, c in enumerate(clips) if is_heldout(int(c))]
    return codes[keep], [captions[i] for i in keep], [clips[i] for i in keep]
