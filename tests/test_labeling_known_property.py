"""A feature built to track pitch register in the tiny model's residual stream gets the right
descriptor label through the real pipeline: harvest -> SAE -> analyze -> label."""

from __future__ import annotations

import numpy as np
import torch
from test_labeling_support import harmonic_tone, write_wav

from musae_core.cli import main
from musae_core.features import FeatureDB
from musae_core.harvest.store import ActivationStore
from musae_core.sae import SAEConfig, build_sae, save_sae

LAYER = 2
HIGH, LOW = range(82, 92), range(33, 43)


def clip_means(store: ActivationStore) -> dict[str, torch.Tensor]:
    """Mean residual vector of each source file, keyed by file name."""
    names = {s["source_id"]: s["path"].rsplit("/", 1)[-1] for s in store.sources()}
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for _, rows, index in store.iter_shards(LAYER):
        for sid in np.unique(index["source_id"]):
            mask = torch.from_numpy(index["source_id"] == sid)
            name = names[int(sid)]
            sums[name] = sums.get(name, 0) + rows[mask].sum(0)
            counts[name] = counts.get(name, 0) + int(mask.sum())
    return {name: sums[name] / counts[name] for name in sums}


def register_sae(store: ActivationStore, folder) -> None:
    """Feature 0 reads the high-minus-low register direction, feature 1 its opposite; each fires
    only beyond the midpoint between the two groups (a linear probe turned into an SAE)."""
    means = clip_means(store)
    high = torch.stack([v for k, v in means.items() if k.startswith("high")]).mean(0)
    low = torch.stack([v for k, v in means.items() if k.startswith("low")]).mean(0)
    direction = torch.nn.functional.normalize(high - low, dim=0)
    centre = (high + low) / 2
    sae = build_sae(SAEConfig("relu", d_in=store.d_model, d_sae=2, model_id="tiny", layer=LAYER))
    with torch.no_grad():
        sae.W_dec.copy_(torch.stack([direction, -direction]))
        sae.W_enc.copy_(sae.W_dec.T)
        sae.b_dec.copy_(centre)
    save_sae(sae, folder)


def test_register_feature_gets_register_label(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    for i, (a, b) in enumerate(zip(HIGH, LOW, strict=True)):
        write_wav(audio / f"high_{i}.wav", harmonic_tone(a, seconds=1.0))
        write_wav(audio / f"low_{i}.wav", harmonic_tone(b, seconds=1.0))
    store, sae, db = tmp_path / "store", tmp_path / "sae", tmp_path / "features.db"
    assert (
        main(
            [
                "harvest",
                "--model",
                "tiny",
                "--device",
                "cpu",
                "--layers",
                str(LAYER),
                "--audio",
                str(audio),
                "--clip-seconds",
                "1",
                "--dtype",
                "fp32",
                "--out",
                str(store),
            ]
        )
        == 0
    )
    register_sae(ActivationStore.open(store), sae)
    assert (
        main(
            [
                "analyze",
                "--sae",
                str(sae),
                "--store",
                str(store),
                "--out",
                str(db),
                "--top-n",
                "10",
                "--snippet-seconds",
                "1",
            ]
        )
        == 0
    )
    assert (
        main(
            ["label", "--db", str(db), "--method", "descriptors", "--all", "--baseline-size", "20"]
        )
        == 0
    )
    with FeatureDB.open(db, readonly=True) as features:
        tops = [
            [c.source_path.rsplit("/", 1)[-1].split("_")[0] for c in features.top_clips(f)]
            for f in (0, 1)
        ]
        assert set(tops[0][:5]) == {"high"} and set(tops[1][:5]) == {"low"}  # the probe works
        texts = [{label.text for label in features.labels(f)} for f in (0, 1)]
    assert "high register" in texts[0] and "low register" not in texts[0]
    assert "low register" in texts[1] and "high register" not in texts[1]
