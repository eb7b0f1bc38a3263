"""Label-preserving variants of labelled images (``python -m training augment``).

Each image x is encoded to its posterior q(z|x) = N(μ, σ²), and K variants are decoded from
z = μ + T·σ·ε, ε ~ N(0, I): samples of what the model considers the same item, at a temperature T
that widens (T > 1) or narrows the posterior (the "exemplar" idea: Norouzi et al. 2020). Each
variant keeps its source's label and records its source's index. Optionally the project's
classifier keeps only the variants it assigns to the source's label with probability ≥ P, from
``oversample`` times as many candidates, the first K that pass, in the order drawn.

Every byte is a function of the input, the model and the seed: the same command writes the same
file. How much these variants help a classifier with few labels, and how to mix them into its
training, is measured by ``bench/augmentation.py`` (docs/augmentation.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from . import arguments as A
from . import data as fmnist
from . import device as D
from .classifier import classifier_dir_for, load_classifier
from .generate import decode, probabilities, to_uint8, write
from .model import load_model

DEFAULT_TEMPERATURE = 8.0   # the best measured at 600 labels (T = 1, 4, 8, 12, 16: docs/augmentation.md)
DEFAULT_OVERSAMPLE = 3   # candidates per kept variant when the classifier filters them
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


def read_labelled(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 N×28×28 images and int64 labels in 0–9 from an .npz (``images``, ``labels``) or a
    directory of IDX files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``); a
    ValueError naming the problem otherwise."""
    path = Path(path)
    if path.is_dir():
        missing = [n for n in IDX_NAMES if not (path / n).is_file()]
        if missing:
            raise ValueError(f"--input {path}: no {missing[0]} in this directory")
        images, labels = (fmnist.read_idx_file(path / n) for n in IDX_NAMES)
    else:
        try:
            with np.load(path, allow_pickle=False) as npz:
                missing = [k for k in ("images", "labels") if k not in npz.files]
                if missing:
                    raise ValueError(f"--input {path}: no '{missing[0]}' array (expected images and labels)")
                images, labels = npz["images"], npz["labels"]
        except (OSError, EOFError) as e:
            raise ValueError(f"--input {path}: not a readable .npz or directory of IDX files ({e})") from None
    return check_labelled(images, labels, path)


def check_labelled(images: np.ndarray, labels: np.ndarray, where) -> tuple[np.ndarray, np.ndarray]:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"--input {where}: images are {images.dtype} {tuple(images.shape)}, expected uint8 "
                         "N×28×28")
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (len(images),):
        raise ValueError(f"--input {where}: labels are {labels.dtype} {tuple(labels.shape)}, expected "
                         f"{len(images)} integers")
    if len(images) == 0:
        raise ValueError(f"--input {where}: holds no images")
    outside = labels[(labels < 0) | (labels >= len(fmnist.CATEGORIES))]
    if len(outside):
        raise ValueError(f"--input {where}: label {int(outside[0])} is outside 0–9")
    return images, labels.astype(np.int64)


def around_posterior(mu: np.ndarray, logvar: np.ndarray, per_image: int, temperature: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``per_image`` latents z = μ + T·σ·ε from each posterior N(μ, σ²) (rows of ``mu``, ``logvar``),
    and the row each was drawn for (row 0's first, then row 1's, …)."""
    mu, logvar = np.atleast_2d(np.asarray(mu, np.float64)), np.atleast_2d(np.asarray(logvar, np.float64))
    source = np.repeat(np.arange(len(mu)), per_image)
    eps = rng.standard_normal((len(source), mu.shape[1]))
    return mu[source] + temperature * np.exp(0.5 * logvar[source]) * eps, source


@torch.no_grad()
def posterior_latents(model, images: np.ndarray, per_image: int, temperature: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``around_posterior`` of each image's q(z|x)."""
    x = fmnist.to_tensor(images)
    posteriors = [model.encode(x[i:i + 1000].to(D.of(model))) for i in range(0, len(x), 1000)]
    mu = torch.cat([p[0] for p in posteriors]).double().cpu().numpy()
    logvar = torch.cat([p[1] for p in posteriors]).double().cpu().numpy()
    return around_posterior(mu, logvar, per_image, temperature, rng)


def variants(model, images: np.ndarray, labels: np.ndarray, per_image: int,
             temperature: float = DEFAULT_TEMPERATURE,
             seed: int = 0, classifier=None, min_confidence: float | None = None,
             oversample: int = DEFAULT_OVERSAMPLE) -> dict[str, np.ndarray]:
    """The arrays ``augment`` writes: ``images`` (uint8), ``labels``, ``source`` and, where the
    classifier filtered them, ``confidence``."""
    rng = np.random.default_rng(seed)
    draws = per_image * (oversample if min_confidence is not None else 1)
    z, source = posterior_latents(model, images, draws, temperature, rng)
    decoded = decode(model, z)
    arrays = {}
    if min_confidence is not None:
        confidence = probabilities(classifier, decoded)[np.arange(len(source)), labels[source]]
        passed = confidence >= min_confidence
        # the first per_image candidates of each source that pass, in the order drawn
        rank = np.cumsum(passed.reshape(len(images), draws), axis=1).ravel()
        keep = passed & (rank <= per_image)
        z, source, decoded = z[keep], source[keep], decoded[keep]
        arrays["confidence"] = confidence[keep].astype(np.float32)
    return {"images": to_uint8(decoded), "labels": labels[source].astype(np.uint8),
            "source": source.astype(np.int32), **arrays}


def run_augment(input_path, out, per_image: int, checkpoint="assets", seed: int = 0, fmt: str = "npz",
                temperature: float = DEFAULT_TEMPERATURE, min_confidence: float | None = None,
                classifier_dir=None, device: str = "auto") -> dict:
    """Read a labelled set, write its variants (the model and classifier on ``device``); returns a
    summary of what was written."""
    if per_image < 1:
        raise ValueError(f"--per-image {per_image}: expected a positive number of variants per image")
    if fmt == "npz" and Path(out).suffix != ".npz":
        raise ValueError(f"--out {out}: expected a .npz file name (or --format idx)")
    images, labels = read_labelled(input_path)
    device = D.resolve(device)
    model = load_model(checkpoint, device=device)
    classifier = None
    if min_confidence is not None:
        classifier = load_classifier(classifier_dir_for(checkpoint, classifier_dir), device)
    arrays = variants(model, images, labels, per_image, temperature, seed, classifier, min_confidence)
    files = write(out, fmt, arrays, extras_beside_idx=True)
    return {"inputs": len(images), "written": len(arrays["labels"]), "files": files}


# --- the command line --------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, metavar="LABELLED",
                   help="an .npz with images (uint8 N×28×28) and labels (0–9), or a directory of IDX files "
                        "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz)")
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
                        f"≥ P, from {DEFAULT_OVERSAMPLE}× as many candidates")
    p.add_argument("--classifier", help="classifier directory (default: the checkpoint's, else assets/)")
    D.add_device(p)


def run_command(ns: argparse.Namespace) -> None:
    summary = run_augment(ns.input, ns.out, ns.per_image, ns.checkpoint, ns.seed, ns.format, ns.temperature,
                          ns.min_confidence, ns.classifier, ns.device)
    files = " and ".join(summary["files"])
    print(f"wrote {summary['written']} variants of {summary['inputs']} images to {files}")
