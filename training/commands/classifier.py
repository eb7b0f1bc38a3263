"""``python -m training classifier``: train the CNN that judges generated images
(``evaluation/classifier.py``): Fashion-MNIST's, or with ``--data DIR`` a folder's own."""
from __future__ import annotations

import argparse

from ..errors import ProjectError
from ..evaluation.classifier import ARCHITECTURES, train_classifier
from . import arguments as A


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True,
                   help="directory (e.g. assets, or the directory of the model it judges)")
    p.add_argument("--epochs", type=A.positive_int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--architecture", choices=ARCHITECTURES, default="conv3",
                   help="conv3: the judge evaluate uses (three conv blocks); residual: the independent "
                        "judge, another architecture for methods that use the first inside training or "
                        "sampling (default: %(default)s)")
    A.add_limits(p)
    A.add_precision(p, default="auto")
    A.add_threads(p)
    A.add_device(p)
    A.add_data_dir(p)
    A.add_folder(p, "judge DIR/<category>/<image> instead of Fashion-MNIST; when --out holds a model trained "
                    "on DIR, at that model's size and channels and with its split",
                 dict.fromkeys(A.FOLDER_FLAGS, "default: as the model in --out, else as train"))
    A.add_quiet(p)


def run(ns: argparse.Namespace) -> None:
    A.refuse_folder_flags(ns, ProjectError)
    train_classifier(ns.out, epochs=ns.epochs, seed=ns.seed, limit=ns.limit, eval_limit=ns.eval_limit,
                     data_dir=ns.data_dir, threads=ns.threads, precision=ns.precision, progress=not ns.quiet,
                     command=ns.command_line, device=ns.device, folder=ns.data, image_size=ns.image_size,
                     channels=ns.channels, skip_bad=bool(ns.skip_bad), split_seed=ns.split_seed,
                     architecture=ns.architecture)
