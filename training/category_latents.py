"""Each category's latents, summarised for sampling: its Gaussian (the mean and covariance of z over
the category's training images, the paper's sampler) and its clusters (a mixture of Gaussians, the
default sampler). ``embed`` fits them and stores them with a model's maps; ``generate``, the
evaluation, the sample sheets and the app read them back where they were fitted to the same weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import stored_embeddings
from .inference import encode_all
from .sampling import MIXTURE_COMPONENTS, CategoryMixtures


def category_statistics(mu: np.ndarray, logvar: np.ndarray, labels: np.ndarray, n_categories: int = 10):
    """Per category: the mean of μ, the covariance of z, Cov(μ) + mean diag σ² (the moment-matched
    Gaussian of the category's aggregate posterior), the mean log σ² and the number of images."""
    k = mu.shape[1]
    mean = np.zeros((n_categories, k), np.float32)
    cov = np.zeros((n_categories, k, k), np.float32)
    logvar_mean = np.zeros((n_categories, k), np.float32)
    count = np.zeros(n_categories, np.int64)
    for c in range(n_categories):
        sel = labels == c
        count[c] = sel.sum()
        if count[c] == 0:
            continue
        m, lv = mu[sel].astype(np.float64), logvar[sel].astype(np.float64)
        mean[c] = m.mean(0)
        spread = np.cov(m, rowvar=False) if count[c] > 1 else np.zeros((k, k))
        cov[c] = spread + np.diag(np.exp(lv).mean(0))
        logvar_mean[c] = lv.mean(0)
    return mean, cov, logvar_mean, count


def category_mixtures(mu: np.ndarray, logvar: np.ndarray, labels: np.ndarray,
                      components: int = MIXTURE_COMPONENTS,
                      n_categories: int = 10, seed: int = 0) -> CategoryMixtures:
    """Each category's μ fitted with a mixture of full-covariance Gaussians (EM, k-means start,
    fixed seed); each component's covariance also gets its members' mean posterior variance σ²,
    as ``category_statistics`` does for the single Gaussian, so noise 1 samples the category's
    aggregate posterior. A category with fewer images than components gets one per image; one with
    no images, zero weights."""
    from sklearn.mixture import GaussianMixture
    k = mu.shape[1]
    weight = np.zeros((n_categories, components), np.float32)
    means = np.zeros((n_categories, components, k), np.float32)
    covs = np.zeros((n_categories, components, k, k), np.float32)
    for c in range(n_categories):
        sel = labels == c
        if not sel.any():
            continue
        m, var = mu[sel].astype(np.float64), np.exp(logvar[sel].astype(np.float64))
        if len(m) == 1:  # EM needs two points: the image itself, with its posterior variance
            weight[c, 0], means[c, 0], covs[c, 0] = 1.0, m[0], np.diag(var[0])
            continue
        n = min(components, len(m))
        gmm = GaussianMixture(n, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(m)
        resp = gmm.predict_proba(m)
        posterior = (resp.T @ var) / np.maximum(resp.sum(0), 1e-12)[:, None]
        weight[c, :n] = gmm.weights_
        means[c, :n] = gmm.means_
        covs[c, :n] = gmm.covariances_ + posterior[:, :, None] * np.eye(k)
    return CategoryMixtures(weight, means, covs)


def stored_category_mixtures(directory, model, components: int | None = None,
                             training_images: int | None = None) -> CategoryMixtures | None:
    """The mixtures ``embed`` wrote into ``directory`` if they were fitted to these weights' μ (of
    ``training_images`` training images with ``components`` components, where given), else None
    (then fit them with ``category_mixtures``): the evaluation and ``generate`` use the mixtures
    the app samples."""
    found = own_stored(directory, model, training_images)
    if found is None or components is not None and found.info.get("mixture_components") != components:
        return None
    return CategoryMixtures.from_arrays(found.arrays)


def own_stored(directory, model, training_images: int | None = None):
    """The directory's embeddings (``stored_embeddings``) if made for these very weights, and (where
    given) from ``training_images`` training images; else None."""
    found = stored_embeddings.stored(directory, model)
    if (found is None or found.info.get("model_weights_sha256") != model.info.get("weights_sha256")
            or training_images is not None
            and found.info.get("category_statistics_from") != f"{training_images} training images"):
        return None
    return found


def for_model(model, directory: Path, data_dir=None, mixtures: bool = False):
    """Category means, covariances and (with ``mixtures``) mixtures, and where they came from: the
    directory's embeddings when they were made for these weights and hold what is asked for,
    otherwise the 60k training images encoded now (needs the dataset)."""
    found = own_stored(directory, model)
    if found is not None:
        try:
            mixture = CategoryMixtures.from_arrays(found.arrays) if mixtures else None
            if mixture is not None or not mixtures:  # embeddings from before mixtures: fit them below
                return (found.arrays["category_mean"].astype(np.float64),
                        found.arrays["category_cov"].astype(np.float64), mixture, str(found.path))
        except (OSError, ValueError, KeyError):
            pass
    from .model_data import of_model
    data = of_model(model.info, data_dir)   # Fashion-MNIST, or the folder the model was trained on
    mu, logvar, _ = encode_all(model, data.train_images)
    n = len(data.categories)
    mean, cov, _, _ = category_statistics(mu, logvar, data.train_labels, n)
    mixture = category_mixtures(mu, logvar, data.train_labels, n_categories=n) if mixtures else None
    return (mean.astype(np.float64), cov.astype(np.float64), mixture,
            f"the {len(mu):,} training images (encoded now)")
