#!/usr/bin/env bash
# The transformers floor in pyproject.toml, checked for real (docs/demo.md, "demo/ is a leaf"):
# the floor release goes into a throwaway folder in front of the venv (with the huggingface-hub
# and tokenizers it needs) and must load and generate the tiny model and the shipped demo model
# (whose semitone codec is what needs 5.4). Needs PyPI; about a minute on 2 cores.
# Deeper: PYTHONPATH=<that folder>:. pytest tests/test_models.py tests/test_speed_decode.py
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {  # transformers huggingface-hub tokenizers
  local dir="$work/$1"
  "$PY" -m pip install -q --disable-pip-version-check --target "$dir" \
    "transformers==$1" "huggingface-hub==$2" "tokenizers==$3"
  rm -rf "$dir"/numpy "$dir"/numpy.libs "$dir"/numpy-*.dist-info  # keep the venv's numpy
  PYTHONPATH="$dir:$PWD" HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 "$PY" - <<'PYEOF'
import transformers

from musae_core.models import GenerationRequest, load_model

request = GenerationRequest(prompts=("warm pad",), duration=0.2, seed=1)
for model_id in ("tiny", "demo"):
    model = load_model(model_id, device="cpu", dtype="fp32")
    assert model.generate(request).audio.shape[-1] > 0, model_id
print(f"transformers {transformers.__version__}: the floor holds")
PYEOF
}

check 5.4.0 1.5.0 0.22.1  # = pyproject's floor and loading.SEMITONE_CODEC_TRANSFORMERS
