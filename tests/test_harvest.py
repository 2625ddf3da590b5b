"""Harvesting real audio: rows, provenance, exact activations, bad input, kill-and-resume."""

from __future__ import annotations

import errno
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from musae_core.audio.io import load_audio
from musae_core.errors import Cancelled, MusaeError
from musae_core.harvest import ActivationStore, HarvestConfig, harvest_audio
from musae_core.harvest.store import SHARDS_DIR
from musae_core.jobs import CancelToken
from musae_core.models.residual import capture_residual, residual_hooks

LAYERS = (1, 3)
SR = 32_000
HOP = 640  # tiny model: 32 kHz audio, 50 Hz frames
# name -> (seconds, file rate, expected clip lengths in frames with 0.5 s clips, 0.2 s minimum)
TONES = {
    "a_220.wav": (1.3, SR, [25, 25, 15]),
    "b_440.flac": (0.7, 16_000, [25, 10]),  # resampled to 32 kHz on load
    "c_short.wav": (0.1, SR, []),  # shorter than the minimum clip
    "sub/d_660.wav": (0.5, SR, [25]),
    "e_stereo.wav": (1.0, SR, [25, 25]),
}
EXPECTED_CLIPS = {name: frames for name, (_, _, frames) in TONES.items() if frames}
EXPECTED_ROWS = sum(sum(f) for f in EXPECTED_CLIPS.values()) + 25  # + tone half of f_half


