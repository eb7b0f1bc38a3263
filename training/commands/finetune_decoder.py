"""``python -m training finetune-decoder``: sharpen a trained model's decoder against a discriminator,
the encoder frozen (``fit/finetune.py``)."""
from __future__ import annotations

import argparse

from ..fit import TrainingError, finetune
from ..fit.finetune import DEFAULTS
from . import arguments as A

FINETUNE_FLAGS = ("checkpoint", "epochs", "adversarial_weight", "perceptual_weight", "perceptual_classifier",
                  "lr", "disc_lr", "batch_size", "seed", "limit", "eval_limit")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint",
                   help="the trained model directory to start from (not needed with --resume)")
    p.add_argument("--out", required=True, help="run directory to write (not the --checkpoint directory)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last completed epoch; only --epochs may change")
    p.add_argument("--epochs", type=A.positive_int, help=f"default {DEFAULTS['epochs']}")
    p.add_argument("--adversarial-weight", type=A.non_negative_float, metavar="W",
                   help="the adversarial gradient at the decoder's last layer is W times the likelihood's "
                        f"(default {DEFAULTS['adversarial_weight']:g}; 0 = the likelihood alone)")
    p.add_argument("--perceptual-weight", type=A.non_negative_float, metavar="W",
                   help="add a perceptual term (a classifier's conv features), its gradient at the decoder's "
                        "last layer W times the likelihood's (default 0 = none; the shipped model used 1). "
                        "Judge the result by evaluate's independent judge, which never saw it")
    p.add_argument("--perceptual-classifier", metavar="DIR",
                   help="the classifier whose features the perceptual term compares (default: the one that "
                        "judges --checkpoint: its own directory's, else the shipped assets/classifier)")
    p.add_argument("--lr", type=A.positive_float,
                   help=f"decoder learning rate, Adam (default {DEFAULTS['lr']:g})")
    p.add_argument("--disc-lr", type=A.positive_float,
                   help=f"discriminator learning rate, Adam (default {DEFAULTS['disc_lr']:g})")
    p.add_argument("--batch-size", type=A.positive_int, help=f"default {DEFAULTS['batch_size']}")
    p.add_argument("--seed", type=int)
    A.add_limits(p)
    A.add_threads(p)
    A.add_device(p)
    A.add_data_dir(p)
    A.add_quiet(p)


def run(ns: argparse.Namespace) -> None:
    if ns.resume:
        A.refuse_changes_on_resume(ns, FINETUNE_FLAGS, TrainingError)
    elif ns.checkpoint is None:
        raise TrainingError("--checkpoint: expected the trained model directory to start from")
    args = {name: getattr(ns, name) for name in FINETUNE_FLAGS}
    finetune.run({**args, "threads": ns.threads, "device": ns.device}, ns.out, resume=ns.resume,
                 data_dir=ns.data_dir, command=ns.command_line, progress=not ns.quiet)
