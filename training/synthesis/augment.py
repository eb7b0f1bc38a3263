"""Label-preserving variants of labelled images (what ``python -m training augment`` writes).

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

from pathlib import Path

import numpy as np

from .. import device as D
from .. import labelled
from ..errors import ProjectError
from ..evaluation.classifier import load_judge, probabilities
from ..inference import decode_pixels, encode_all
from ..model import load_model
from ..model_data import category_names

DEFAULT_TEMPERATURE = 8.0   # the best measured at 600 labels (T = 1, 4, 8, 12, 16: docs/augmentation.md)
DEFAULT_OVERSAMPLE = 3   # candidates per kept variant when the classifier filters them


def around_posterior(mu: np.ndarray, logvar: np.ndarray, per_image: int, temperature: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``per_image`` latents z = μ + T·σ·ε from each posterior N(μ, σ²) (rows of ``mu``, ``logvar``),
    and the row each was drawn for (row 0's first, then row 1's, …)."""
    mu, logvar = np.atleast_2d(np.asarray(mu, np.float64)), np.atleast_2d(np.asarray(logvar, np.float64))
    source = np.repeat(np.arange(len(mu)), per_image)
    eps = rng.standard_normal((len(source), mu.shape[1]))
    return mu[source] + temperature * np.exp(0.5 * logvar[source]) * eps, source


def posterior_latents(model, images: np.ndarray, per_image: int, temperature: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``around_posterior`` of each image's q(z|x)."""
    mu, logvar, _ = encode_all(model, images, errors=False)
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
    decoded = decode_pixels(model, z)
    arrays = {}
    if min_confidence is not None:
        confidence = probabilities(classifier, decoded)[np.arange(len(source)), labels[source]]
        passed = confidence >= min_confidence
        # the first per_image candidates of each source that pass, in the order drawn
        rank = np.cumsum(passed.reshape(len(images), draws), axis=1).ravel()
        keep = passed & (rank <= per_image)
        z, source, decoded = z[keep], source[keep], decoded[keep]
        arrays["confidence"] = confidence[keep].astype(np.float32)
    return {"images": labelled.to_uint8(decoded), "labels": labels[source].astype(np.uint8),
            "source": source.astype(np.int32), **arrays}


def run_augment(input_path, out, per_image: int, checkpoint="assets", seed: int = 0, fmt: str = "npz",
                temperature: float = DEFAULT_TEMPERATURE, min_confidence: float | None = None,
                classifier_dir=None, device: str = "auto") -> dict:
    """Read a labelled set, write its variants (the model and classifier on ``device``); returns a
    summary of what was written."""
    if per_image < 1:
        raise ProjectError(f"--per-image {per_image}: expected a positive number of variants per image")
    if fmt == "npz" and Path(out).suffix != ".npz":
        raise ProjectError(f"--out {out}: expected a .npz file name (or --format idx)")
    device = D.resolve(device)
    model = load_model(checkpoint, device=device)
    side, channels = model.config.image_size, model.config.channels
    images, labels = labelled.read(input_path, (side, side) if channels == 1 else (side, side, 3),
                                   category_names(model.info))
    classifier = None
    if min_confidence is not None:
        classifier = load_judge(checkpoint, model.info, classifier_dir, device)
    arrays = variants(model, images, labels, per_image, temperature, seed, classifier, min_confidence)
    files = labelled.write(out, fmt, arrays, extras_beside_idx=True)
    return {"inputs": len(images), "written": len(arrays["labels"]), "files": files}
