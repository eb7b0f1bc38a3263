"""``python -m training train``: train the conv VAE from a preset, or resume a run (``fit/train.py``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..fit import TrainingError, train
from ..fit.presets import COMMON_DEFAULTS, FOLDER_MIN_STEPS, PRESETS
from ..losses import LIKELIHOODS
from . import arguments as A

# Flags that override the preset; a resumed run refuses all of them but --epochs.
TRAIN_FLAGS = ("epochs", "batch_size", "lr", "schedule", "latent_dim", "likelihood", "beta", "sigma", "seed",
               "limit", "eval_limit", "precision", "decoder_channels", "encoder_kernels", "decoder_kernels",
               "encoder_head", "data", *A.FOLDER_FLAGS)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", choices=sorted(PRESETS), default="default",
                   help="preset of likelihood, β, architecture and optimiser settings (default: %(default)s)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last completed epoch with its own arguments; "
                        "--epochs may raise the total (a cosine schedule then stretches to the new total)")
    p.add_argument("--epochs", type=A.positive_int,
                   help="passes over the training images (default: the preset's, 50; with --data, raised "
                        f"so that a small folder gets at least {FOLDER_MIN_STEPS:,} steps)")
    p.add_argument("--batch-size", type=A.positive_int)
    p.add_argument("--lr", type=A.positive_float, help="Adam's learning rate")
    p.add_argument("--schedule", choices=("constant", "cosine"), help="cosine: decay to 1%% of --lr")
    p.add_argument("--latent-dim", type=A.positive_int)
    p.add_argument("--likelihood", choices=LIKELIHOODS)
    p.add_argument("--beta", type=A.non_negative_float, help="weight of the KL term (1 = the ELBO)")
    p.add_argument("--sigma", type=A.positive_float, help="σ of the fixed 'gaussian' likelihood (default √½)")
    p.add_argument("--decoder-channels", type=A.int_list(3, "256,128,64"), metavar="C1,C2,C3",
                   help="widths of the decoder's three hidden transposed convs (default 256,128,64)")
    p.add_argument("--encoder-kernels", type=A.int_list(4, "4,3,4,2"), metavar="K1,K2,K3,K4",
                   help="kernel sizes of the encoder's four stride-2 convs (--config default: 4,3,4,2, "
                        "which see all 28×28 pixels; paper, seed-code: 3,3,3,2, which never see rows and "
                        "columns 23-27)")
    p.add_argument("--decoder-kernels", type=A.int_list(4, "2,3,4,6"), metavar="K1,K2,K3,K4",
                   help="kernel sizes of the decoder's four stride-2 transposed convs (--config default: "
                        "2,3,4,6, which paint all 28×28; paper, seed-code: 2,3,4,5, whose last row and "
                        "column are one constant)")
    p.add_argument("--encoder-head", type=A.widths, metavar="W1[,W2…]|none",
                   help="widths of ReLU layers beside the linear μ, log σ² heads, added through maps that "
                        "start at zero (--config default: 512,512; paper, seed-code: none, the paper's "
                        "linear heads)")
    p.add_argument("--seed", type=int)
    A.add_limits(p)
    A.add_precision(p)
    A.add_threads(p)
    A.add_device(p)
    A.add_compile(p)
    A.add_data_dir(p)
    A.add_folder(p, "train on DIR/<category>/<image> (or DIR/train/…, DIR/test/…) instead of Fashion-MNIST",
                 {"image_size": "default: from the images; the architecture is scaled to it",
                  "channels": "default: 1 where every image is grey, else 3", "split_seed": "default 0"},
                 title="your own images (python -m training data DIR shows what is found)")
    A.add_quiet(p)


def training_args(ns: argparse.Namespace) -> dict:
    """Preset values, overridden by the flags given on the command line."""
    args = {"config": ns.config, **COMMON_DEFAULTS, **PRESETS[ns.config]}
    args.update({name: getattr(ns, name) for name in TRAIN_FLAGS if getattr(ns, name) is not None})
    args.update(threads=ns.threads, device=ns.device, compile=ns.compile)
    if ns.data:   # recorded only by runs on a folder, so a Fashion-MNIST run records what it did before
        args.update(data=str(Path(ns.data).resolve()), skip_bad=bool(ns.skip_bad),
                    split_seed=ns.split_seed or 0)
        args.update({name: getattr(ns, name) for name in ("image_size", "channels") if getattr(ns, name)})
        if ns.epochs is None:   # the preset's epochs, raised for a small folder once its size is known
            args["min_steps"] = FOLDER_MIN_STEPS
    A.refuse_folder_flags(ns, TrainingError)
    return args


def run(ns: argparse.Namespace) -> None:
    args = training_args(ns)
    if ns.resume:
        A.refuse_changes_on_resume(ns, TRAIN_FLAGS, TrainingError)
        args["epochs"] = ns.epochs  # None: keep the run's own
    train.run(args, ns.out, resume=ns.resume, data_dir=ns.data_dir, command=ns.command_line,
              progress=not ns.quiet)
