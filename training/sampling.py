"""Drawing latents: around a category's mean (the app's category sampling, the evaluation, the
``generate`` command), from a category's clusters, from the prior N(0, I), or from the learned prior
(a mixture fitted to where the training images' latents lie). One implementation, so the numbers the
evaluation reports are about the samples the app shows."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

# The app's and generate's category-sampling defaults: the categories' clusters, whose samples the
# classifier recognises as often as the real test images (docs/evaluation.md); the evaluation
# measures them and the paper's sampler around each category's mean ("covariance") at this noise.
DEFAULT_NOISE = 0.5
DEFAULT_SAMPLER = "mixture"
SAMPLERS = ("covariance", "mixture", "isotropic", "prior", "learned")
# The samplers that know no category: their samples are labelled by a classifier where labels are asked for.
UNCONDITIONAL = ("prior", "learned")
# Gaussians per category for the mixture sampler. The held-out log-likelihood of each category's μ
# gains 23–33 nats per image from 1 to 6 components; 8 is within 2 nats of the best K ≤ 12 in nine
# categories and 5 in the tenth, trousers (reports/notes.md, "A second category sampler that follows
# the clusters").
MIXTURE_COMPONENTS = 8


class CategoryMixtures(NamedTuple):
    """Each category's latents as a mixture of K Gaussians (``embed.category_mixtures``): C×K
    weights (0 for the components of a category fitted with fewer), C×K×k means, C×K×k×k
    covariances. Component means are the category's cluster centres."""
    weight: np.ndarray
    mean: np.ndarray
    cov: np.ndarray

    PREFIX = "category_mixture_"   # their names in embeddings.npz

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {self.PREFIX + name: value for name, value in self._asdict().items()}

    @classmethod
    def from_arrays(cls, arrays, latent_dim: int | None = None) -> CategoryMixtures | None:
        """The mixtures stored in ``arrays`` (an npz or a dict) if present and well-formed, else
        None: embeddings from before mixtures existed have none."""
        parts = _stored_mixture(arrays, cls.PREFIX, cls._fields, 2, latent_dim)
        return None if parts is None else cls(*parts)

    def components(self, c: int) -> np.ndarray:
        """Indices of category c's components, heaviest first."""
        used = np.flatnonzero(self.weight[c] > 0)
        return used[np.argsort(-self.weight[c][used], kind="stable")]

    def only(self, rank: int) -> CategoryMixtures:
        """The same clusters with all of each category's weight on its ``rank``-th heaviest (0: the
        heaviest), so that sampling draws that one style; a category with fewer clusters gets none."""
        weight = np.zeros_like(self.weight)
        for c in range(len(weight)):
            order = self.components(c)
            if 0 <= rank < len(order):
                weight[c, order[rank]] = 1.0
        return self._replace(weight=weight)


