"""Generated images judged by the project's classifier (``classifier.py``): how often samples are
recognised as the category they were drawn for, at several noise scales and cluster by cluster."""
from __future__ import annotations

import numpy as np
import torch

from .. import data as fmnist
from ..inference import decode_batched
from ..model import VAE
from ..sampling import CategoryMixtures, assign_components, sample_around, sample_categories
from . import metrics as M
from .classifier import predict

# Noise scales at which category agreement is also measured, so a user can see what more variety
# costs in recognisability (the app's default, DEFAULT_NOISE, is among them).
AGREEMENT_NOISE_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)


def classify(classifier, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Classifier features (N×256) and predicted categories."""
    feats, probs = predict(classifier, images)
    return feats, probs.argmax(1)


def agreement_by_noise(model: VAE, classifier, mean: np.ndarray, cov: np.ndarray, counts, seed: int,
                       scales=AGREEMENT_NOISE_SCALES, names=fmnist.CATEGORIES) -> dict:
    """Category agreement at each noise scale (the same sampler and seed as
    ``category_agreement``), and the judge's probability of each category for its decoded mean:
    where in a category's Gaussian its samples stop being recognised."""
    overall, per_category = [], []
    for noise in scales:
        z, y = sample_categories(mean, cov, counts, noise, seed)
        total, per = M.agreement(classify(classifier, decode_batched(model, z))[1], y, len(names))
        overall.append(total)
        per_category.append(per)
    probs = predict(classifier, decode_batched(model, mean))[1]
    return {"category_agreement_by_noise": {
                "noise": [float(x) for x in scales], "overall": overall,
                "per_category": {name: [per[c] for per in per_category] for c, name in enumerate(names)}},
            "category_mean_judge_prob": {name: float(probs[c, c]) for c, name in enumerate(names)}}


def cluster_recognition(model: VAE, classifier, mixtures: CategoryMixtures, test_mu: np.ndarray,
                        test_labels: np.ndarray, test_pred: np.ndarray, recon_pred: np.ndarray, n: int,
                        noise: float, seed: int, names=fmnist.CATEGORIES) -> dict:
    """Per category, per cluster of its mixture (heaviest first): its weight, the share of n samples
    drawn around it alone at ``noise`` that the judge recognises, and, of the category's test images
    that the cluster owns (``assign_components``), how many there are and the share the judge
    recognises, as real images and as reconstructions. A cluster whose samples fall short of its own
    real items is a style the model draws less recognisably than the data (its reconstructions
    tell whether the autoencoder already loses it); one whose real items are misread is ambiguous
    in the data itself."""
    per_category = {}
    for c, name in enumerate(names):
        mine = np.flatnonzero(test_labels == c)
        owner = assign_components(test_mu[mine], mixtures.weight[c], mixtures.mean[c], mixtures.cov[c])
        rows = []
        for j in mixtures.components(c):
            rng = np.random.default_rng([seed, c, j])
            z = sample_around(mixtures.mean[c][j], n, noise, rng, mixtures.cov[c][j])
            owned = mine[owner == j]
            recognised = classify(classifier, decode_batched(model, z))[1] == c
            rows.append({"component": int(j), "weight": float(mixtures.weight[c][j]),
                         "sample_agreement": float(recognised.mean()), "test_images": int(len(owned)),
                         "test_acc": _share(test_pred, owned, c),
                         "reconstruction_acc": _share(recon_pred, owned, c)})
        per_category[name] = rows
    return {"noise": noise, "samples_per_cluster": n, "per_category": per_category}


def _share(predictions: np.ndarray, items: np.ndarray, category: int) -> float | None:
    """The share of ``items`` predicted as ``category``; None when there are none."""
    return float((predictions[items] == category).mean()) if len(items) else None
