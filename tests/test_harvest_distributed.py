"""Two torchrun processes (gloo, CPU) harvest the same rows as one process, split by rank."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from musae_core.harvest import ActivationStore, HarvestConfig, harvest_audio
from musae_core.harvest.distributed import DistContext


def _collection(folder):
    folder.mkdir()
    for i, seconds in enumerate([0.5, 1.2, 0.7, 1.0, 0.4]):
        t = np.arange(round(seconds * 32_000)) / 32_000
        sf.write(folder / f"tone{i}.wav", 0.3 * np.sin(2 * np.pi * (200 + 90 * i) * t), 32_000)
    (folder / "broken.wav").write_bytes(b"not audio")
    return folder


def _sorted_rows(store: ActivationStore, layer: int) -> tuple[np.ndarray, torch.Tensor]:
    keys, acts = [], []
    for _, a, idx in store.iter_shards(layer):
        keys.append(np.stack([idx["source_id"], idx["clip_index"], idx["frame"]], axis=1))
        acts.append(a)
    keys_arr, acts_t = np.concatenate(keys), torch.cat(acts)
    order = np.lexsort(keys_arr.T[::-1])
    return keys_arr[order], acts_t[order]


def test_split_by_rank_covers_everything_once():
    items = list(range(11))
    parts = [DistContext(rank, 3).split(items) for rank in range(3)]
    assert sorted(x for part in parts for x in part) == items and parts[1] == [1, 4, 7, 10]


@pytest.mark.slow
def test_two_gloo_processes_match_one(tiny_model, tmp_path):
    audio = _collection(tmp_path / "audio")
    single = tmp_path / "single"
    config = HarvestConfig(
        layers=(1, 3), clip_seconds=0.5, min_clip_seconds=0.2, shard_rows=40, dtype="fp32"
    )
    harvest_audio(tiny_model, audio, single, config)
    out = tmp_path / "multi"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "musae_core.cli", "harvest", "--model", "tiny", "--device", "cpu",
        "--model-dtype", "fp32", "--layers", "1,3", "--audio", str(audio), "--out", str(out),
        "--clip-seconds", "0.5", "--min-clip-seconds", "0.2", "--shard-rows", "40",
        "--dtype", "fp32",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "broken.wav" in done.stderr and done.stdout.count("rows in") == 1  # rank 0 reports
    one, two = ActivationStore.open(single), ActivationStore.open(out)
    assert {n.split("-")[0] for n in two.shard_names()} == {"rank000", "rank001"}
    assert two.num_rows() == one.num_rows() > 0
    assert two.sources() == one.sources()
    keys_one, acts_one = _sorted_rows(one, 3)
    keys_two, acts_two = _sorted_rows(two, 3)
    assert len(np.unique(keys_two, axis=0)) == len(keys_two)
    assert np.array_equal(keys_one, keys_two)
    torch.testing.assert_close(acts_two, acts_one, atol=1e-4, rtol=1e-4)
