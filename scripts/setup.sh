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

# Live decoding in the browser (views/live.py): onnxruntime-web as package-lock.json pins it, with its
# integrity hash, from the npm registry; the app serves it itself. Without npm the app decodes on the
# server, as before.
if command -v npm >/dev/null; then
  npm ci --ignore-scripts --omit=dev --no-audit --no-fund --loglevel=error
else
  echo "setup: npm not found: live decoding is off (the app decodes on the server); install Node.js and run again"
fi
# The shipped models' decoders as ONNX (assets/**/decoder.onnx, made from the weights, not committed).
.venv/bin/python - <<'EOF'
from explorer.assets import SHIPPED_MODELS
from training import load_model
from training.synthesis.decoder_onnx import DECODER_FILE, ensure_decoder

for directory in SHIPPED_MODELS.values():
    if ensure_decoder(load_model(directory), f"{directory}/{DECODER_FILE}"):
        print(f"setup: exported {directory}/{DECODER_FILE} (checked against torch)")
EOF
echo "setup: ready (.venv, $req)"
