"""One Ctrl+C behaviour for every long subcommand: the first Ctrl+C stops the job at a safe point,
the command says what it kept and exits 130, and running the same command again resumes.

The in-process tests send the process a real SIGINT (``signal.raise_signal``) from the job's
progress callback once it has made progress, so the handler under test is the one a user's
Ctrl+C reaches; one test sends SIGINT to a separate ``musae train`` process.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musae_core import cli_support
from musae_core.cli import main
from musae_core.errors import MusaeError

SR = 32_000
STOPPED = 130


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Tones -> store -> SAE -> feature database, each made by the CLI (no Ctrl+C)."""
    root = tmp_path_factory.mktemp("ctrl_c")
    audio = root / "audio"
    audio.mkdir()
    t = np.arange(SR) / SR
    for i, freq in enumerate((220, 330, 440, 587, 784, 988)):
        sf.write(audio / f"tone_{i}.wav", 0.3 * np.sin(2 * np.pi * freq * t), SR)
    store, sae, db = root / "store", root / "sae", root / "features.db"
    assert main(harvest_args(audio, store)) == 0
    assert main(train_args(store, sae, tokens=1280)) == 0
    assert main(analyze_args(sae, store, db)) == 0
    return audio, store, sae, db


def harvest_args(audio: Path, out: Path) -> list[str]:
    return [
        "harvest",
        "--model",
        "tiny",
        "--device",
        "cpu",
        "--layers",
        "2",
        "--audio",
        str(audio),
        "--clip-seconds",
        "0.5",
        "--shard-rows",
        "50",
        "--dtype",
        "fp32",
        "--batch-size",
        "1",
        "--no-background-writes",
        "--out",
        str(out),
    ]


def train_args(store: Path, out: Path, tokens: int) -> list[str]:
    return [
        "train",
        "--store",
        str(store),
        "--layer",
        "2",
        "--expansion",
        "2",
        "--k",
        "4",
        "--tokens",
        str(tokens),
        "--batch-size",
        "64",
        "--checkpoint-every",
        "5",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]


def analyze_args(sae: Path, store: Path, out: Path) -> list[str]:
    return [
        "analyze",
        "--sae",
        str(sae),
        "--store",
        str(store),
        "--out",
        str(out),
        "--snippet-seconds",
        "0",
        "--chunk-rows",
        "16",
    ]


@pytest.fixture
def ctrl_c_after(monkeypatch):
    """``ctrl_c_after(n)``: press Ctrl+C (a real SIGINT to this process) once a job's progress
    reaches ``n`` steps; returns the list the step it was pressed at is appended to."""

    def arm(after: int) -> list[int]:
        real = cli_support.PlainProgress.update
        pressed: list[int] = []

        def update(self, done: int, total: int) -> None:
            real(self, done, total)
            if not pressed and after <= done < total:
                pressed.append(done)
                signal.raise_signal(signal.SIGINT)

        monkeypatch.setattr(cli_support.PlainProgress, "update", update)
        return pressed

    return arm


