"""The CLI end to end on the tiny model: harvest -> SAE -> analyze -> label (descriptors, CLAP,
LLM via a local chat server, validate) -> eval-steering, all against one real FeatureDB."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_labeling_llm import GOOD, KEY, ChatServer, chat
from test_labeling_support import click_track, harmonic_tone, write_wav

from musae_core.cli import main
from musae_core.features import FeatureDB
from musae_core.harvest.store import ActivationStore
from musae_core.sae import SAEConfig, build_sae, save_sae

D_SAE = 8


def make_sae(store: ActivationStore, folder) -> None:
    """A TopK (k=1) SAE whose feature j fires around frame position 3j of a clip.

    The tiny model's random EnCodec maps all audio to the same tokens, so its activations only
    depend on the frame position; clips of different lengths then give position-selective
    features different clip means, hence different top clips (the labellers need that for
    their baselines).
    """
    acts, frames = [], []
    for _, rows, index in store.iter_shards(1):
        acts.append(rows)
        frames.append(torch.from_numpy(index["frame"]).long())
    acts, frames = torch.cat(acts), torch.cat(frames)
    centre = acts.mean(0)
    anchors = torch.stack([acts[frames == 3 * j].mean(0) for j in range(D_SAE)])
    directions = torch.nn.functional.normalize(anchors - centre, dim=1)
    sae = build_sae(
        SAEConfig("topk", d_in=store.d_model, d_sae=D_SAE, k=1, model_id="tiny", layer=1)
    )
    with torch.no_grad():
        sae.W_dec.copy_(directions)
        sae.W_enc.copy_(directions.T)
        sae.b_dec.copy_(centre)
    save_sae(sae, folder)


def run(*argv: str) -> None:
    assert main([str(a) for a in argv]) == 0, argv


@pytest.fixture
def llm_server():
    server = ChatServer([chat(json.dumps(GOOD))])
    yield server
    server.close()


def test_analyze_label_and_eval_steering_end_to_end(tmp_path, llm_server, monkeypatch):
    monkeypatch.setenv("MUSAE_LLM_API_KEY", KEY)
    audio = tmp_path / "audio"
    audio.mkdir()
    for i in range(8):  # last clips of 5, 10, ... 25 frames
        write_wav(audio / f"tone{i}.wav", harmonic_tone(45 + 5 * i, seconds=0.6 + 0.1 * i))
    write_wav(audio / "clicks.wav", click_track(120, seconds=1.0))
    store, sae, db_path = tmp_path / "store", tmp_path / "sae", tmp_path / "F.db"
    run(
        "harvest",
        "--model",
        "tiny",
        "--device",
        "cpu",
        "--layers",
        "1",
        "--audio",
        audio,
        "--out",
        store,
        "--clip-seconds",
        "0.5",
        "--min-clip-seconds",
        "0.1",
        "--dtype",
        "fp32",
        "--shard-rows",
        "60",
    )
    make_sae(ActivationStore.open(store), sae)
    run(
        "analyze",
        "--sae",
        sae,
        "--store",
        store,
        "--out",
        db_path,
        "--top-n",
        "3",
        "--snippet-seconds",
        "0.3",
    )
    with FeatureDB.open(db_path, readonly=True) as db:
        live = [r.id for r in db.query(hide_dead=True)]
        assert db.feature_count() == D_SAE and len(live) >= 3
        assert all(c.snippet_path is not None for c in db.top_clips(live[0]))
    chosen = live[:2]
    ids = ",".join(str(i) for i in chosen)
    run(
        "label",
        "--db",
        db_path,
        "--method",
        "descriptors",
        "--features",
        ids,
        "--baseline-size",
        "8",
    )
    run(
        "label",
        "--db",
        db_path,
        "--method",
        "clap",
        "--clap-model",
        "tiny",
        "--features",
        ids,
        "--top-k",
        "2",
        "--device",
        "cpu",
        "--baseline-size",
        "8",
    )
    run(
        "label",
        "--db",
        db_path,
        "--method",
        "llm",
        "--llm-url",
        llm_server.url,
        "--llm-model",
        "audio-model",
        "--llm-rpm",
        "0",
        "--features",
        ids,
    )
    run(
        "label",
        "--db",
        db_path,
        "--method",
        "validate",
        "--clap-model",
        "tiny",
        "--features",
        ids,
        "--device",
        "cpu",
        "--baseline-size",
        "8",
    )
    run(
        "eval-steering",
        "--sae",
        sae,
        "--db",
        db_path,
        "--features",
        str(chosen[0]),
        "--n",
        "2",
        "--duration",
        "0.2",
        "--clap-model",
        "tiny",
        "--device",
        "cpu",
        "--dtype",
        "fp32",
    )
    assert llm_server.requests
    with FeatureDB.open(db_path, readonly=True) as db:
        labels = [lab for f in chosen for lab in db.labels(f)]
        sources = {lab.source for lab in labels}
        assert {"llm"} <= sources and any(s.startswith("clap") for s in sources)
        assert all(np.isfinite(lab.score) for lab in labels)
        assert all(lab.clap_score is not None for lab in labels)  # every label validated
        assert db.steering(chosen[0]) is not None
        assert not db.errors()
        assert [r.id for r in db.query(text="bright piano")] == chosen
        dump = "\n".join(db._conn.iterdump())
    assert KEY not in dump
