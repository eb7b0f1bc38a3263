"""``python -m training augment``: label-preserving variants of a labelled set (``synthesis/augment.py``)."""
from __future__ import annotations

import argparse
import sys

from ..synthesis.augment import DEFAULT_MIN_CONFIDENCE, DEFAULT_OVERSAMPLE, DEFAULT_TEMPERATURE, run_augment
from . import arguments as A


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, metavar="LABELLED",
                   help="an .npz with images (uint8 N×28×28, or the model's size) and labels (0–9, or the "
                        "model's categories), a directory of IDX files (train-images-idx3-ubyte.gz, "
                        "train-labels-idx1-ubyte.gz), or a folder DIR/<category>/<image> of the model's "
                        "categories")
    p.add_argument("--per-image", type=A.positive_int, required=True, metavar="K",
                   help="variants of each input image")
    p.add_argument("--out", required=True, help="a .npz file, or with --format idx a directory or DIR/PREFIX "
                                                "(source and confidence then go to PREFIX-extra.npz)")
    p.add_argument("--checkpoint", default="assets", help="model directory (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=("npz", "idx"), default="npz")
    p.add_argument("--temperature", type=A.positive_float, default=DEFAULT_TEMPERATURE, metavar="T",
                   help="z = μ + T·σ·ε around each image's posterior (default: %(default)s)")
    p.add_argument("--min-confidence", type=A.probability, metavar="P",
                   help="keep only variants the classifier assigns to their source's label with probability "
                        f"≥ P, from {DEFAULT_OVERSAMPLE}× as many candidates (default "
                        f"{DEFAULT_MIN_CONFIDENCE:g}, which keeps labels as well as real photos do; 0 = keep "
                        "every variant)")
    p.add_argument("--classifier", help="classifier directory (default: the checkpoint's, else assets/)")
    A.add_device(p)


def run(ns: argparse.Namespace) -> None:
    summary = run_augment(ns.input, ns.out, ns.per_image, ns.checkpoint, ns.seed, ns.format, ns.temperature,
                          ns.min_confidence, ns.classifier, ns.device)
    files = " and ".join(summary["files"])
    kept = (f", each recognised by the classifier with probability ≥ {summary['min_confidence']:g}"
            if summary["min_confidence"] else "")
    print(f"wrote {summary['written']} variants of {summary['inputs']} images to {files}{kept}")
    if summary["without_variant"]:
        counts = ", ".join(f"{name} {k}" for name, k in summary["without_variant"].items())
        print(f"images none of whose {DEFAULT_OVERSAMPLE}× candidates passed, so without a variant: {counts}")
    if summary["note"]:
        print(f"note: {summary['note']}", file=sys.stderr)
