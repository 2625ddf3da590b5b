"""Association labels: a feature is named by the tag its per-clip activation predicts over every
clip, not by whatever its top clips happen to share, and that label becomes the shown one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musae_core.audio.io import write_wav
from musae_core.features import FeatureDB, FeatureStats
from musae_core.harvest import ActivationStore
from musae_core.harvest.prepare import prepare_store
from musae_core.harvest.writer import ShardWriter
from musae_core.labeling.tag_association import associate, clip_codes, label_by_association
from musae_core.sae import SAEConfig, build_sae

D, N_CLIPS, FRAMES, RATE = 4, 40, 10, 8000


class LoudnessTagger:
    """Tags a clip from its audio alone: 'loud' / 'soft' (one factor), 'tone' / 'noise'."""

    sample_rate = RATE
    model_name = "test-tagger"

    class metadata:  # the tagger protocol's attribute (lower case)
        name = "test-tagger"
        classes = ("loud", "soft", "tone", "noise")
        factors = ("dynamics", "dynamics", "texture", "texture")

    def probabilities(self, audio: np.ndarray, rate: int) -> np.ndarray:
        assert rate == RATE
        loud = float(np.sqrt(np.mean(audio**2)) > 0.2)
        tone = float(np.mean(np.diff(np.sign(audio)) != 0) < 0.2)  # zero-crossing rate
        return np.array([loud, 1 - loud, tone, 1 - tone], np.float32)


@pytest.fixture
def world(tmp_path):
    """40 one-second clips: even clips loud, clips 0-19 tonal; an identity-like SAE whose
    feature 0 reads residual dim 0 (set on loud clips, 2 frames in 10), feature 1 dim 1 (tonal
    clips, every frame), feature 2 dim 2 (a few clips of both kinds: no tag), feature 3 never."""
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    entries = []
    for c in range(N_CLIPS):
        amp = 0.5 if c % 2 == 0 else 0.05
        wave = np.sin(2 * np.pi * 220 * t) if c < 20 else rng.uniform(-1, 1, RATE)
        path = write_wav(tmp_path / f"c{c}.wav", (amp * wave).astype(np.float32), RATE)
        entries.append({"path": str(path), "name": f"c{c}"})
    meta = {
        "format": "musae-activations", "version": 1, "model_id": "tiny", "layers": [2],
        "d_model": D, "frame_rate": float(FRAMES), "sample_rate": RATE, "dtype": "fp32",
        "clip_seconds": 1.0, "conditioning": "unconditional",
    }  # fmt: skip
    store_dir = tmp_path / "store"
    ids = prepare_store(store_dir, meta, entries)
    writer = ShardWriter(store_dir, [2], "fp32", shard_rows=64, background=False)
    for c, entry in enumerate(entries):
        acts = torch.zeros(FRAMES, D)
        if c % 2 == 0:
            acts[[3, 7], 0] = 2.0
        if c < 20:
            acts[:, 1] = 1.0
        if c in (5, 26):
            acts[:, 2] = 1.0
        writer.add_clip(ids[entry["path"]], 0, 0.0, float(FRAMES), {2: acts})
    writer.close()
    sae = build_sae(SAEConfig("topk", d_in=D, d_sae=D, k=D, model_id="tiny", layer=2))
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(D))
        sae.W_dec.copy_(torch.eye(D))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    db = FeatureDB.create(tmp_path / "f.db", {"model_id": "tiny", "layer": 2, "d_sae": D})
    db.write_features([FeatureStats(i, 0.1, 0.5, 1.0, 0.5) for i in range(D)])
    # what a top-clip labeller said: its scale tops every AUROC, and it names the wrong thing
    db.add_label(0, "descriptor", "percussive", 0.99, {"auroc": 0.9})
    yield ActivationStore.open(store_dir), sae, db
    db.close()


def test_each_feature_is_named_by_the_tag_its_clip_activation_predicts(world):
    store, sae, _ = world
    codes = clip_codes(store, sae)
    assert len(codes) == N_CLIPS
    # feature 0 fires on 2 frames of 10 in loud clips: its clip mean is 0.4, its max 2.0
    loud = np.arange(N_CLIPS) % 2 == 0
    mean, peak = codes.mean.toarray(), codes.max.toarray()
    assert np.allclose(mean[loud, 0], 0.4) and np.allclose(peak[loud, 0], 2.0)
    assert codes.mean.nnz == (mean > 0).sum()  # kept sparse
    tags = np.stack([loud, ~loud, np.arange(N_CLIPS) < 20, np.arange(N_CLIPS) >= 20], axis=1)
    found = {a.feature_id: a for a in associate(codes, tags, ["loud", "soft", "tone", "noise"])}
    assert found[0].tag == "loud" and found[0].auroc == pytest.approx(1.0)
    assert found[1].tag == "tone" and found[1].auroc == pytest.approx(1.0)
    assert found[2].auroc < 0.6  # two clips of 40: no tag describes it
    assert 3 not in found  # never fired: nothing to name


def test_association_labels_become_the_shown_label_and_resume(world):
    store, sae, db = world
    tagger = LoudnessTagger()
    first = label_by_association(db, sae, store, tagger)
    assert (first.clips, first.labelled, first.weak) == (N_CLIPS, 2, 1)
    rows = {r.id: r for r in db.query()}
    # validated over 40 clips, the association label outranks the higher raw score
    assert rows[0].best_label == "loud" and rows[1].best_label == "tone"
    (label,) = [x for x in db.labels(0) if x.source == "association"]
    assert label.auroc == pytest.approx(1.0) and label.evidence["clips"] == N_CLIPS
    assert label.evidence["positives"] == N_CLIPS // 2
    assert first.silent == 1  # feature 3 never fired
    again = label_by_association(db, sae, store, tagger)
    assert (again.clips, again.labelled, again.skipped) == (0, 0, D)  # nothing re-read
    assert len([x for x in db.labels(0) if x.source == "association"]) == 1


def test_sources_limit_the_clips_that_are_tagged(world):
    store, sae, db = world
    calibration = {int(s["source_id"]) for s in store.sources()[:30]}
    summary = label_by_association(db, sae, store, LoudnessTagger(), sources=calibration)
    assert summary.clips == 30
    (label,) = [x for x in db.labels(1) if x.source == "association"]
    assert label.text == "tone" and label.evidence["clips"] == 30


def test_cli_associates_with_a_file_classifier_and_refuses_a_non_tagger(world, tmp_path, capsys):
    from musae_core.cli import main
    from musae_core.sae import save_sae

    store, sae, db = world
    sae_dir = save_sae(sae, tmp_path / "sae")
    db_path = str(db.path)
    base = ["label", "--db", db_path, "--associate", str(store.path), "--sae", str(sae_dir)]
    assert main([*base, "--method", "descriptors"]) != 0
    assert "needs a clip tagger" in capsys.readouterr().err
    classifier = "resources/demo/factor_classifier.npz"  # the demo's, on these test clips
    assert main([*base, "--method", "classifier", "--classifier", classifier]) == 0
    out = capsys.readouterr().out
    assert f"{N_CLIPS} clips tagged" in out
    labels = [x for j in range(D) for x in db.labels(j) if x.source == "association"]
    assert all(x.auroc >= 0.75 and x.evidence["clips"] == N_CLIPS for x in labels)


def test_the_evidence_sentence_reads_the_association():
    from musae_core.features.evidence import evidence_sentence

    evidence = {"auroc": 0.97, "clips": 300, "positives": 140, "pooling": "max", "tagger": "T"}
    assert evidence_sentence("association", "drums", evidence) == (
        "A clip T tags “drums” has a higher peak activation than an untagged clip 97 % of the "
        "time (AUROC 0.97 over every clip, 140 of 300 clips tagged)"
    )


def test_the_inspector_and_pages_list_the_shown_label_first(world):
    from musae_core.workstation.details import feature_details

    store, sae, db = world
    label_by_association(db, sae, store, LoudnessTagger())
    details = feature_details(db, 0, with_audio=False)
    # written last, scored lower than the descriptor's 0.99, yet shown: it leads the list
    assert [(x.source, x.text) for x in details.labels] == [
        ("association", "loud"),
        ("descriptor", "percussive"),
    ]
    assert details.sentences[0].startswith("A clip test-tagger tags “loud”")
