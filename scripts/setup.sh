#!/usr/bin/env bash
# Set up this project on a fresh Debian/Ubuntu machine: a Python 3.11 virtual environment in .venv
# with the pinned requirements and, where apt-get is available, the Fashion-MNIST IDX files
# (dataset-fashion-mnist). With --dev also the test requirements and Debian's Chromium (the
# browser tests drive /usr/bin/chromium; nothing downloads a browser), HAProxy and OpenSSL (the
# balancer tests, TLS and passwords included). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

source scripts/apt.sh

if [ $dev -eq 1 ]; then
  apt_install dataset-fashion-mnist chromium chromium-driver haproxy openssl
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
