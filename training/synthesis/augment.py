"""Label-preserving variants of labelled images (what ``python -m training augment`` writes).

Each image x is encoded to its posterior q(z|x) = N(μ, σ²), and K variants are decoded from
z = μ + T·σ·ε, ε ~ N(0, I): samples of what the model considers the same item, at a temperature T
that widens (T > 1) or narrows the posterior (the "exemplar" idea: Norouzi et al. 2020). Each
variant keeps its source's label and records its source's index. By default the model's classifier
keeps only the variants it assigns to the source's label with probability ≥ 0.5, from ``oversample``
times as many candidates, the first K that pass, in the order drawn: at T = 4 the variants so kept
are recognised by the independent judge as their source's category as often as the real test images
are (0.961 against 0.933; every category within 5 points), where unfiltered variants at the former
default T = 8 trailed by 11 points (pullovers by 33). An image none of whose candidates passes gets
no variant; the summary counts them by category (docs/augmentation.md, notes step 44).

Every byte is a function of the input, the model and the seed: the same command writes the same
file. How much these variants help a classifier with few labels, and how to mix them into its
training, is measured by ``bench/augmentation.py`` (docs/augmentation.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .. import device as D
from .. import labelled
from ..errors import ProjectError
from ..evaluation.classifier import load_judge, probabilities
from ..inference import decode_pixels, encode_all
from ..model import ModelLoadError, load_model
from ..model_data import category_names

DEFAULT_TEMPERATURE = 4.0   # the widest that keeps labels, with the filter (docs/augmentation.md)
DEFAULT_MIN_CONFIDENCE = 0.5   # the classifier's probability of the source's label a variant needs
DEFAULT_OVERSAMPLE = 3   # candidates per kept variant when the classifier filters them


def around_posterior(mu: np.ndarray, logvar: np.ndarray, per_image: int, temperature: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``per_image`` latents z = μ + T·σ·ε from each posterior N(μ, σ²) (rows of ``mu``, ``logvar``),
    and the row each was drawn for (row 0's first, then row 1's, …)."""
    mu, logvar = np.atleast_2d(np.asarray(mu, np.float64)), np.atleast_2d(np.asarray(logvar, np.float64))
    source = np.repeat(np.arange(len(mu)), per_image)
    eps = rng.standard_normal((len(source), mu.shape[1]))
    return mu[source] + temperature * np.exp(0.5 * logvar[source]) * eps, source


def first_passing(passed: np.ndarray, groups: int, per_group: int) -> np.ndarray:
    """Which candidates to keep: the first ``per_group`` that passed in each of ``groups`` consecutive,
    equal runs of ``passed`` (each source's candidates, in the order drawn)."""
    rank = np.cumsum(passed.reshape(groups, -1), axis=1).ravel()
    return passed & (rank <= per_group)


def posterior_latents(model, images: np.ndarray, per_image: int, temperature: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``around_posterior`` of each image's q(z|x)."""
    mu, logvar, _ = encode_all(model, images, errors=False)
    return around_posterior(mu, logvar, per_image, temperature, rng)


def variants(model, images: np.ndarray, labels: np.ndarray, per_image: int,
             temperature: float = DEFAULT_TEMPERATURE,
             seed: int = 0, judge: Callable[[np.ndarray], np.ndarray] | None = None,
             min_confidence: float | None = None,
             oversample: int = DEFAULT_OVERSAMPLE) -> dict[str, np.ndarray]:
    """The arrays ``augment`` writes: ``images`` (uint8), ``labels``, ``source`` and, where ``judge``
    (decoded images → class probabilities) filtered them at ``min_confidence``, ``confidence``."""
    rng = np.random.default_rng(seed)
    filtered = judge is not None and min_confidence is not None
    draws = per_image * (oversample if filtered else 1)
    z, source = posterior_latents(model, images, draws, temperature, rng)
    decoded = decode_pixels(model, z)
    arrays = {}
    if filtered:
        confidence = judge(decoded)[np.arange(len(source)), labels[source]]
        keep = first_passing(confidence >= min_confidence, len(images), per_image)
        z, source, decoded = z[keep], source[keep], decoded[keep]
        arrays["confidence"] = confidence[keep].astype(np.float32)
    return {"images": labelled.to_uint8(decoded), "labels": labels[source].astype(np.uint8),
            "source": source.astype(np.int32), **arrays}


def run_augment(input_path, out, per_image: int, checkpoint="assets", seed: int = 0, fmt: str = "npz",
                temperature: float = DEFAULT_TEMPERATURE, min_confidence: float | None = None,
                classifier_dir=None, device: str = "auto") -> dict:
    """Read a labelled set, write its variants (the model and classifier on ``device``); returns a
    summary of what was written. ``min_confidence`` None is the default filter, skipped with a note
    where the model has no classifier; 0 turns the filter off; any other value needs a classifier."""
    if per_image < 1:
        raise ProjectError(f"--per-image {per_image}: expected a positive number of variants per image")
    if fmt == "npz" and Path(out).suffix != ".npz":
        raise ProjectError(f"--out {out}: expected a .npz file name (or --format idx)")
    device = D.resolve(device)
    model = load_model(checkpoint, device=device)
    side, channels = model.config.image_size, model.config.channels
    images, labels = labelled.read(input_path, (side, side) if channels == 1 else (side, side, 3),
                                   category_names(model.info))
    threshold = DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence
    judge, note = None, None
    if threshold > 0:
        try:
            classifier = load_judge(checkpoint, model.info, classifier_dir, device)
            judge = lambda decoded: probabilities(classifier, decoded)   # noqa: E731
        except ModelLoadError as e:
            if min_confidence is not None or classifier_dir:   # asked for: then not running it is an error
                raise
            note = f"unfiltered: {e}"
    arrays = variants(model, images, labels, per_image, temperature, seed, judge,
                      threshold if judge else None)
    files = labelled.write(out, fmt, arrays, extras_beside_idx=True)
    names = category_names(model.info)
    without = np.bincount(labels[np.setdiff1d(np.arange(len(images)), arrays["source"])],
                          minlength=len(names)) if judge else np.zeros(len(names), int)
    return {"inputs": len(images), "written": len(arrays["labels"]), "files": files, "note": note,
            "min_confidence": threshold if judge else None,
            "without_variant": {names[c]: int(k) for c, k in enumerate(without) if k}}
