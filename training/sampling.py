"""Drawing latents: around a category's mean (the app's category sampling, the evaluation, the
``generate`` command) or from the prior. One implementation, so the numbers the evaluation reports
are about the samples the app shows."""
from __future__ import annotations

import numpy as np

# The app's category-sampling defaults; the evaluation's category_agreement and FID use them.
DEFAULT_NOISE = 0.5
DEFAULT_SAMPLER = "covariance"
SAMPLERS = ("covariance", "isotropic", "prior")


def sample_around(mean: np.ndarray, n: int, noise: float, seed: int | np.random.Generator,
                  cov: np.ndarray | None = None) -> np.ndarray:
    """n latents around a category mean: mean + noise·ε with ε ~ N(0, I) (isotropic, in prior
    units) or ε ~ N(0, cov) (the category's fitted Gaussian). noise = 0 gives the mean itself."""
    rng = np.random.default_rng(seed)
    k = len(mean)
    eps = rng.standard_normal((n, k))
    if cov is not None:
        eps = eps @ np.linalg.cholesky(_psd(cov)).T
    return np.asarray(mean, np.float64)[None] + noise * eps


def sample_prior(n: int, k: int, seed: int | np.random.Generator) -> np.ndarray:
    """n latents from the prior N(0, I)."""
    return np.random.default_rng(seed).standard_normal((n, k))


def sample_categories(means: np.ndarray, covs: np.ndarray | None, counts, noise: float,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """counts[c] latents around each category's mean (covs None: isotropic noise), with their
    intended labels; category c uses its own stream, so its samples do not depend on the others."""
    zs, labels = [], []
    for c, n in enumerate(counts):
        if n == 0:
            continue
        rng = np.random.default_rng([seed, c])
        zs.append(sample_around(means[c], int(n), noise, rng, None if covs is None else covs[c]))
        labels.append(np.full(int(n), c, np.int64))
    k = means.shape[1]
    return (np.concatenate(zs) if zs else np.zeros((0, k))), (np.concatenate(labels) if labels else np.zeros(0, np.int64))


def _psd(cov: np.ndarray, jitter: float = 1e-6) -> np.ndarray:
    cov = 0.5 * (np.asarray(cov, np.float64) + np.asarray(cov, np.float64).T)
    return cov + jitter * np.eye(len(cov))
