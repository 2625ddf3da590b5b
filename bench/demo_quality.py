"""Measure the demo model against the issue's targets and write a JSON report.

    nice -n 15 python bench/demo_quality.py --model OUT/model --corpus CORPUS --out report.json

- load time of the model folder (offline), decode time of 10 s of codes, generation time of a
  10 s take (CFG 3, 2 CPU threads), wall and CPU seconds (the CPU is shared, so both count);
- codec quality on held-out clips (mel L1, SNR, chroma / log-magnitude correlation);
- a factor classifier (musae_core/demo/factor_classifier.py) trained on the held-out corpus
  clips (original audio + their codec round trip), its cross-validated accuracy per factor, and
  its accuracy on generated takes prompted with each instrument family x mode.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--take-seconds", type=float, default=8.0)
    parser.add_argument("--takes-per-cell", type=int, default=1)
    parser.add_argument("--max-heldout", type=int, default=150)
    parser.add_argument("--cfg", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    report: dict = {"model": args.model}

    import musae_core.demo.codec  # noqa: F401  (registers the codec; loading.py does this too)
    from musae_core.demo.codec_train import evaluate_codec
    from musae_core.demo.corpus import load_factors
    from musae_core.demo.data import load_corpus_audio, split_records
    from musae_core.demo.factor_classifier import (
        FACTORS,
        audio_features,
        factor_labels,
        train_factor_classifier,
    )
    from musae_core.demo.factors import INSTRUMENT_FAMILIES, MODES, sample_factors
    from musae_core.models.base import GenerationRequest
    from musae_core.models.loading import load_model

    model, report["load"] = timed(lambda: load_model(args.model, device="cpu", dtype="fp32"))
    print("load", report["load"], flush=True)
    sr = model.sample_rate
    _, held = split_records(load_factors(args.corpus))
    held = held[: args.max_heldout]
    audio, _ = load_corpus_audio(args.corpus, sr, held)

    codec = model.hf.audio_encoder
    report["codec_quality_heldout"] = evaluate_codec(codec, audio, max_clips=16)
    print("codec", report["codec_quality_heldout"], flush=True)
    clip = torch.from_numpy(audio[:1])
    codes = model.encode(clip)
    model.decode(codes)  # warm-up
    _, report["decode_10s"] = timed(lambda: model.decode(codes))
    print("decode 10 s", report["decode_10s"], flush=True)

    # factor classifier on held-out clips: original audio and its codec round trip
    with torch.inference_mode():
        recon = np.concatenate([
            model.decode(model.encode(torch.from_numpy(audio[i : i + 8])))[:, 0].numpy()
            for i in range(0, len(audio), 8)
        ])[:, : audio.shape[1]]  # fmt: skip
    (feats_real, feats_rt), report["features"] = timed(lambda: (
        np.stack([audio_features(a, sr) for a in audio]),
        np.stack([audio_features(a, sr) for a in recon]),
    ))  # fmt: skip
    _, acc_real = train_factor_classifier(feats_real, held, sr)
    _, acc_rt = train_factor_classifier(feats_rt, held, sr)
    groups = np.concatenate([np.arange(len(held)), np.arange(len(held))])
    classifier, acc_both = train_factor_classifier(
        np.concatenate([feats_real, feats_rt]), held + held, sr, groups=groups
    )
    report["classifier_cv_accuracy"] = {
        "original_audio": acc_real, "codec_round_trip": acc_rt, "both": acc_both,
        "clips": len(held),
    }  # fmt: skip
    print("classifier", report["classifier_cv_accuracy"], flush=True)
    classifier.save(Path(args.out).with_suffix(".classifier.npz"))

    # generated takes: every instrument family x mode, other factors random
    rng = random.Random(0)
    prompts, targets = [], []
    for instrument in sorted(INSTRUMENT_FAMILIES):
        for mode in MODES:
            for _ in range(args.takes_per_cell):
                f = replace(sample_factors(rng), instrument=instrument, mode=mode,
                            program=INSTRUMENT_FAMILIES[instrument][0])  # fmt: skip
                prompts.append(f.caption())
                targets.append(f.to_dict())
    takes, gen_times = [], []
    for i, prompt in enumerate(prompts):
        request = GenerationRequest(prompts=(prompt,), duration=args.take_seconds, seed=i,
                                    cfg_scale=args.cfg)  # fmt: skip
        take, t = timed(lambda r=request: model.generate(r))
        takes.append(take.audio[0, 0])
        gen_times.append(t)
        print(i, prompt, t, flush=True)
    request = GenerationRequest(prompts=(prompts[0],), duration=10.0, seed=0, cfg_scale=args.cfg)
    _, report["generate_10s"] = timed(lambda: model.generate(request))
    print("generate 10 s", report["generate_10s"], flush=True)
    pred = classifier.predict(takes, sr)
    report["generated_accuracy"] = {
        factor: float(np.mean([p == factor_labels(t, factor)
                               for p, t in zip(pred[factor], targets, strict=True)]))
        for factor in FACTORS
    }  # fmt: skip
    report["chance"] = {
        "instrument": 1 / len(INSTRUMENT_FAMILIES),
        "mode": 1 / len(MODES),
        "tempo_band": 1 / 3,
        "register": 1 / 3,
        "dynamics": 0.5,
        "drums": 0.5,
    }
    report["takes"] = len(takes)
    report["take_seconds"] = args.take_seconds
    print("generated accuracy", report["generated_accuracy"], flush=True)
    out = Path(args.out)
    out.write_text(json.dumps(report, indent=2, default=float) + "\n")
    import soundfile as sf

    for i in range(min(4, len(takes))):
        sf.write(out.with_suffix(f".take{i}.wav"), takes[i], sr)


if __name__ == "__main__":
    main()
