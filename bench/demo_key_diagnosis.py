"""Does the demo LM know the key? Six measurements that locate where mode following fails.

    python bench/demo_key_diagnosis.py --model W/model --work W --corpus CORPUS [--take-seconds 6]
        [--classifier resources/demo/factor_classifier.npz]

1. generated takes: every instrument x mode prompted once; constant-Q chroma of each take
   against the 24 rotated Krumhansl profiles; share of takes whose best key is the prompted
   one (top-1, top-3), and where the prompted key beats its parallel key (same tonic, other
   mode);
2. teacher forcing on held-out clips (W/codes.npz): loss over the first second with the right
   caption, the mode word flipped, the tonic moved a tritone; the increase is what the LM
   reads from the key words;
3. the codes themselves: a linear probe on each clip's token histogram, per codebook, for the
   key (24 values): what the LM could learn from each stream;
4. whether a take holds the key it opened in: best key of its first and second half agree, for
   the generated takes and for as many held-out corpus clips (the measure's own ceiling);
5. whether the opening depends on the mode word: total-variation distance between the first
   frame's codebook-0 distributions under the caption and under it with the mode flipped,
   beside the same with the instrument swapped (a factor the LM follows);
6. which codebooks carry the mode as the factor classifier hears it (``--classifier``):
   training-split clips (which the classifier never saw) through the codec, then with codebooks
   j.. replaced by uniform-random tokens or by another clip's, decoded and judged; if the mode
   survives noisy residual codebooks, what fails is the LM's first-codebook stream.
Prints a ratio-style report; nothing is asserted (benchmarks measure, tests assert).
"""

from __future__ import annotations

import argparse
import random
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch


def key_scores(audio: np.ndarray, sample_rate: int) -> dict[tuple[int, str], float]:
    """Correlation of the take's mean constant-Q chroma with each of the 24 key profiles."""
    import librosa

    from musae_core.demo.factor_classifier import key_correlations

    chroma = librosa.feature.chroma_cqt(y=audio, sr=sample_rate, hop_length=320, tuning=0.0)
    major, minor = key_correlations(chroma.mean(axis=1))
    return {(k, m): float(c[k]) for m, c in (("major", major), ("minor", minor)) for k in range(12)}


def prompt_targets(seed: int) -> list:
    """Every instrument x mode once, the other factors drawn from ``seed``."""
    from musae_core.demo.factors import INSTRUMENT_FAMILIES, MODES, sample_factors

    rng = random.Random(seed)
    return [
        replace(sample_factors(rng), instrument=i, mode=m, program=INSTRUMENT_FAMILIES[i][0])
        for i in sorted(INSTRUMENT_FAMILIES)
        for m in MODES
    ]


def generated_keys(
    model, seconds: float, seed: int, cfg: float = 3.0, top_k: int = 250, temperature: float = 1.0
) -> dict[str, float]:
    """Key of takes prompted with every instrument x mode (other factors random)."""
    from musae_core.labeling.steering_eval import mono_takes
    from musae_core.models.base import GenerationRequest
    from musae_core.models.sampling import SamplingSettings

    targets = prompt_targets(seed)
    sampling = SamplingSettings(temperature=temperature, top_k=top_k, cfg_scale=cfg)
    request = GenerationRequest(
        prompts=tuple(t.caption() for t in targets), duration=seconds, seed=seed, sampling=sampling
    )
    takes = mono_takes(model.generate(request))
    held = halves_agree(takes, model.sample_rate)
    top1 = top3 = parallel = 0
    for target, take in zip(targets, takes, strict=True):
        scores = key_scores(take, model.sample_rate)
        order = sorted(scores, key=scores.get, reverse=True)
        want = (target.tonic, target.mode)
        other = (target.tonic, "minor" if target.mode == "major" else "major")
        top1 += order[0] == want
        top3 += want in order[:3]
        parallel += scores[want] > scores[other]
    n = len(targets)
    return {
        "takes": n,
        "key_top1": top1 / n,
        "key_top3": top3 / n,
        "chance_top1": 1 / 24,
        "beats_parallel_key": parallel / n,
        "halves_same_key": held[0],
        "halves_same_mode": held[1],
    }


def best_key(audio: np.ndarray, sample_rate: int) -> tuple[int, str]:
    scores = key_scores(audio, sample_rate)
    return max(scores, key=scores.get)


