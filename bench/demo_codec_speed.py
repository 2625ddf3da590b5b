"""Why the demo codec is spectral: training-step and decode speed of a small waveform EnCodec vs
the demo codec on the CPU. Run: nice -n 15 python bench/demo_codec_speed.py"""

from __future__ import annotations

import time

import torch
from transformers import EncodecConfig, EncodecModel

from musae_core.demo.codec import DemoCodecConfig, DemoCodecModel
from musae_core.demo.codec_train import frame_loss


def step_seconds(model, wav, loss_fn, repeats=3) -> float:
    """Best CPU seconds of one optimiser step (process time: the CPU is shared)."""
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        loss = loss_fn(model, wav)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    batch, seconds, sr = 8, 2.0, 16_000
    wav = torch.randn(batch, int(seconds * sr)) * 0.1
    encodec = EncodecModel(EncodecConfig(
        sampling_rate=sr, num_filters=8, hidden_size=64, codebook_size=1024, codebook_dim=64,
        upsampling_ratios=[8, 5, 4, 2], num_lstm_layers=1, target_bandwidths=[2.0],
    ))  # fmt: skip

    def encodec_loss(model, x):  # waveform decoder: even a plain L1 needs the full-rate convs
        emb = model.encoder(x[:, None])
        return (model.decoder(emb)[:, 0, : x.shape[-1]] - x).abs().mean()

    demo = DemoCodecModel(DemoCodecConfig())

    def demo_loss(model, x):  # what codec_train.py does in griffin_lim mode
        return sum(frame_loss(model, model.decoder_output(model.latents(x)), x).values())

    audio = batch * seconds
    for name, model, fn in (("encodec nf=8", encodec, encodec_loss), ("demo", demo, demo_loss)):
        s = step_seconds(model, wav, fn)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        rate = audio / s
        print(f"{name:14s} {params:5.2f} M params  step {s:6.2f} CPU s = {rate:6.1f} s audio/CPU s")
    with torch.inference_mode():
        codes = demo.encode(torch.randn(1, 1, 10 * sr)).audio_codes
        t0, c0 = time.perf_counter(), time.process_time()
        demo.decode(codes)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"demo decode 10 s: {wall:.3f} s wall, {cpu:.3f} CPU s")


if __name__ == "__main__":
    main()
