"""The activation store's read side: batches, damaged shards; plus generations and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from musae_core.cli import main
from musae_core.errors import MusaeError
from musae_core.harvest import (
    ActivationStore,
    GenerationSettings,
    HarvestConfig,
    harvest_generations,
)
from musae_core.harvest.prepare import open_for_writing
from musae_core.harvest.writer import ShardWriter
from musae_core.models.base import GenerationRequest
from musae_core.models.residual import capture_residual
from musae_core.models.sampling import SamplingSettings

D = 8


@pytest.fixture
def store(tmp_path):
    """A store of 60 rows in shards of >= 10 rows; column 0 of every row is its row number."""
    meta = {
        "format": "musae-activations",
        "version": 1,
        "model_id": "tiny",
        "layers": [0, 2],
        "d_model": D,
        "frame_rate": 50.0,
        "sample_rate": 32000,
        "dtype": "fp32",
        "clip_seconds": 1.0,
        "conditioning": "unconditional",
    }
    open_for_writing(tmp_path, meta)
    writer = ShardWriter(tmp_path, [0, 2], "fp32", shard_rows=10, background=True)
    row = 0
    for clip, n in enumerate([7, 3, 9, 1, 8, 12, 5, 6, 9]):
        acts = torch.zeros(n, D)
        acts[:, 0] = torch.arange(row, row + n, dtype=torch.float32)
        writer.add_clip(0, clip, float(clip), 50.0, {0: acts, 2: -acts})
        row += n
    writer.close()
    return ActivationStore.open(tmp_path)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_iter_batches_yields_every_row_exactly_once(store, shuffle, batch_size):
    batches = list(store.iter_batches(0, batch_size, shuffle=shuffle, seed=3))
    assert all(b.dtype == torch.float32 and b.shape[1] == D for b in batches)
    assert all(len(b) == batch_size for b in batches[:-1]) and 0 < len(batches[-1]) <= batch_size
    ids = torch.cat(batches)[:, 0].long()
    assert sorted(ids.tolist()) == list(range(60))
    assert (ids.tolist() != list(range(60))) == shuffle


def test_shuffle_is_seeded_and_drop_last(store):
    first = torch.cat(list(store.iter_batches(2, 7, shuffle=True, seed=1)))
    again = torch.cat(list(store.iter_batches(2, 7, shuffle=True, seed=1)))
    other = torch.cat(list(store.iter_batches(2, 7, shuffle=True, seed=2)))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert sum(len(b) for b in store.iter_batches(0, 7, drop_last=True)) == 56


def test_shards_hold_whole_clips_and_index(store):
    assert store.num_rows(0) == 60 and len(store.shard_names()) == 5
    assert [store.shard_num_rows(n) for n in store.shard_names()] == [10, 10, 20, 11, 9]
    for name in store.shard_names():
        assert name.startswith("rank000-")
        acts, idx = store.read_shard(name, 0), store.read_index(name)
        assert torch.equal(store.read_shard(name, 2), -acts)
        assert np.array_equal(idx["clip_start"], idx["clip_index"].astype(float))
        np.testing.assert_allclose(idx["time"], idx["clip_start"] + idx["frame"] / 50.0)
    assert store.done_clips() == {(0, c) for c in range(9)}


def test_unknown_layer_and_missing_store(store, tmp_path):
    with pytest.raises(MusaeError, match="Layer 1 is not in activation store"):
        store.read_shard(store.shard_names()[0], 1)
    with pytest.raises(MusaeError, match="not an activation store"):
        ActivationStore.open(tmp_path / "nowhere")


@pytest.mark.parametrize("file", ["acts_L2.safetensors", "index.npz", "shard.json"])
def test_truncated_shard_names_file_and_fix(store, file):
    name = store.shard_names()[1]
    path = store.shard_path(name) / file
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    fresh = ActivationStore.open(store.path)
    with pytest.raises(MusaeError) as info:
        fresh.read_shard(name, 2)
        fresh.read_index(name)
    assert str(path) in info.value.problem
    assert str(store.shard_path(name)) in info.value.fix and "re-run" in info.value.fix
    if file != "index.npz":
        with pytest.raises(MusaeError):
            list(ActivationStore.open(store.path).iter_batches(2, 16))


def test_generations_are_harvested_with_audio_and_resume(tiny_model, tmp_path):
    config = HarvestConfig(layers=(0, 3), dtype="fp32", shard_rows=20)
    settings = GenerationSettings(
        duration=0.3, seed=5, variants=2, sampling=SamplingSettings(top_k=50)
    )
    out = tmp_path / "gen"
    report = harvest_generations(tiny_model, ["calm piano", "drums"], out, config, settings)
    store = ActivationStore.open(out)
    assert report.rows == store.num_rows() == 4 * 15 and store.conditioning == "generated"
    # the store records the sampling under the keys it always had
    assert store.meta["generation"] == {
        "temperature": 1.0,
        "top_k": 50,
        "top_p": 0.0,
        "cfg_scale": 3.0,
    }
    sources = store.sources()
    assert [s["path"] for s in sources] == [
        "generated:calm piano#5", "generated:calm piano#6", "generated:drums#7",
        "generated:drums#8",
    ]  # fmt: skip
    audio, rate = sf.read(store.audio_path(sources[2]))
    assert rate == 32_000 and len(audio) == round(0.3 * 32_000)
    # rows equal the residual captured while generating the same take
    request = GenerationRequest(
        prompts=("drums",), duration=0.3, seed=7, sampling=settings.sampling
    )
    with capture_residual(tiny_model, [3]) as rec:
        tiny_model.generate(request)
    rows = torch.cat([
        acts[idx["source_id"] == 2] for _, acts, idx in store.iter_shards(3)
    ])  # fmt: skip
    torch.testing.assert_close(rows, rec.activations(3, 15)[0])
    again = harvest_generations(tiny_model, ["calm piano", "drums"], out, config, settings)
    assert again.rows == 0 and again.clips_resumed == 4 and store.num_rows() == 60


def test_cli_harvest_audio_and_errors(tmp_path, capsys):
    folder = tmp_path / "audio"
    folder.mkdir()
    t = np.arange(16_000) / 32_000
    sf.write(folder / "x.wav", 0.3 * np.sin(2 * np.pi * 300 * t), 32_000)
    (folder / "bad.wav").write_bytes(b"junk")
    out = tmp_path / "store"
    args = [
        "harvest",
        "--model",
        "tiny",
        "--device",
        "cpu",
        "--layers",
        "0,2",
        "--audio",
        str(folder),
        "--out",
        str(out),
        "--clip-seconds",
        "0.5",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "25 rows" in captured.out and "bad.wav" in captured.err
    assert json.loads((out / "store.json").read_text())["dtype"] == "fp16"
    assert main([*args[:-2], "--clip-seconds", "1"]) == 2  # resume with other settings
    assert "--clip-seconds 0.5" in capsys.readouterr().err
    assert main([*args[:6], "0,9", *args[7:]]) == 2
    assert "Layer 9" in capsys.readouterr().err