def make_collection(folder):
    """Sine tones of several pitches/lengths/rates plus broken, empty and silent files."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, (seconds, rate, _)) in enumerate(TONES.items()):
        t = np.arange(round(seconds * rate)) / rate
        tone = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t)
        data = np.stack([tone, 0.5 * tone], axis=1) if "stereo" in name else tone
        (folder / name).parent.mkdir(exist_ok=True)
        sf.write(folder / name, data, rate)
    t = np.arange(SR // 2) / SR
    half = np.concatenate([0.3 * np.sin(2 * np.pi * 500 * t), np.zeros(SR // 2)])
    sf.write(folder / "f_half.wav", half, SR)  # clip 0 a tone, clip 1 silent
    sf.write(folder / "silent.wav", np.zeros(SR), SR)
    sf.write(folder / "empty.wav", np.zeros(0), SR)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    (folder / "notes.txt").write_text("not audio")
    return folder


def config(**overrides) -> HarvestConfig:
    base = dict(
        layers=LAYERS,
        clip_seconds=0.5,
        min_clip_seconds=0.2,
        batch_size=3,
        shard_rows=60,
        dtype="fp32",
    )
    return HarvestConfig(**{**base, **overrides})


def row_keys(store: ActivationStore) -> list[tuple[int, int, int]]:
    keys = []
    for name in store.shard_names():
        idx = store.read_index(name)
        keys += list(zip(idx["source_id"], idx["clip_index"], idx["frame"], strict=True))
    return [tuple(int(v) for v in k) for k in keys]


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return make_collection(tmp_path_factory.mktemp("collection"))


@pytest.fixture(scope="module")
def reference(tiny_model, collection, tmp_path_factory):
    out = tmp_path_factory.mktemp("stores") / "ref"
    report = harvest_audio(tiny_model, collection, out, config())
    return out, report


def test_rows_counts_and_skipped_files(reference):
    out, report = reference
    store = ActivationStore.open(out)
    assert store.num_rows(1) == store.num_rows(3) == report.rows == EXPECTED_ROWS
    assert report.files_corrupt == ["corrupt.wav"] and report.files_empty == ["empty.wav"]
    assert report.files_silent == ["silent.wav"] and report.files_too_short == ["c_short.wav"]
    assert report.clips_silent == 1 and report.rows_nonfinite == 0
    assert len(store.shard_names()) == report.shards > 1
    meta = json.loads((out / "store.json").read_text())
    assert meta["model_id"] == "tiny" and meta["layers"] == [1, 3] and meta["d_model"] == 64
    assert meta["conditioning"] == "unconditional" and meta["clip_seconds"] == 0.5
    assert meta["frame_rate"] == 50.0 and meta["sample_rate"] == SR and meta["musae_version"]
    assert len(set(row_keys(store))) == EXPECTED_ROWS  # no row twice


def test_index_maps_rows_back_to_file_clip_and_time(reference, collection):
    store = ActivationStore.open(reference[0])
    sources = {s["source_id"]: s for s in store.sources()}
    clips: dict[tuple[str, int], list[int]] = {}
    for name in store.shard_names():
        idx = store.read_index(name)
        for sid, ci, start, frame, time in zip(*(idx[k] for k in idx), strict=True):
            assert start == pytest.approx(0.5 * ci) and time == pytest.approx(start + frame / 50)
            clips.setdefault((sources[int(sid)]["name"], int(ci)), []).append(int(frame))
    expected = {
        (n, i): list(range(f)) for n, fr in EXPECTED_CLIPS.items() for i, f in enumerate(fr)
    }
    expected[("f_half.wav", 0)] = list(range(25))
    assert {k: sorted(v) for k, v in clips.items()} == expected
    path = store.audio_path(next(s for s in sources.values() if s["name"] == "sub/d_660.wav"))
    assert path == (collection / "sub" / "d_660.wav").resolve()


@pytest.mark.parametrize(
    "name, clip_index", [("a_220.wav", 1), ("a_220.wav", 2), ("b_440.flac", 1)]
)
def test_activations_equal_direct_teacher_forcing(
    tiny_model, reference, collection, name, clip_index
):
    store = ActivationStore.open(reference[0])
    sid = next(s["source_id"] for s in store.sources() if s["name"] == name)
    audio = load_audio(collection / name, SR)[clip_index * SR // 2 : (clip_index + 1) * SR // 2]
    codes = tiny_model.encode(torch.from_numpy(audio)[None])
    with capture_residual(tiny_model, list(LAYERS)) as rec:
        tiny_model.teacher_force(codes)
    for layer in LAYERS:
        want = rec.activations(layer, codes.shape[-1])[0]
        got = torch.cat([
            acts[(idx["source_id"] == sid) & (idx["clip_index"] == clip_index)]
            for _, acts, idx in store.iter_shards(layer)
        ])  # fmt: skip
        assert got.shape == want.shape == (len(audio) // HOP, 64)
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_fp16_default_and_batching_do_not_change_rows(tiny_model, reference, collection, tmp_path):
    report = harvest_audio(
        tiny_model, collection, tmp_path / "s", config(dtype="fp16", batch_size=1)
    )
    store, ref = ActivationStore.open(tmp_path / "s"), ActivationStore.open(reference[0])
    assert report.rows == EXPECTED_ROWS and store.dtype == "fp16"
    assert store.read_shard(store.shard_names()[0], 1, dtype=None).dtype == torch.float16
    order = lambda s: np.lexsort(np.array(row_keys(s)).T[::-1])  # noqa: E731
    a = torch.cat([store.read_shard(n, 3) for n in store.shard_names()])[order(store)]
    b = torch.cat([ref.read_shard(n, 3) for n in ref.shard_names()])[order(ref)]
    torch.testing.assert_close(a, b, atol=2e-2, rtol=1e-2)


def test_cancel_then_resume_gives_same_rows_without_duplicates(tiny_model, collection, tmp_path):
    token = CancelToken()

    def stop_after_two_files(done, total):
        if done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        harvest_audio(
            tiny_model,
            collection,
            tmp_path / "s",
            config(),
            progress=stop_after_two_files,
            cancel=token,
        )
    partial = ActivationStore.open(tmp_path / "s").num_rows()
    assert 0 < partial < EXPECTED_ROWS  # the finished clips were kept
    report = harvest_audio(tiny_model, collection, tmp_path / "s", config())
    store = ActivationStore.open(tmp_path / "s")
    assert report.clips_resumed > 0 and report.rows == EXPECTED_ROWS - partial
    assert store.num_rows() == EXPECTED_ROWS == len(set(row_keys(store)))


def test_crash_mid_write_then_resume(tiny_model, collection, tmp_path):
    def crash(done, total):
        if done == 4:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        harvest_audio(tiny_model, collection, tmp_path / "s", config(shard_rows=30), progress=crash)
    shards = tmp_path / "s" / SHARDS_DIR
    (shards / ".tmp-rank000-000099-1").mkdir()  # what a hard kill mid-write leaves behind
    (shards / ".tmp-rank000-000099-1" / "acts_L1.safetensors").write_bytes(b"half")
    harvest_audio(tiny_model, collection, tmp_path / "s", config(shard_rows=30))
    store = ActivationStore.open(tmp_path / "s")
    assert store.num_rows() == EXPECTED_ROWS == len(set(row_keys(store)))
    assert not [p for p in shards.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("layers", [0, 2], "--layers 0,2"),
        ("d_model", 128, "d_model 128"),
        ("model_id", "facebook/musicgen-small", "--model facebook/musicgen-small"),
        ("dtype", "fp16", "--dtype fp16"),
        ("clip_seconds", 10.0, "--clip-seconds 10"),
    ],
)
def test_resume_into_mismatched_store_raises(tiny_model, collection, tmp_path, key, value, message):
    out = tmp_path / "s"
    out.mkdir()
    meta = {
        "format": "musae-activations",
        "version": 1,
        "model_id": "tiny",
        "layers": [1, 3],
        "d_model": 64,
        "frame_rate": 50.0,
        "sample_rate": SR,
        "dtype": "fp32",
        "conditioning": "unconditional",
        "clip_seconds": 0.5,
        "min_clip_seconds": 0.2,
    }
    (out / "store.json").write_text(json.dumps({**meta, key: value}))
    with pytest.raises(MusaeError, match=message) as info:
        harvest_audio(tiny_model, collection, out, config())
    assert str(out) in info.value.problem and "new --out" in info.value.fix
    assert not (out / SHARDS_DIR).exists() or not any((out / SHARDS_DIR).iterdir())


def test_out_folder_that_is_not_a_store_raises(tiny_model, collection, tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(MusaeError, match="not an activation store"):
        harvest_audio(tiny_model, collection, tmp_path, config())


def test_nothing_usable_raises(tiny_model, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    sf.write(folder / "silent.wav", np.full(SR, 1e-7), SR)
    (folder / "corrupt.flac").write_bytes(b"fLaC nonsense")
    with pytest.raises(MusaeError, match=r"Nothing usable.*1 corrupt.*1 silent"):
        harvest_audio(tiny_model, folder, tmp_path / "s", config())
    assert not (tmp_path / "s").exists()  # no store.json / sources.json / empty shards left
    (tmp_path / "empty").mkdir()
    with pytest.raises(MusaeError, match=r"Nothing usable"):
        harvest_audio(tiny_model, folder, tmp_path / "empty", config())
    assert (tmp_path / "empty").is_dir() and not any((tmp_path / "empty").iterdir())


def test_nonfinite_rows_are_dropped_and_counted(tiny_model, collection, tmp_path):
    def poison(hidden, ctx):
        hidden = hidden.clone()
        hidden[:, 5:8] = float("nan")  # frames 5..7 of every clip
        return hidden

    with residual_hooks(tiny_model, {3: [poison]}):
        report = harvest_audio(tiny_model, collection, tmp_path / "s", config())
    store = ActivationStore.open(tmp_path / "s")
    assert report.rows_nonfinite == 3 * report.clips
    assert store.num_rows() == EXPECTED_ROWS - 3 * report.clips
    assert all(torch.isfinite(acts).all() for _, acts, _ in store.iter_shards(3))
    assert all(not np.isin(idx["frame"], [5, 6, 7]).any() for _, _, idx in store.iter_shards(1))


def test_disk_full_removes_temp_shard(tiny_model, collection, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("musae_core.harvest.writer.save_file", full)
    with pytest.raises(MusaeError, match="No space left") as info:
        harvest_audio(tiny_model, collection, tmp_path / "s", config())
    assert "free disk space" in info.value.fix
    assert not (tmp_path / "s").exists()  # no temp shard, and the store it created is gone


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_captions_condition_the_lm(tiny_model, collection, tmp_path, fmt):
    from musae_core.harvest import load_captions

    if fmt == "json":
        file = tmp_path / "captions.json"
        file.write_text(json.dumps({"d_660.wav": "bright flute"}))
    else:
        file = tmp_path / "captions.csv"
        file.write_text("file,caption\nsub/d_660.wav,bright flute\n")
    captions = load_captions(file)
    one = [collection / "sub" / "d_660.wav"]
    from musae_core.harvest import list_audio_files

    files = [f for f in list_audio_files(collection) if f.path == one[0].resolve()]
    harvest_audio(tiny_model, files, tmp_path / "s", config(), captions=captions)
    store = ActivationStore.open(tmp_path / "s")
    assert store.conditioning == "captions" and store.sources()[0]["caption"] == "bright flute"
    codes = tiny_model.encode(torch.from_numpy(load_audio(one[0], SR))[None])
    with capture_residual(tiny_model, [3]) as rec:
        tiny_model.teacher_force(codes, ["bright flute"])
    got = store.read_shard(store.shard_names()[0], 3)
    torch.testing.assert_close(got, rec.activations(3, 25)[0], atol=1e-4, rtol=1e-4)
    with pytest.raises(MusaeError, match="conditioning"):  # an unconditional resume would mix
        harvest_audio(tiny_model, files, tmp_path / "s", config())


def test_list_file_input(tiny_model, collection, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two files\n{collection / 'a_220.wav'}\n\n{collection / 'corrupt.wav'}\n")
    report = harvest_audio(tiny_model, listing, tmp_path / "s", config())
    assert report.rows == 65 and report.files_corrupt


def test_store_can_be_moved_and_reopened(reference, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(reference[0], moved)
    assert ActivationStore.open(moved).num_rows() == EXPECTED_ROWS


def test_progress_is_reported_inside_a_long_file(tiny_model, tmp_path):
    """A file of many clips reports progress after every batch (log lines stay alive), not only
    when the file is done."""
    t = np.arange(3 * SR) / SR
    sf.write(tmp_path / "long.wav", 0.3 * np.sin(2 * np.pi * 330 * t), SR)
    calls = []
    harvest_audio(
        tiny_model,
        tmp_path / "long.wav",
        tmp_path / "s",
        config(),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(0, 1), (0, 1), (1, 1)]  # 6 clips in batches of 3, then the file's end
