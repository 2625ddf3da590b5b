"""Generation speed: seconds to generate audio (batch 1, CFG on) for plain transformers
``generate``, musae unsteered, musae steered with 8 directions, and the musae fast decode path
(static KV cache, optionally torch.compile), measured interleaved in one run; prints ratios.

    python bench/generate.py                                  # tiny model, CPU, 10 s of audio
    python bench/generate.py --config small --layers 4 --duration 2   # small's shapes, 4 layers
    python bench/generate.py --config small --device cuda             # the GPU run (10 s)
    python bench/generate.py --config medium --device cuda --compile  # + torch.compile step
    python bench/generate.py --profile                                # cProfile of one take

Random weights time the same as trained ones (``reference_configs``). ``--layers`` truncates the
decoder (and the T5 encoder to 2 layers) so musicgen-small's widths fit a CPU budget.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from musae_core.models.base import GenerationRequest
from musae_core.models.musicgen_hf import TransformersMusicGen
from musae_core.models.static_cache import DecodeOptions
from musae_core.render import render
from musae_core.steering import AddDirection


def build(
    config: str, device: str, dtype: torch.dtype, layers: int | None = None
) -> TransformersMusicGen:
    """A random-weight model with the exact shapes of ``config`` ('tiny' is the test model)."""
    if config == "tiny":
        from musae_core.models.tiny import build_tiny_musicgen, tiny_config

        if layers is None:
            hf, tok = build_tiny_musicgen(0)
        else:
            from transformers import MusicgenForConditionalGeneration

            from musae_core.models.tiny import _set_generation_defaults, tiny_tokenizer

            torch.manual_seed(0)
            hf = MusicgenForConditionalGeneration(tiny_config(num_layers=layers))
            _set_generation_defaults(hf)
            tok = tiny_tokenizer()
    else:
        from transformers import MusicgenForConditionalGeneration

        from musae_core.models.reference_configs import musicgen_reference_config
        from musae_core.models.tiny import tiny_tokenizer

        cfg = musicgen_reference_config(config)
        if layers is not None:
            cfg.decoder.num_hidden_layers = layers
            cfg.text_encoder.num_layers = min(cfg.text_encoder.num_layers, 2)
        torch.manual_seed(0)
        hf = MusicgenForConditionalGeneration(cfg)
        hf.generation_config.update(
            pad_token_id=2048, bos_token_id=2048, decoder_start_token_id=2048, max_length=1500
        )
        tok = tiny_tokenizer()  # the real T5 tokenizer needs a download; ids only must be valid
    name = f"random:{config}" + (f"-{layers}L" if layers is not None else "")
    return TransformersMusicGen(hf.eval().to(device, dtype), tok, name)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def steering_features(model: TransformersMusicGen, n: int = 8) -> list[AddDirection]:
    gen = torch.Generator().manual_seed(0)
    layer = model.num_layers // 2
    return [
        AddDirection(
            layer=layer, direction=torch.randn(model.d_model, generator=gen), alpha=0.5, beta=2.0
        )
        for _ in range(n)
    ]


def with_options(model: TransformersMusicGen, options: DecodeOptions, fn):
    def run():
        previous, model.decode_options = model.decode_options, options
        try:
            return fn()
        finally:
            model.decode_options = previous

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="tiny", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--layers", type=int, default=None, help="truncate the decoder")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of audio")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1 is steadiest)")
    parser.add_argument("--compile", action="store_true", help="also time static+compile")
    parser.add_argument("--profile", action="store_true", help="cProfile one musae take")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    model = build(args.config, args.device, dtype, args.layers)
    device = model.device
    request = GenerationRequest(prompts=("simple melody",), duration=args.duration, seed=0)
    features = steering_features(model)
    eager, static = DecodeOptions(), DecodeOptions(static_cache=True)

    if args.profile:
        model.decode_options = eager
        model.generate(GenerationRequest(prompts=request.prompts, duration=0.2))
        prof = cProfile.Profile()
        prof.enable()
        model.generate(request)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return

    ids = model.tokenizer(list(request.prompts), return_tensors="pt").to(device)
    steps = round(args.duration * model.frame_rate) + max(model.delays)
    runs = {
        "transformers generate": lambda: model.hf.generate(
            **ids, do_sample=True, guidance_scale=3.0, top_k=250, max_new_tokens=steps
        ),
        "musae unsteered": with_options(model, eager, lambda: model.generate(request)),
        "musae steered x8": with_options(model, eager, lambda: render(model, request, features)),
        "musae fast (static)": with_options(model, static, lambda: model.generate(request)),
        "musae fast steered x8": with_options(
            model, static, lambda: render(model, request, features)
        ),
    }
    if args.compile:
        compiled = DecodeOptions(static_cache=True, compile=True)
        runs["musae static+compile"] = with_options(
            model, compiled, lambda: model.generate(request)
        )
    for fn in runs.values():  # warm-up (and compile) outside the timed runs
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            times[name].append(timed(fn, device))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    import transformers

    print(
        f"model={model.model_id} layers={model.num_layers} d_model={model.d_model} "
        f"device={device} ({_device_name(device)}) dtype={args.dtype} audio={args.duration}s "
        f"steps={steps} repeats={args.repeats} threads={args.threads} torch={torch.__version__} "
        f"transformers={transformers.__version__} python={platform.python_version()}"
    )
    base = med["transformers generate"]
    for name, value in med.items():
        print(
            f"  {name:24s} {value:8.3f} s  {1000 * value / steps:7.2f} ms/step  "
            f"x{base / value:5.2f} vs transformers"
        )
    unsteered = med["musae unsteered"]
    ratios = {
        "steering overhead (steered x8 / unsteered)": med["musae steered x8"] / unsteered,
        "musae unsteered / transformers generate": unsteered / base,
        "fast (static) / musae unsteered": med["musae fast (static)"] / unsteered,
        "fast steered x8 / fast unsteered": (
            med["musae fast steered x8"] / med["musae fast (static)"]
        ),
    }
    if "musae static+compile" in med:
        ratios["static+compile / musae unsteered"] = med["musae static+compile"] / unsteered
    for label, value in ratios.items():
        print(f"{label:46s} {value:.3f}")
    paths = {"static": static}
    if args.compile:
        paths["static+compile"] = DecodeOptions(static_cache=True, compile=True)
    reference = with_options(model, eager, lambda: render(model, request, features))().codes
    for name, options in paths.items():
        codes = with_options(model, options, lambda: render(model, request, features))().codes
        same = (codes == reference).mean()
        print(f"{'tokens equal to eager, steered, ' + name:46s} {same:.4%}")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


if __name__ == "__main__":
    main()
