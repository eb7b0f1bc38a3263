"""``python -m training classifier``: train the CNN that judges generated images
(``evaluation/classifier.py``): Fashion-MNIST's, or with ``--data DIR`` a folder's own."""
from __future__ import annotations

import argparse

from ..errors import ProjectError
from ..evaluation.classifier import train_classifier
from ..folder import IMAGE_SIZES
from . import arguments as A


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True,
                   help="directory (e.g. assets, or the directory of the model it judges)")
    p.add_argument("--epochs", type=A.positive_int, default=10)
    p.add_argument("--seed", type=int, default=0)
    A.add_limits(p)
    A.add_precision(p, default="auto")
    A.add_threads(p)
    A.add_device(p)
    A.add_data_dir(p)
    folder = p.add_argument_group("your own images")
    folder.add_argument("--data", metavar="DIR",
                        help="judge DIR/<category>/<image> instead of Fashion-MNIST; when --out holds a "
                             "model trained on DIR, at that model's size and channels and with its split")
    folder.add_argument("--image-size", type=int, choices=IMAGE_SIZES, help="with --data (default: as train)")
    folder.add_argument("--channels", type=int, choices=(1, 3), help="with --data (default: as train)")
    folder.add_argument("--skip-bad", action="store_true", help="with --data: leave unreadable images out")
    folder.add_argument("--split-seed", type=A.non_negative_int, help="with --data (default: as train)")
    A.add_quiet(p)


def run(ns: argparse.Namespace) -> None:
    if not ns.data:
        given = [flag for flag, v in (("--image-size", ns.image_size), ("--channels", ns.channels),
                                      ("--skip-bad", ns.skip_bad), ("--split-seed", ns.split_seed)) if v]
        if given:
            raise ProjectError(f"{' '.join(given)}: only with --data DIR (a folder of your own images)")
    train_classifier(ns.out, epochs=ns.epochs, seed=ns.seed, limit=ns.limit, eval_limit=ns.eval_limit,
                     data_dir=ns.data_dir, threads=ns.threads, precision=ns.precision, progress=not ns.quiet,
                     command=ns.command_line, device=ns.device, folder=ns.data, image_size=ns.image_size,
                     channels=ns.channels, skip_bad=ns.skip_bad, split_seed=ns.split_seed)
