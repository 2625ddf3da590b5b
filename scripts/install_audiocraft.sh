#!/usr/bin/env bash
# Install musae's optional audiocraft backend into a separate venv (default .venv-audiocraft).
#
# audiocraft 1.3.0 pins torch==2.1.0 / av==11.0.0 / xformers<0.0.23, which no longer install on a
# current Python stack, so it goes in with --no-deps next to a torch/torchaudio pair that exists
# together on PyPI (torchaudio needs exactly its own torch version) and the runtime modules it
# really imports. Nothing of audiocraft is patched. Tested on Linux x86_64, Python 3.11:
# torch 2.9.1 + torchaudio 2.9.1 (CUDA 12.8 wheels from PyPI, ~3.5 GB download, ~6.5 GB on disk).
#
#   bash scripts/install_audiocraft.sh [VENV]     # then: VENV/bin/pytest tests/test_backends.py
set -euo pipefail
VENV="${1:-.venv-audiocraft}"
PY="${PYTHON:-python3}"
TORCH="${AUDIOCRAFT_TORCH:-2.9.1}"          # torchaudio must be the same version
XFORMERS="${AUDIOCRAFT_XFORMERS:-0.0.33.post2}"  # the release built against torch 2.9

cd "$(dirname "$0")/.."
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install --upgrade pip
pip install "torch==$TORCH" "torchaudio==$TORCH"
# imported at module load by audiocraft/modules/transformer.py; no deps, or it swaps torch
pip install --no-deps "xformers==$XFORMERS"
pip install --no-deps "audiocraft==1.3.0"
# musae itself plus audiocraft's runtime imports (the [audiocraft] extra) and test tools
pip install -e ".[audiocraft,dev]"
"$VENV/bin/python" - <<'PY'
import torch, torchaudio
from audiocraft.models import builders  # noqa: F401  (imports xformers, torchaudio, spacy, av)
from musae_core.models.audiocraft_backend import require_audiocraft
require_audiocraft()
print(f"audiocraft backend ready: torch {torch.__version__}, torchaudio {torchaudio.__version__}")
PY
