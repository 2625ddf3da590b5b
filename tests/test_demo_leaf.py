"""The demo is a leaf (issue 21, section 1): the engine imports and loads models without it and
without the semitone codec, which transformers learns about only when a folder names it; the
demo's model id, label method and debug-model ids resolve through explicit registration points."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

import musae_core.models
from musae_core.errors import MusaeError
from musae_core.labeling.file_classifiers import FILE_CLASSIFIERS, file_classifier_method
from musae_core.models import loading
from musae_core.models.audiocraft_backend import audiocraft_available
from musae_core.models.loading import load_model, register_model_parts

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "resources" / "demo"

WITHOUT_DEMO = """
import importlib, importlib.abc, json, pkgutil, sys
BLOCKED = ('musae_core.demo', 'musae_core.models.semitone_codec')
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.startswith(BLOCKED):
            raise ImportError(f'{name} is blocked: the engine must load without the demo')
sys.meta_path.insert(0, Block())
import musae_core
for info in pkgutil.walk_packages(musae_core.__path__, 'musae_core.'):
    if not info.name.startswith(BLOCKED):
        importlib.import_module(info.name)
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from musae_core.models import load_model
tiny = load_model('tiny', device='cpu', dtype='fp32')
tiny.hf.save_pretrained(sys.argv[1], safe_serialization=True)  # a MusicGen folder, as from the hub
tiny.tokenizer.save_pretrained(sys.argv[1])
folder = load_model(sys.argv[1], device='cpu', dtype='fp32')
out = {'tiny': type(tiny).__name__, 'folder': type(folder.hf.audio_encoder).__name__,
       'codec_known': 'musae_demo_codec' in CONFIG_MAPPING}
if len(sys.argv) > 2:  # the shipped demo model: the codec is registered, demo code still blocked
    BLOCKED = ('musae_core.demo',)
    demo = load_model('demo', device='cpu', dtype='fp32')
    out['demo_codec'] = type(demo.hf.audio_encoder).__name__
    out['demo_modules'] = sorted(m for m in sys.modules if m.startswith('musae_core.demo'))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def without_demo(tmp_path_factory) -> dict:
    """One child process, demo blocked: every engine module, 'tiny', a saved MusicGen folder
    (and 'demo' if shipped)."""
    args = [str(tmp_path_factory.mktemp("tiny") / "model")]
    args += ["demo"] if (DEMO_DIR / "model" / "config.json").exists() else []
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEMO, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_engine_imports_and_loads_musicgens_without_the_demo_or_its_codec(without_demo):
    assert without_demo["tiny"] == "TransformersMusicGen"
    assert without_demo["folder"] == "EncodecModel"
    assert without_demo["codec_known"] is False  # no registration as a side effect of a load


def test_the_shipped_demo_model_loads_without_demo_code(without_demo):
    if "demo_codec" not in without_demo:
        pytest.skip("no shipped demo model in resources/demo/model")
    assert without_demo["demo_codec"] == "SemitoneCodecModel"
    assert without_demo["demo_modules"] == []


def test_a_transformers_too_old_for_the_codec_is_named_only_when_a_folder_needs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "musae_core.models.semitone_codec", None)  # import fails
    monkeypatch.delattr(musae_core.models, "semitone_codec", raising=False)
    register_model_parts({"audio_encoder": {"model_type": "encodec"}}, "facebook/musicgen-small")
    with pytest.raises(MusaeError) as err:
        register_model_parts({"audio_encoder": {"model_type": "musae_demo_codec"}}, "/m/demo")
    assert "/m/demo" in err.value.problem
    assert f"transformers >= {loading.SEMITONE_CODEC_TRANSFORMERS}" in err.value.problem
    assert "pip install" in err.value.fix


def test_the_codec_refuses_a_transformers_older_than_its_floor(monkeypatch):
    import transformers

    monkeypatch.setattr(transformers, "__version__", "5.3.0")  # 5.3 fails on the codec's config
    with pytest.raises(MusaeError, match=r"needs transformers >= 5\.4 \(installed: 5\.3\.0"):
        register_model_parts({"audio_encoder": {"model_type": "musae_demo_codec"}}, "/m/demo")


