"""``python -m training export``: a copy of a model directory with float16 weights, half the size
(``synthesis/export.py``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..model import CONFIG_FILE, WEIGHTS_FILE
from ..synthesis.export import DTYPES, export


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="model directory to export")
    p.add_argument("--out", required=True, help="directory to write (model.safetensors, model.json, curves)")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="float16",
                   help="storage type of the weights (default: %(default)s); computation stays float32")


def run(ns: argparse.Namespace) -> None:
    meta = export(ns.checkpoint, ns.out, ns.dtype, ns.command_line)
    size = (Path(ns.out) / WEIGHTS_FILE).stat().st_size
    print(f"wrote {Path(ns.out) / WEIGHTS_FILE} ({ns.dtype}, {size / 1e6:.1f} MB, sha256 "
          f"{meta['weights_sha256'][:12]}…) and {CONFIG_FILE}; next: python -m training embed "
          f"--checkpoint {ns.out} --out {ns.out}")
