#!/usr/bin/env bash
# Create or refresh ./.venv-bench: musae plus the competitor SAE trainers (SAELens,
# dictionary_learning) that bench/sae_train.py compares against. Kept apart from ./.venv so the
# competitors' pins never leak into musae's own environment. Idempotent: re-runs are instant.
# Usage: scripts/bench_env.sh          then: .venv-bench/bin/python bench/sae_train.py
# MUSAE_TORCH overrides the torch requirement (default torch==2.13.0, a local CPU wheel on our
# machines; pass e.g. MUSAE_TORCH="torch" on a CUDA machine). It goes in the same pip command as
# the competitors so the resolver keeps it instead of pulling another torch build.
set -euo pipefail
cd "$(dirname "$0")/.."
torch_spec="${MUSAE_TORCH:-torch==2.13.0}"
venv=".venv-bench"

if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.bench-stamp"
want="$(cat pyproject.toml scripts/bench_env.sh | sha256sum | cut -c1-16) $torch_spec"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "bench_env: installing musae, sae-lens and dictionary-learning into $venv (takes minutes)"
  log=$(mktemp)
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "$torch_spec" sae-lens dictionary-learning -e . >"$log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$log" >&2 || true
    echo "bench_env: pip install failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$want" >"$stamp"
fi
# nnsight (a dictionary-learning dependency) pulls torchvision from PyPI, whose wheel is built for
# the CUDA torch: against the CPU torch its ops fail to register ("torchvision::nms does not
# exist") and transformers, which imports torchvision when present, breaks sae_lens and
# dictionary_learning with it. Nothing the benchmark runs needs torchvision, so drop it then.
if ! "$venv/bin/python" -c "import torchvision" >/dev/null 2>&1 &&
  "$venv/bin/python" -m pip show -q torchvision >/dev/null 2>&1; then
  echo "bench_env: removing torchvision (built for another torch; nnsight's pin is harmless here)"
  "$venv/bin/python" -m pip uninstall -y -q torchvision
fi
"$venv/bin/python" - <<'PY'
from importlib.metadata import PackageNotFoundError, version

for name in ("torch", "sae-lens", "dictionary-learning", "musae"):
    try:
        print(f"bench_env: {name} {version(name)}")
    except PackageNotFoundError:
        print(f"bench_env: {name} MISSING")
PY
