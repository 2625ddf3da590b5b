"""`musae generate` end to end: WAV + sidecar, steering from a vector file, clean errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from musae_core.cli import main


def _generate(tmp_path, name, *extra):
    out = tmp_path / name
    code = main(
        [
            "generate",
            "--model",
            "tiny",
            "--device",
            "cpu",
            "--prompt",
            "calm",
            "--duration",
            "0.5",
            "--seed",
            "1",
            "--out",
            str(out),
            *extra,
        ]
    )
    return code, out


def test_generate_writes_wav_and_sidecar(tmp_path):
    code, out = _generate(tmp_path, "take.wav")
    assert code == 0
    audio, rate = sf.read(out)
    assert rate == 32_000 and len(audio) == 16_000
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["model_id"] == "tiny"
    assert meta["request"]["seed"] == 1 and meta["request"]["prompts"] == ["calm"]
    assert {"torch", "transformers", "musae"} <= meta["versions"].keys()


def test_steering_vector_changes_audio_and_zero_does_not(tmp_path):
    vector = tmp_path / "v.npy"
    np.save(vector, np.random.default_rng(0).normal(size=64).astype(np.float32))
    _, plain = _generate(tmp_path, "plain.wav")
    _, zero = _generate(tmp_path, "zero.wav", "--steer", f"{vector}:2:0")
    _, steered = _generate(tmp_path, "steered.wav", "--steer", f"{vector}:2:25")
    read = lambda p: sf.read(p)[0]  # noqa: E731
    assert np.array_equal(read(plain), read(zero))
    assert not np.array_equal(read(plain), read(steered))
    recipe = json.loads(steered.with_suffix(".json").read_text())["steering"][0]
    assert recipe["layer"] == 2 and recipe["alpha"] == 25.0 and recipe["source"]["vector_file"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "nope"], "Unknown model"),
        (["--duration", "0"], "positive"),
        (["--duration", "100"], "limit"),
        (["--steer", "VEC:9:1"], "Layer 9"),
        (["--steer", "VEC:1:nan"], "finite"),
        (["--steer", "BAD:1:1"], "dimensions"),
        (["--steer", "NAN:1:1"], "NaN"),
        (["--steer", "missing.npy:1:1"], "Cannot read steering vector"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    np.save(tmp_path / "vec.npy", np.ones(64, dtype=np.float32))
    np.save(tmp_path / "bad.npy", np.ones(10, dtype=np.float32))
    np.save(tmp_path / "nan.npy", np.full(64, np.nan, dtype=np.float32))
    replace = {
        "VEC": str(tmp_path / "vec.npy"),
        "BAD": str(tmp_path / "bad.npy"),
        "NAN": str(tmp_path / "nan.npy"),
    }
    args = [next((a.replace(k, v) for k, v in replace.items() if a.startswith(k)), a) for a in args]
    out = tmp_path / "x.wav"
    base = ["generate", "--device", "cpu", "--duration", "0.3", "--out", str(out)]
    code = main(base + args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and "Fix:" in err and len(err.splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".x.wav*"))


def test_unwritable_output(tmp_path, capsys):
    code = main(["generate", "--out", str(tmp_path / "missing" / "x.wav")])
    assert code == 2 and "not writable" in capsys.readouterr().err


def test_info(capsys):
    assert main(["info", "--model", "tiny", "--device", "cpu"]) == 0
    assert "d_model      64" in capsys.readouterr().out


def test_download_routes_clap_ids_to_the_clap_fetcher(monkeypatch, tmp_path, capsys):
    """No network here: the fetchers are replaced; the test checks which one each id reaches."""
    import musae_core.labeling.clap as clap
    import musae_core.models.loading as loading

    calls = []
    monkeypatch.setattr(
        clap, "download_clap", lambda i, cache_dir=None: calls.append(("clap", i)) or tmp_path
    )
    monkeypatch.setattr(
        loading, "download_model", lambda i, cache_dir=None: calls.append(("model", i)) or tmp_path
    )
    assert main(["download", "laion/larger_clap_music"]) == 0
    assert main(["download", "facebook/musicgen-small"]) == 0
    assert main(["download", "me/my-clap-like-model", "--kind", "model"]) == 0
    assert calls == [
        ("clap", "laion/larger_clap_music"),
        ("model", "facebook/musicgen-small"),
        ("model", "me/my-clap-like-model"),
    ]
