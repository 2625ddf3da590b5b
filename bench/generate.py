"""Steering overhead: seconds per take for plain transformers generate, musae unsteered and
musae steered with 8 features, measured interleaved in one run; prints the ratios.

    python bench/generate.py                       # tiny model, CPU (CI-sized)
    python bench/generate.py --config small --device cuda --duration 10   # musicgen-small shape
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from musae_core.models.base import GenerationRequest
from musae_core.models.musicgen_hf import TransformersMusicGen
from musae_core.render import render
from musae_core.steering import AddDirection


def build(config: str, device: str, dtype: torch.dtype) -> TransformersMusicGen:
    if config == "tiny":
        from musae_core.models.tiny import build_tiny_musicgen

        hf, tok = build_tiny_musicgen(0)
    else:
        from transformers import MusicgenForConditionalGeneration

        from musae_core.models.reference_configs import musicgen_reference_config
        from musae_core.models.tiny import tiny_tokenizer

        torch.manual_seed(0)
        hf = MusicgenForConditionalGeneration(musicgen_reference_config(config))
        hf.generation_config.update(
            pad_token_id=2048, bos_token_id=2048, decoder_start_token_id=2048, max_length=1500
        )
        tok = tiny_tokenizer()  # the real T5 tokenizer needs a download; ids only must be valid
    return TransformersMusicGen(hf.to(device, dtype), tok, f"random:{config}")


def timed(fn) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="tiny", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1 is steadiest)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    model = build(args.config, args.device, dtype)
    request = GenerationRequest(prompts=("simple melody",), duration=args.duration, seed=0)
    layer = model.num_layers // 2
    gen = torch.Generator().manual_seed(0)
    features = [
        AddDirection(
            layer=layer, direction=torch.randn(model.d_model, generator=gen), alpha=0.5, beta=2.0
        )
        for _ in range(8)
    ]
    ids = model.tokenizer(list(request.prompts), return_tensors="pt").to(model.device)
    steps = round(args.duration * model.frame_rate) + model.num_codebooks - 1
    runs = {
        "transformers generate": lambda: model.hf.generate(
            **ids, do_sample=True, guidance_scale=3.0, top_k=250, max_new_tokens=steps
        ),
        "musae unsteered": lambda: model.generate(request),
        "musae steered x8": lambda: render(model, request, features),
    }
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(
        f"model={model.model_id} device={args.device} dtype={args.dtype} "
        f"audio={args.duration}s repeats={args.repeats} threads={args.threads}"
    )
    for name, value in med.items():
        print(f"  {name:24s} {value:8.3f} s")
    print(
        "steering overhead ratio (steered x8 / unsteered): "
        f"{med['musae steered x8'] / med['musae unsteered']:.3f}"
    )
    print(
        "musae unsteered / transformers generate:          "
        f"{med['musae unsteered'] / med['transformers generate']:.3f}"
    )


if __name__ == "__main__":
    main()
