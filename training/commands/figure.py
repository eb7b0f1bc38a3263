"""``python -m training figure``: a sheet of reconstructions and samples as PNG
(``synthesis/sample_sheets.py``)."""
from __future__ import annotations

import argparse

from ..synthesis.sample_sheets import write_sample_sheet


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="model directory")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir")


def run(ns: argparse.Namespace) -> None:
    write_sample_sheet(ns.checkpoint, ns.out, seed=ns.seed, data_dir=ns.data_dir)
    print(f"wrote {ns.out}")
