#!/usr/bin/env bash
# Create or refresh ./.venv with musae and the given extras; quick and idempotent on re-runs.
# Usage: scripts/bootstrap.sh [EXTRAS]   (EXTRAS defaults to "dev", e.g. "gui,dev")
# MUSAE_TORCH overrides the torch requirement (default torch==2.13.0, which pip can take from
# a local CPU wheel on our machines; on a CUDA machine any torch>=2.2 works).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
torch_spec="${MUSAE_TORCH:-torch==2.13.0}"

# FluidSynth + the FluidR3 General MIDI soundfont render the demo corpus (musae demo).
apt_packages=(fluidsynth fluid-soundfont-gm)
if [[ ",$extras," == *",gui,"* ]]; then
  # Qt's xcb platform plugin and PortAudio for sounddevice.
  apt_packages+=(libportaudio2 libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3
    libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4
    libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0
    libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xkb1 libxcb-glx0 libxcb-util1)
fi
if [[ ",$extras," == *",dev,"* ]]; then
  apt_packages+=(chromium)  # headless browser test of exported feature pages (export-html)
fi
if [[ ${#apt_packages[@]} -gt 0 && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  missing=()
  for pkg in "${apt_packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
stamp=".venv/.musae-stamp"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16) $extras $torch_spec"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "bootstrap: installing musae[$extras] into .venv (first run takes a few minutes)"
  log=$(mktemp)
  if ! .venv/bin/python -m pip install -q --disable-pip-version-check "$torch_spec" -e ".[$extras]" >"$log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$log" >&2 || true
    echo "bootstrap: pip install failed" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$want" >"$stamp"
fi
