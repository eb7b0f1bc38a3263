#!/usr/bin/env bash
# Set up this project on a fresh Debian/Ubuntu machine: a Python 3.11 virtual environment in .venv
# with the pinned requirements and, where apt-get is available, the Fashion-MNIST IDX files
# (dataset-fashion-mnist). With --dev also the test requirements and Debian's Chromium (the
# browser tests drive /usr/bin/chromium; nothing downloads a browser). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
  if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
    echo "setup: apt-get install ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: please install ${missing[*]} (no apt-get or no root here)" >&2
    return 1
  fi
}

if [ $dev -eq 1 ]; then
  apt_install dataset-fashion-mnist chromium chromium-driver
else
  # The app runs without the dataset; with it, it also shows the original test images.
  apt_install dataset-fashion-mnist || echo "setup: continuing without the dataset (the app does not need it)"
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
req=requirements.txt
[ $dev -eq 1 ] && req=requirements-dev.txt
# Quiet when everything is already installed; torch==2.13.0 resolves to the local CPU wheel.
.venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
echo "setup: ready (.venv, $req)"
