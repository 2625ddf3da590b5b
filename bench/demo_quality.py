"""Measure the demo model against the issue's targets and write a JSON report.

    python bench/demo_quality.py --model OUT/model --corpus CORPUS --out report.json \
        [--classifier FEATURES/factor_classifier.npz]

- load time of the model folder (offline, in a fresh process: imports included), decode time
  of 10 s of codes, generation time of a 10 s take (CFG 3, 2 CPU threads), wall and CPU
  seconds (on a shared CPU both count);
- codec quality on held-out clips (mel L1, SNR, chroma / log-magnitude correlation);
- the factor classifier (``musae_core/demo/classifier_train.py``: held-out clips, original
  audio + codec round trip) with its cross-validated accuracy per factor, trained here unless
  ``--classifier`` gives one, and its accuracy on takes prompted with every instrument family x
  mode, ``--rounds`` times (``musae_core/demo/score.py: prompt_following``), beside the
  token judge's (``musae_core/demo/token_classifier.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def cold_load_seconds(model: str) -> float:
    """Wall seconds for a fresh interpreter to import musae and load ``model``."""
    code = (
        "import time; t = time.perf_counter(); "
        "from musae_core.models.loading import load_model; "
        f"load_model({model!r}, device='cpu', dtype='fp32'); "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--classifier", default=None, help="factor classifier .npz to reuse")
    parser.add_argument("--take-seconds", type=float, default=8.0)
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2, help="takes per instrument x mode")
    parser.add_argument(
        "--classifier-corpus",
        default=None,
        help="another seed's corpus the classifiers also fit on",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    report: dict = {"model": args.model}

    from musae_core.demo.classifier_train import train_demo_classifier
    from musae_core.demo.codec_train import evaluate_codec
    from musae_core.demo.corpus import load_factors
    from musae_core.demo.data import load_corpus_audio, split_records
    from musae_core.demo.factor_classifier import FactorClassifier
    from musae_core.demo.score import prompt_following
    from musae_core.models.base import GenerationRequest
    from musae_core.models.loading import load_model
    from musae_core.models.sampling import SamplingSettings

    report["cold_load_s"] = [cold_load_seconds(args.model) for _ in range(3)]
    print("cold load (s)", report["cold_load_s"], flush=True)
    model, report["load_in_process"] = timed(
        lambda: load_model(args.model, device="cpu", dtype="fp32")
    )
    sr = model.sample_rate
    _, held = split_records(load_factors(args.corpus))
    audio, _ = load_corpus_audio(args.corpus, sr, held[:16])
    report["codec_quality_heldout"] = evaluate_codec(model.hf.audio_encoder, audio, max_clips=16)
    print("codec", report["codec_quality_heldout"], flush=True)
    codes = model.encode(torch.from_numpy(audio[:1]))
    model.decode(codes)  # warm-up
    _, report["decode_10s"] = timed(lambda: model.decode(codes))
    print("decode 10 s", report["decode_10s"], flush=True)
    request = GenerationRequest(
        prompts=(held[0]["caption"],),
        duration=10.0,
        seed=0,
        sampling=SamplingSettings(cfg_scale=args.cfg),
    )
    _, report["generate_10s"] = timed(lambda: model.generate(request))
    print("generate 10 s", report["generate_10s"], flush=True)

    if args.classifier:
        classifier = FactorClassifier.load(args.classifier)
        cv = Path(args.classifier).with_suffix(".json")
        report["classifier"] = json.loads(cv.read_text()) if cv.exists() else {}
    else:
        classifier, report["classifier"] = train_demo_classifier(
            model,
            args.corpus,
            Path(args.out).with_suffix(".classifier.npz"),
            extra_corpus=args.classifier_corpus,
        )
    print("classifier", report["classifier"], flush=True)
    from musae_core.demo.classifier_train import heldout_audio
    from musae_core.demo.token_classifier import fit_token_classifier

    judge = fit_token_classifier(model, *heldout_audio(args.corpus, args.classifier_corpus, sr))
    report["prompt_following"] = prompt_following(
        model,
        classifier,
        args.take_seconds,
        0,
        SamplingSettings(cfg_scale=args.cfg),
        rounds=args.rounds,
        token_judge=judge,
    )
    print("prompt following", report["prompt_following"], flush=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
