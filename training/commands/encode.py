"""``python -m training encode IMAGE…``: your own pictures through the model (``synthesis/encode.py``)."""
from __future__ import annotations

import argparse
import sys

from ..synthesis.encode import encode_files
from . import arguments as A


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--checkpoint", default="assets", help="model directory (default: %(default)s)")
    p.add_argument("--out", help="directory for the reconstructions (default: next to each image)")
    p.add_argument("--classifier", help="classifier directory (default: the checkpoint's, else assets/)")
    A.add_device(p)


def run(ns: argparse.Namespace) -> int:
    lines, failed = encode_files(ns.images, ns.checkpoint, ns.out, ns.classifier, ns.device)
    for line in lines:
        print(line, file=sys.stderr if line.startswith("error:") else sys.stdout)
    return 1 if failed else 0
