"""`musae demo features --sae-from CELL`: the build adopts a trained SAE (the best sweep cell)
under the demo's model id instead of training one, and refuses one of another layer."""

from __future__ import annotations

import pytest
import torch

from musae_core.demo.features_build import adopt_sae
from musae_core.errors import MusaeError
from musae_core.sae import load_sae


def test_an_adopted_sae_keeps_its_weights_and_takes_the_demo_model_id(tiny_sae_dir, tmp_path):
    adopt_sae(tiny_sae_dir, tmp_path / "sae", layer=2, model_id="demo")
    source, adopted = load_sae(tiny_sae_dir), load_sae(tmp_path / "sae")
    assert adopted.cfg.model_id == "demo" and source.cfg.model_id == "tiny"
    assert torch.equal(adopted.W_dec, source.W_dec) and adopted.cfg.k == source.cfg.k
    assert not (tmp_path / "sae.tmp").exists()


def test_a_cell_of_another_layer_is_refused_with_the_fix(tiny_sae_dir, tmp_path):
    with pytest.raises(MusaeError, match="reads layer 2") as err:
        adopt_sae(tiny_sae_dir, tmp_path / "sae", layer=1, model_id="demo")
    assert "--layer 2" in err.value.fix
    assert not (tmp_path / "sae").exists()
