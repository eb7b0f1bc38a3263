"""Synthetic Fashion-MNIST (what ``python -m training generate`` writes): images with their intended
labels, as ``.npz`` or as gzipped IDX files any Fashion-MNIST reader loads.

Samplers (the same code as the app's category sampling, ``sampling.py``):
  mixture     z = mean_cj + noise · ε, ε ~ N(0, Σ_cj), component j of the category's fitted
              mixture drawn by its weight: samples stay near the category's clusters (default;
              ``--cluster R``: always the R-th heaviest, one style, as the app's "Draw from")
  covariance  z = mean_c + noise · ε, ε ~ N(0, Σ_c), the category's fitted Gaussian (the paper's)
  isotropic   z = mean_c + noise · ε, ε ~ N(0, I)
  prior       z = noise · ε, ε ~ N(0, I), labelled by the classifier; drawn until each requested
              category has N (rejection sampling), since the prior knows no categories
  learned     z from the learned prior, a mixture fitted to every training image's latent
              (``latent_prior``), labelled by the classifier as the prior's are
Without categories (no ``--category``/``--all``) the two unconditional samplers write N images with
their latents and no labels: what the model draws when nobody names a category.
With ``--min-confidence P`` the classifier keeps only samples it assigns to the intended category
with probability ≥ P, and the command reports how many were kept.
Every byte is a function of the seed: the same command writes the same files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import data as fmnist
from .. import device as D
from .. import labelled
from ..category_latents import for_model
from ..errors import ProjectError
from ..evaluation.classifier import load_judge, probabilities
from ..inference import decode_pixels
from ..latent_prior import learned_prior_for
from ..model import load_model
from ..model_data import category_names
from ..sampling import DEFAULT_SAMPLER, SAMPLERS, UNCONDITIONAL, sample_categories, sample_prior
from . import concepts

MAX_PRIOR_DRAWS = 200   # × N per category before an unconditional sampler gives up on a rare category


def check_arguments(out: Path, sampler: str, fmt: str, min_confidence: float | None,
                    cluster: int | None, labelled: bool = True) -> None:
    """Refuse a bad combination before anything is loaded or drawn; ``labelled``: categories were
    asked for."""
    if sampler not in SAMPLERS:
        raise ProjectError(f"--sampler {sampler!r}: expected one of {', '.join(SAMPLERS)}")
    if not labelled:
        if sampler not in UNCONDITIONAL:
            raise ProjectError(f"--sampler {sampler}: draws from a category; give --category or --all, or "
                               f"use --sampler {' or '.join(UNCONDITIONAL)} to draw without one")
        for given, flag in ((fmt == "idx", "--format idx"), (min_confidence is not None, "--min-confidence")):
            if given:
                raise ProjectError(f"{flag}: needs labels; give --category or --all")
    if cluster is not None and (sampler != "mixture" or cluster < 1):
        raise ProjectError(f"--cluster {cluster}: expected a cluster number ≥ 1 (1 = the heaviest), with "
                         "--sampler mixture")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise ProjectError(f"--min-confidence {min_confidence}: expected a probability between 0 and 1")
    if fmt == "npz" and out.suffix != ".npz":
        raise ProjectError(f"--out {out}: expected a .npz file name (or --format idx)")


def draw(model, checkpoint: Path, classifier, counts: np.ndarray, noise: float, sampler: str, seed: int,
         data_dir, cluster: int | None, names: tuple[str, ...] = fmnist.CATEGORIES
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """counts[c] latents for each category c with their labels, the classifier's probabilities where
    the sampler needed them, and where the category statistics came from."""
    if sampler in UNCONDITIONAL:
        draw_batch, about = unconditional(model, checkpoint, sampler, noise, data_dir)
        z, labels, probs = _until_full(model, classifier, counts, draw_batch, seed, sampler)
        return z, labels, probs, about
    mean, cov, mixtures, source = for_model(model, checkpoint, data_dir, mixtures=sampler == "mixture")
    about = {"statistics": source}
    if cluster is not None:
        mixtures = mixtures.only(cluster - 1)
        short = [names[c] for c in np.flatnonzero(counts) if not mixtures.weight[c].sum() > 0]
        if short:
            raise ProjectError(f"--cluster {cluster}: {', '.join(short)} has fewer clusters in {source}")
        about["cluster"] = cluster
    covariances = cov if sampler == "covariance" else None
    z, labels = sample_categories(mean, covariances, counts, noise, seed, mixtures)
    return z, labels, None, about


def unconditional(model, checkpoint: Path, sampler: str, noise: float, data_dir):
    """A function of (generator, m) drawing m latents from the prior N(0, I) or the learned prior,
    and where its statistics came from."""
    if sampler == "prior":
        k = model.config.latent_dim
        return (lambda rng, m: noise * sample_prior(m, k, rng)), {"statistics": "none (prior)"}
    prior, source = learned_prior_for(model, checkpoint, data_dir)
    return ((lambda rng, m: prior.sample(m, noise, rng)[0]),
            {"statistics": source, "learned_prior_components": prior.components})


def generate(checkpoint, out, categories: list[int] | None, n: int, noise: float,
             sampler: str = DEFAULT_SAMPLER,
             seed: int = 0, fmt: str = "npz", min_confidence: float | None = None, classifier_dir=None,
             data_dir=None, cluster: int | None = None, device: str = "auto", concept=None,
             strength: float = 1.0) -> dict:
    """Draw n images for each of ``categories`` (decoded on ``device``), or n without labels where
    ``categories`` is None, pushed along a ``concept`` file's direction by ``strength`` where one is
    given, keep those the classifier is confident of where asked, and write them; returns a summary
    of what was drawn, kept and written."""
    checkpoint = Path(checkpoint)
    check_arguments(Path(out), sampler, fmt, min_confidence, cluster, labelled=categories is not None)
    device = D.resolve(device)
    model = load_model(checkpoint, device=device)
    direction, pushed = None, None
    if concept is not None:   # before anything is drawn: a concept of other weights is refused
        loaded = concepts.load(concept, model.info.get("weights_sha256", ""), model.config.latent_dim)
        direction = loaded.direction
        pushed = {"file": str(concept), "name": loaded.name, "strength": strength}
    if categories is None:
        return _write_unlabelled(model, checkpoint, out, n, noise, sampler, seed, data_dir, direction, pushed)
    classifier = None
    if min_confidence is not None or sampler in UNCONDITIONAL:
        classifier = load_judge(checkpoint, model.info, classifier_dir, device)
    names = category_names(model.info)
    counts = np.zeros(len(names), np.int64)
    counts[categories] = n
    z, labels, probs, about = draw(model, checkpoint, classifier, counts, noise, sampler, seed, data_dir,
                                   cluster, names)
    summary = {"checkpoint": str(checkpoint), "sampler": sampler, "noise": noise, "seed": seed, **about}
    if direction is not None:
        z = concepts.push(z, direction, strength)
        summary["concept"] = pushed
    images = decode_pixels(model, z)
    if classifier is not None and probs is None:
        probs = probabilities(classifier, images)
    confidence = probs[np.arange(len(labels)), labels] if probs is not None else None
    drawn = len(labels)
    if min_confidence is not None:
        keep = confidence >= min_confidence
        z, labels, images, confidence = z[keep], labels[keep], images[keep], confidence[keep]
        summary["min_confidence"] = min_confidence
    summary.update(drawn=int(drawn), kept=int(len(labels)),
                   kept_per_category={names[c]: int((labels == c).sum()) for c in categories})
    arrays = {"images": labelled.to_uint8(images), "labels": labels.astype(np.uint8),
              "z": z.astype(np.float32)}
    if confidence is not None:
        arrays["confidence"] = confidence.astype(np.float32)
    summary["files"] = labelled.write(out, fmt, arrays)
    return summary


def _write_unlabelled(model, checkpoint: Path, out, n: int, noise: float, sampler: str, seed: int, data_dir,
                      direction, pushed: dict | None) -> dict:
    """n images from an unconditional sampler, written with their latents and no labels."""
    draw_batch, about = unconditional(model, checkpoint, sampler, noise, data_dir)
    z = draw_batch(np.random.default_rng(seed), n)
    summary = {"checkpoint": str(checkpoint), "sampler": sampler, "noise": noise, "seed": seed, **about}
    if direction is not None:
        z = concepts.push(z, direction, pushed["strength"])
        summary["concept"] = pushed
    images = decode_pixels(model, z)
    summary.update(drawn=n, kept=n)
    arrays = {"images": labelled.to_uint8(images), "z": z.astype(np.float32)}
    summary["files"] = labelled.write(out, "npz", arrays)
    return summary


def _until_full(model, classifier, counts, draw_batch, seed: int, sampler: str):
    """Latents from ``draw_batch`` labelled by the classifier, kept until each category has its count
    (rejection sampling): an unconditional sampler knows no categories."""
    rng = np.random.default_rng(seed)
    want = counts.copy()
    zs, labels, probs = [], [], []
    drawn, limit = 0, MAX_PRIOR_DRAWS * max(1, int(counts.max()))
    while want.sum() > 0 and drawn < limit * max(1, int((counts > 0).sum())):
        z = draw_batch(rng, 1000)
        drawn += len(z)
        p = probabilities(classifier, decode_pixels(model, z))
        pred = p.argmax(1)
        for i in range(len(z)):
            if want[pred[i]] > 0:
                want[pred[i]] -= 1
                zs.append(z[i])
                labels.append(pred[i])
                probs.append(p[i])
    if want.sum() > 0:
        names = category_names(model.info)
        short = ", ".join(f"{names[c]} {counts[c] - want[c]} of {counts[c]}" for c in np.flatnonzero(want))
        raise ProjectError(f"--sampler {sampler}: after {drawn} draws the classifier found too few of: "
                           f"{short}; use --sampler mixture for rare categories")
    order = np.argsort(np.asarray(labels), kind="stable")  # grouped by category, like the other samplers
    return np.asarray(zs)[order], np.asarray(labels, np.int64)[order], np.asarray(probs)[order]