class LearnedPrior(NamedTuple):
    """A density over the whole latent space, fitted to where the encoder puts the training images (the
    aggregate posterior q(z) = E_x q(z|x), no labels): K full-covariance Gaussians. N(0, I) is what the
    ELBO asks q(z) to be, not what it is: prior samples land in the regions no image was encoded to,
    and decode to blends. Sampling the fitted q(z) instead is the second stage of Dai & Wipf's
    two-stage VAE (2019), with a mixture in place of their second VAE (``latent_prior.py`` fits it)."""
    weight: np.ndarray   # K
    mean: np.ndarray     # K×k
    cov: np.ndarray      # K×k×k

    PREFIX = "learned_prior_"   # their names in embeddings.npz

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {self.PREFIX + name: value for name, value in self._asdict().items()}

    @classmethod
    def from_arrays(cls, arrays, latent_dim: int | None = None) -> LearnedPrior | None:
        """The prior stored in ``arrays`` if present and well-formed, else None (embeddings from
        before it existed)."""
        parts = _stored_mixture(arrays, cls.PREFIX, cls._fields, 1, latent_dim)
        return None if parts is None else cls(*parts)

    @property
    def components(self) -> int:
        return int((self.weight > 0).sum())

    def sample(self, n: int, noise: float, seed: int | np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n latents (n×k) and the component of each: noise = 1 samples the fitted density, 0 gives
        the components' centres."""
        return sample_mixture(self.weight, self.mean, self.cov, n, noise, seed)


def _stored_mixture(arrays, prefix: str, fields: tuple[str, ...], lead: int, latent_dim: int | None):
    """weight (lead axes × K), mean (… × K × k) and cov (… × K × k × k) stored under ``prefix`` in
    ``arrays``, as float64, or None where any is missing, misshapen, not finite or without weight."""
    try:
        weight, mean, cov = (np.asarray(arrays[prefix + name], np.float64) for name in fields)
    except KeyError:
        return None
    shape = weight.shape if weight.ndim == lead else (0,) * lead
    k = latent_dim if latent_dim is not None else (mean.shape[-1] if mean.ndim == lead + 1 else -1)
    if (mean.shape != (*shape, k) or cov.shape != (*shape, k, k)
            or not all(np.isfinite(p).all() for p in (weight, mean, cov))
            or (weight < 0).any() or not (weight.sum(-1) > 0).all()):
        return None
    return weight, mean, cov


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


def sample_mixture(weight: np.ndarray, means: np.ndarray, covs: np.ndarray, n: int, noise: float,
                   seed: int | np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n latents from one category's mixture: a component drawn by its weight, then its mean +
    noise·ε, ε ~ N(0, its covariance). noise = 1 samples the fitted density; noise = 0 gives the
    cluster centres. Returns the latents and the component of each."""
    rng = np.random.default_rng(seed)
    weight = np.asarray(weight, np.float64)
    if n and not weight.sum() > 0:
        raise ValueError("the mixture has no components with weight (an empty category?)")
    component = rng.choice(len(weight), size=n, p=weight / weight.sum()) if n else np.zeros(0, np.int64)
    eps = rng.standard_normal((n, means.shape[1]))
    z = np.empty((n, means.shape[1]))
    for j in np.unique(component):
        sel = component == j
        z[sel] = means[j] + noise * eps[sel] @ np.linalg.cholesky(_psd(covs[j])).T
    return z, component


def assign_components(z: np.ndarray, weight: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """For each latent in z (n×k), the component of one category's mixture most likely to have
    drawn it: the largest weight × density. Components without weight are never chosen."""
    z = np.asarray(z, np.float64)
    log_p = np.full((len(z), len(weight)), -np.inf)
    for j in np.flatnonzero(np.asarray(weight) > 0):
        chol = np.linalg.cholesky(_psd(covs[j]))
        d = np.linalg.solve(chol, (z - means[j]).T)   # whitened offsets, k×n
        log_p[:, j] = np.log(weight[j]) - np.log(np.diag(chol)).sum() - 0.5 * (d ** 2).sum(0)
    return log_p.argmax(1)


def sample_prior(n: int, k: int, seed: int | np.random.Generator) -> np.ndarray:
    """n latents from the prior N(0, I)."""
    return np.random.default_rng(seed).standard_normal((n, k))


def sample_categories(means: np.ndarray, covs: np.ndarray | None, counts, noise: float,
                      seed: int, mixtures: CategoryMixtures | None = None) -> tuple[np.ndarray, np.ndarray]:
    """counts[c] latents around each category's mean (covs None: isotropic noise), or from its
    mixture when ``mixtures`` is given, with their intended labels; category c uses its own
    stream, so its samples do not depend on the others."""
    zs, labels = [], []
    for c, n in enumerate(counts):
        if n == 0:
            continue
        rng = np.random.default_rng([seed, c])
        if mixtures is not None:
            z, _ = sample_mixture(mixtures.weight[c], mixtures.mean[c], mixtures.cov[c], int(n), noise, rng)
            zs.append(z)
        else:
            zs.append(sample_around(means[c], int(n), noise, rng, None if covs is None else covs[c]))
        labels.append(np.full(int(n), c, np.int64))
    k = means.shape[1]
    if not zs:
        return np.zeros((0, k)), np.zeros(0, np.int64)
    return np.concatenate(zs), np.concatenate(labels)


def _psd(cov: np.ndarray, jitter: float = 1e-6) -> np.ndarray:
    cov = 0.5 * (np.asarray(cov, np.float64) + np.asarray(cov, np.float64).T)
    return cov + jitter * np.eye(len(cov))
