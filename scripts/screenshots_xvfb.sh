#!/usr/bin/env bash
# Run scripts/screenshots.py against a real X server (Xvfb) with Qt's xcb platform, and also save
# a full-screen shot of the virtual display (ImageMagick `import -window root`).
#
#   scripts/screenshots_xvfb.sh            # PNGs land in docs/screenshots/
#
# Installs the Debian packages it needs when run as root and they are missing: xvfb, xauth,
# x11-apps, imagemagick and the xcb/GL libraries Qt's xcb plugin loads (see
# ../shared/docs/environment.md, "Qt, plotting, sound"). Needs the venv (make run bootstraps it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

PACKAGES=(xvfb xauth x11-apps imagemagick libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3
  libx11-xcb1 libxkbcommon0 libxkbcommon-x11-0 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0
  libxcb-sync1 libxcb-xfixes0 libxcb-xkb1 libxcb-glx0 libxcb-util1)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "missing Debian packages (install them as root): ${missing[*]}" >&2
    exit 1
  fi
fi

if [[ ! -x $PY ]]; then
  scripts/bootstrap.sh gui,dev
fi

export QT_QPA_PLATFORM=xcb HF_HUB_OFFLINE=1 MUSAE_ROOT_SHOT=1
# a private settings/config home so the run never touches the user's musae settings or layout
export XDG_CONFIG_HOME=${XDG_CONFIG_HOME_FOR_SHOTS:-$(mktemp -d)}
xvfb-run --auto-servernum -s "-screen 0 1600x1000x24" "$PY" scripts/screenshots.py "$@"
ls -l docs/screenshots/*.png