def halves_agree(clips: list[np.ndarray], sample_rate: int) -> tuple[float, float]:
    """Share of clips whose two halves have the same best key, and the same mode."""
    pairs = [
        (best_key(c[: len(c) // 2], sample_rate), best_key(c[len(c) // 2 :], sample_rate))
        for c in clips
    ]
    return (
        float(np.mean([a == b for a, b in pairs])),
        float(np.mean([a[1] == b[1] for a, b in pairs])),
    )


def real_key_stability(
    corpus: Path, sample_rate: int, seconds: float, clips: int = 24
) -> dict[str, float]:
    """``halves_agree`` on held-out corpus clips cut to the takes' length."""
    from musae_core.demo.corpus import load_factors
    from musae_core.demo.data import load_corpus_audio, split_records

    records = split_records(load_factors(corpus))[1][:clips]
    audio, _ = load_corpus_audio(corpus, sample_rate, records)
    same_key, same_mode = halves_agree(list(audio[:, : int(seconds * sample_rate)]), sample_rate)
    return {"clips": len(records), "halves_same_key": same_key, "halves_same_mode": same_mode}


def caption_gap(hf, work: Path, frames: int = 50, clips: int = 96) -> dict[str, float]:
    """Held-out loss over the first ``frames`` frames: right caption vs wrong mode / tonic."""
    from musae_core.demo.factors import NOTE_NAMES, flip_mode
    from musae_core.demo.lm_train import lm_loss
    from musae_core.demo.tokenizer import demo_tokenizer
    from musae_core.demo.train import heldout_codes

    codes, captions, _ = heldout_codes(work)
    x = torch.from_numpy(codes[:clips, :, :frames].astype(np.int64))
    captions = captions[:clips]

    def tritone(c: str) -> str:
        m = re.search(r"in (\S+) (major|minor)", c)
        name = NOTE_NAMES[(NOTE_NAMES.index(m.group(1)) + 6) % 12]
        return c[: m.start(1)] + name + c[m.end(1) :]

    tokenizer, losses = demo_tokenizer(), {}
    variants = {
        "right": captions,
        "mode_flipped": [flip_mode(c) for c in captions],
        "tonic_tritone": [tritone(c) for c in captions],
    }
    with torch.inference_mode():
        for name, caps in variants.items():
            parts = [
                float(
                    lm_loss(
                        hf,
                        tokenizer,
                        x[s : s + 16],
                        caps[s : s + 16],
                        torch.zeros(len(caps[s : s + 16]), dtype=torch.bool),
                    )[0]
                )
                for s in range(0, len(x), 16)
            ]
            losses[name] = float(np.mean(parts))
    return {
        "loss_right": losses["right"],
        "mode_flip_increase": losses["mode_flipped"] - losses["right"],
        "tritone_increase": losses["tonic_tritone"] - losses["right"],
    }


def opening_shift(hf, seed: int = 0) -> dict[str, float]:
    """Mean total-variation distance of the first frame's codebook-0 distribution (no CFG)."""
    from musae_core.demo.factors import INSTRUMENT_FAMILIES, flip_mode
    from musae_core.demo.lm_train import text_condition
    from musae_core.demo.tokenizer import demo_tokenizer

    families = sorted(INSTRUMENT_FAMILIES)
    targets = prompt_targets(seed)
    captions = [t.caption() for t in targets]
    swapped = [
        c.replace(t.instrument, families[(families.index(t.instrument) + 6) % 12])
        for c, t in zip(captions, targets, strict=True)
    ]
    tokenizer, bos = demo_tokenizer(), hf.config.decoder.bos_token_id
    k = hf.config.decoder.num_codebooks

    def first_frame(caps: list[str]) -> torch.Tensor:
        enc, mask = text_condition(hf, tokenizer, caps, torch.zeros(len(caps), dtype=torch.bool))
        ids = torch.full((len(caps) * k, 1), bos)
        hidden = hf.decoder.model(
            input_ids=ids, encoder_hidden_states=enc, encoder_attention_mask=mask
        ).last_hidden_state
        return torch.softmax(hf.decoder.lm_heads[0](hidden[:, -1]), dim=-1)

    with torch.inference_mode():
        base = first_frame(captions)
        flipped = first_frame([flip_mode(c) for c in captions])
        other = first_frame(swapped)
    return {
        "mode_flipped": 0.5 * float((base - flipped).abs().sum(-1).mean()),
        "instrument_swapped": 0.5 * float((base - other).abs().sum(-1).mean()),
    }


def code_key_probe(work: Path, corpus: Path) -> dict[str, float]:
    """Linear-probe accuracy for the key from each clip's token histogram, per codebook."""
    from musae_core.demo.corpus import load_factors
    from musae_core.demo.data import is_heldout
    from musae_core.demo.lm_train import CODES, load_codes
    from musae_core.demo.probes import probe_accuracy
    from musae_core.demo.token_classifier import code_histograms

    codes, _, clips = load_codes(work / CODES)
    by_clip = {r["clip"]: r for r in load_factors(corpus)}
    keys = [by_clip[c]["key"] for c in clips]
    train = np.array([not is_heldout(int(c)) for c in clips])
    vocab = int(codes.max()) + 1
    hists = [code_histograms(codes[:, k], vocab) for k in range(codes.shape[1])]
    out = {f"codebook_{k}": probe_accuracy(h, keys, train) for k, h in enumerate(hists)}
    out["all_codebooks"] = probe_accuracy(np.hstack(hists), keys, train)
    return out


def residual_noise_mode(
    model, corpus: Path, classifier: Path, seconds: float, clips: int = 64, seed: int = 0
) -> dict[str, float]:
    """Classifier accuracy (mode, instrument) on codec round trips with noisy later codebooks."""
    from musae_core.demo.corpus import load_factors
    from musae_core.demo.data import load_corpus_audio, split_records
    from musae_core.demo.factor_classifier import FactorClassifier, factor_labels

    judge, rate = FactorClassifier.load(classifier), model.sample_rate
    train, _ = split_records(load_factors(corpus))
    audio, records = load_corpus_audio(corpus, rate, train[:clips])
    audio = torch.from_numpy(audio[:, : int(seconds * rate)])
    codes = torch.cat([model.encode(audio[s : s + 8]) for s in range(0, len(audio), 8)])
    generator = torch.Generator().manual_seed(seed)
    vocab = model.hf.config.decoder.vocab_size

    def judged(c: torch.Tensor) -> dict[str, float]:
        wave = torch.cat(
            [model.decode(c[s : s + 8]).reshape(len(c[s : s + 8]), -1) for s in range(0, len(c), 8)]
        ).numpy()
        said = judge.predict(list(wave), rate)
        return {
            f: float(
                np.mean([p == factor_labels(r, f) for p, r in zip(said[f], records, strict=True)])
            )
            for f in ("mode", "instrument")
        }

    modes = [r["mode"] for r in records]
    out = {"clips": len(records), "mode_majority": max(map(modes.count, set(modes))) / len(modes)}
    for name, value in judged(codes).items():
        out[f"codec_{name}"] = value
    for j in range(codes.shape[1] - 1, 0, -1):
        noisy = codes.clone()
        noisy[:, j:] = torch.randint(0, vocab, noisy[:, j:].shape, generator=generator)
        other = codes.clone()
        other[:, j:] = codes[torch.roll(torch.arange(len(codes)), 1), j:]
        for kind, c in (("uniform", noisy), ("other_clip", other)):
            for name, value in judged(c).items():
                out[f"cb{j}+_{kind}_{name}"] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="demo model folder")
    parser.add_argument("--work", required=True, help="the `musae demo train` folder")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--take-seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cfg", type=float, default=3.0, help="guidance scale of the takes")
    parser.add_argument("--top-k", type=int, default=250)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument(
        "--classifier", default=None, help="factor classifier .npz: also measure 6 (~7 CPU min)"
    )
    args = parser.parse_args()
    from musae_core.models.loading import load_model

    torch.set_num_threads(2)
    model = load_model(args.model, device="cpu", dtype="fp32")
    report = {
        "generated": generated_keys(
            model, args.take_seconds, args.seed, args.cfg, args.top_k, args.temperature
        ),
        "teacher_forced_first_second": caption_gap(model.hf.eval(), Path(args.work)),
        "opening_codebook0_tv": opening_shift(model.hf.eval(), args.seed),
        "code_histogram_key_probe": code_key_probe(Path(args.work), Path(args.corpus)),
        "held_out_clips": real_key_stability(
            Path(args.corpus), model.sample_rate, args.take_seconds
        ),
    }
    if args.classifier:
        report["mode_under_codebook_noise"] = residual_noise_mode(
            model, Path(args.corpus), Path(args.classifier), args.take_seconds
        )
    for section, values in report.items():
        print(section)
        for name, value in values.items():
            print(f"  {name:22s} {value:.3f}" if isinstance(value, float) else f"  {name} {value}")


if __name__ == "__main__":
    main()