def test_saved_folders_keep_their_codec_model_type():
    from musae_core.models import semitone_codec

    assert semitone_codec.MODEL_TYPE == loading.SEMITONE_CODEC_TYPE == "musae_demo_codec"


def test_a_shipped_model_named_by_its_folder_is_the_shipped_model(monkeypatch, tmp_path):
    """`musae generate --model resources/demo/model --sae resources/demo/sae` was refused:
    "The SAE was trained on 'demo' but model 'resources/demo/model' comes from ..."."""
    from musae_core.models.tiny import build_tiny_musicgen
    from musae_core.sae import SAEConfig, build_sae
    from musae_core.sae.evaluate import check_compatible

    hf, tokenizer = build_tiny_musicgen(0)
    hf.save_pretrained(tmp_path / "model", safe_serialization=True)
    tokenizer.save_pretrained(tmp_path / "model")
    monkeypatch.setitem(loading.SHIPPED_MODELS, "demo", tmp_path / "model")
    monkeypatch.chdir(tmp_path)
    model = load_model("model", device="cpu", dtype="fp32")  # a relative path to the folder
    assert model.model_id == "demo"
    sae = build_sae(SAEConfig("topk", model.d_model, 8, k=2, model_id="demo", layer=1))
    check_compatible(sae, model.model_id, list(range(model.num_layers)), model.d_model, "it")
    by_path = build_sae(SAEConfig("topk", model.d_model, 8, k=2, model_id="model", layer=1))
    check_compatible(by_path, "demo", [1], model.d_model, "it")  # a store harvested by path
    from musae_core.harvest.prepare import IDENTITY_KEYS
    from musae_core.harvest.prepare import check_compatible as check_store

    stored = {key: 1 for key in IDENTITY_KEYS} | {"model_id": "model", "layers": [1]}
    check_store(tmp_path / "store", stored, {**stored, "model_id": "demo"})  # resumable
    with pytest.raises(MusaeError, match="model_id 'model'"):
        check_store(tmp_path / "store", stored, {**stored, "model_id": "tiny"})
    other = build_sae(SAEConfig("topk", model.d_model, 8, k=2, model_id="tiny", layer=1))
    with pytest.raises(MusaeError, match="trained on 'tiny'"):
        check_compatible(other, "demo", [1], model.d_model, "it")
    assert loading.shipped_id(str(tmp_path)) == str(tmp_path)  # any other folder keeps its path


def test_a_missing_shipped_model_names_its_folder(monkeypatch, tmp_path):
    monkeypatch.setitem(loading.SHIPPED_MODELS, "demo", tmp_path / "model")
    with pytest.raises(MusaeError) as err:
        load_model("demo", device="cpu")
    assert str(tmp_path / "model") in err.value.problem
    assert "README.md" in err.value.fix


def test_tiny_audiocraft_is_dispatched_by_the_loader():
    with pytest.raises(MusaeError, match="Bad tiny model id 'tiny-audiocraft:x'"):
        load_model("tiny-audiocraft:x", device="cpu")
    if not audiocraft_available():
        with pytest.raises(MusaeError, match="audiocraft"):
            load_model("tiny-audiocraft", device="cpu")


def test_the_demo_classifier_is_a_registered_label_method():
    from musae_core.labeling.cli import METHODS

    assert "classifier" in METHODS and "classifier" in FILE_CLASSIFIERS
    with pytest.raises(MusaeError, match="needs --classifier"):
        file_classifier_method("classifier", None, top_k=3)
    npz = DEMO_DIR / "factor_classifier.npz"
    if not npz.exists():
        pytest.skip("no shipped factor classifier")
    method = file_classifier_method("classifier", str(npz), top_k=2)
    assert method.source == "classifier" and method.top_k == 2
    assert method.job == "label:classifier:musae-demo-factors"
    assert "flute" in method.tagger.metadata.classes