def stopped_line(err: str) -> str:
    """The one line a stopped command ends with."""
    lines = [line for line in err.splitlines() if line.startswith("musae: stopped: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_harvest_stops_keeps_finished_shards_and_resumes(pipeline, tmp_path, ctrl_c_after, capsys):
    audio, reference, _, _ = pipeline
    from musae_core.harvest.store import ActivationStore

    out = tmp_path / "store"
    pressed = ctrl_c_after(2)
    assert main(harvest_args(audio, out)) == STOPPED and pressed
    line = stopped_line(capsys.readouterr().err)
    kept = ActivationStore.open(out)
    assert f"{len(kept.shard_names())} finished shard(s) ({len(kept.done_clips())} clips)" in line
    assert 0 < len(kept.done_clips()) < len(ActivationStore.open(reference).done_clips())
    assert "run the same command to resume" in line
    capsys.readouterr()
    assert main(harvest_args(audio, out)) == 0
    assert ActivationStore.open(out).num_rows() == ActivationStore.open(reference).num_rows()


def test_train_stops_with_a_checkpoint_and_resumes(pipeline, tmp_path, ctrl_c_after, capsys):
    _, store, _, _ = pipeline
    from musae_core.sae import load_sae

    out = tmp_path / "sae"
    pressed = ctrl_c_after(3)
    assert main(train_args(store, out, tokens=1280)) == STOPPED and pressed
    line = stopped_line(capsys.readouterr().err)
    assert re.search(r"the checkpoint at step \d+ is in .*run the same command to resume", line)
    assert (out / "checkpoint.pt").is_file() and not (out / "cfg.json").exists()
    assert main(train_args(store, out, tokens=1280)) == 0
    assert load_sae(out).cfg.training_tokens == 1280


def test_analyze_stops_writes_no_database_and_resumes(pipeline, tmp_path, ctrl_c_after, capsys):
    _, store, sae, _ = pipeline
    from musae_core.features.db import FeatureDB

    out = tmp_path / "features.db"
    pressed = ctrl_c_after(1)
    assert main(analyze_args(sae, store, out)) == STOPPED and pressed
    line = stopped_line(capsys.readouterr().err)
    assert "no database was written" in line and not out.exists()
    assert main(analyze_args(sae, store, out)) == 0
    with FeatureDB.open(out, readonly=True) as db:
        assert db.feature_count() > 0


def test_label_stops_keeps_its_labels_and_a_rerun_finishes(
    pipeline, tmp_path, ctrl_c_after, capsys
):
    from musae_core.features.db import FeatureDB

    db = tmp_path / "features.db"
    shutil.copy(pipeline[3], db)
    with FeatureDB.open(db, readonly=True) as features:
        alive = [i for i in range(features.feature_count()) if not features.feature(i).dead]
    assert len(alive) >= 4
    args = [
        "label",
        "--db",
        str(db),
        "--method",
        "descriptors",
        "--baseline-size",
        "8",
        "--features",
        ",".join(map(str, alive[:4])),
    ]
    pressed = ctrl_c_after(2)
    assert main(args) == STOPPED and pressed
    captured = capsys.readouterr()
    assert "every label written so far is in the database" in stopped_line(captured.err)
    done = int(re.search(r"(\d+) features labelled", captured.out).group(1))
    assert 2 <= done < 4
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{4 - done} features labelled, {done} already done" in out  # none labelled twice


def test_eval_steering_stops_and_a_rerun_skips_the_evaluated(
    pipeline, tmp_path, ctrl_c_after, capsys
):
    from musae_core.features.db import FeatureDB

    _, _, sae, source = pipeline
    db = tmp_path / "features.db"
    shutil.copy(source, db)
    with FeatureDB.open(db) as features:
        for feature_id in range(3):
            features.add_label(feature_id, "descriptor", f"tone {feature_id}", 1.0, {})
    args = [
        "eval-steering",
        "--model",
        "tiny",
        "--sae",
        str(sae),
        "--db",
        str(db),
        "--features",
        "0-2",
        "--n",
        "2",
        "--duration",
        "0.2",
        "--no-clap",
        "--device",
        "cpu",
    ]
    pressed = ctrl_c_after(1)
    assert main(args) == STOPPED and pressed
    assert "the outcomes of the features evaluated so far" in stopped_line(capsys.readouterr().err)
    assert main(args) == 0
    assert re.search(r"[1-9]\d* already done", capsys.readouterr().out)


def test_sweep_stops_and_says_which_cells_are_kept(pipeline, tmp_path, ctrl_c_after, capsys):
    _, store, _, _ = pipeline
    out = tmp_path / "sweep"
    args = [
        "sweep",
        "--store",
        str(store),
        "--out",
        str(out),
        "--layers",
        "2",
        "--expansions",
        "2",
        "--ks",
        "2,4",
        "--tokens",
        "640",
        "--batch-size",
        "64",
        "--eval-rows",
        "100",
        "--holdout-every",
        "3",
    ]
    pressed = ctrl_c_after(2)
    assert main(args) == STOPPED and pressed
    line = stopped_line(capsys.readouterr().err)
    assert re.search(r"\d finished cell\(s\) are kept in .*run the same command to resume", line)
    assert main(args) == 0 and (out / "sweep.json").is_file()


def test_a_command_without_a_safe_point_stops_at_once(monkeypatch, capsys):
    """Commands that declare nothing to keep do not wait for a second Ctrl+C."""
    import musae_core.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_info", interrupted)
    assert main(["info"]) == STOPPED
    assert stopped_line(capsys.readouterr().err) == "musae: stopped: nothing was written."


def test_an_error_is_one_line_and_exit_2(monkeypatch, capsys):
    import musae_core.cli as cli

    def refused(args):
        raise MusaeError("Model folder nope is missing.", "pass --model tiny.")

    monkeypatch.setattr(cli, "cmd_info", refused)
    assert main(["info"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("musae: error: Model folder nope is missing.")


def test_a_real_ctrl_c_stops_musae_train_in_its_own_process(pipeline, tmp_path):
    """SIGINT from outside (as a terminal sends it) to `python -m musae_core.cli train`."""
    _, store, _, _ = pipeline
    out = tmp_path / "sae"
    env = {
        **os.environ,
        "MUSAE_PROGRESS_SECONDS": "0",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "musae_core.cli", *train_args(store, out, tokens=10_000_000)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for line in proc.stderr:  # wait until it has trained a few steps
            if re.match(r"musae: training ([5-9]|\d\d+)/", line):
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == STOPPED, err
    assert re.search(r"musae: stopped: the checkpoint at step \d+ is in", err)
    assert (out / "checkpoint.pt").is_file() and not (out / "cfg.json").exists()


def test_demo_build_corpus_stops_and_keeps_rendered_clips(tmp_path, ctrl_c_after, capsys):
    from musae_core.demo.synth import find_fluidsynth, find_soundfont

    try:
        find_soundfont(None), find_fluidsynth()
    except MusaeError as exc:
        pytest.skip(f"no FluidSynth set-up: {exc}")
    out = tmp_path / "corpus"
    args = [
        "demo",
        "build-corpus",
        "--out",
        str(out),
        "--clips",
        "8",
        "--clip-seconds",
        "1",
        "--workers",
        "1",
    ]
    pressed = ctrl_c_after(2)
    assert main(args) == STOPPED and pressed
    line = stopped_line(capsys.readouterr().err)
    rendered = len(list((out / "clips").glob("*.json")))
    assert f"{rendered} rendered clip(s) are kept" in line and 2 <= rendered < 8


def test_the_subcommand_table_registers_every_command():
    """cli.py's SUBCOMMAND_MODULES is the one list (no module is optional, the demo's included)."""
    from musae_core.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == [
        "generate", "download", "info", "convert", "harvest", "train", "eval-sae", "analyze",
        "export-html", "db", "map", "label", "eval-steering", "demo", "sweep", "truth",
    ]  # fmt: skip
