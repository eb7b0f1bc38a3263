"""The learned prior: a mixture of Gaussians fitted to where the encoder puts the training images, so
that samples drawn without a category look like the data (``sampling.LearnedPrior``). ``embed`` fits
it and stores it with a model's maps; ``generate --sampler learned``, the evaluation and the app read
it back where it was fitted to the same weights, and fit it now where it was not."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .category_latents import own_stored
from .inference import encode_all
from .sampling import LearnedPrior

# Components of the learned prior; fewer where the training set is small (``prior_components``).
PRIOR_COMPONENTS = 32
# Images per component per latent dimension at least: a full covariance of k dimensions is estimated
# from no fewer than 2k images on average, so a small folder gets a few broad components.
IMAGES_PER_DIMENSION = 2


def prior_components(images: int, latent_dim: int, components: int = PRIOR_COMPONENTS) -> int:
    """How many components ``images`` training latents of ``latent_dim`` dimensions support, at most
    ``components``."""
    return max(1, min(components, images // (IMAGES_PER_DIMENSION * latent_dim)))


def fit_learned_prior(mu: np.ndarray, logvar: np.ndarray, components: int = PRIOR_COMPONENTS,
                      seed: int = 0) -> LearnedPrior:
    """A mixture of full-covariance Gaussians (EM, k-means start) fitted to one z ~ q(z|x) per training
    image, drawn from a generator seeded by ``seed``: a sample of the aggregate posterior itself, so
    noise 1 samples it. Fitting μ and widening each component by its members' σ², as the category
    mixtures do, took 6× as long and sampled slightly worse (reports/notes.md, step 41)."""
    from sklearn.mixture import GaussianMixture
    m, var = mu.astype(np.float64), np.exp(logvar.astype(np.float64))
    n = prior_components(len(m), m.shape[1], components)
    if len(m) == 1:   # EM needs two points: the image itself, with its posterior variance
        return _float32(np.ones(1), m, np.diag(var[0])[None])
    z = m + np.sqrt(var) * np.random.default_rng(seed).standard_normal(m.shape)
    gmm = GaussianMixture(n, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(z)
    return _float32(gmm.weights_, gmm.means_, gmm.covariances_)


def _float32(weight, mean, cov) -> LearnedPrior:
    return LearnedPrior(*(np.asarray(a, np.float32) for a in (weight, mean, cov)))


def stored_learned_prior(directory, model, training_images: int | None = None) -> LearnedPrior | None:
    """The learned prior ``embed`` wrote into ``directory`` if it was fitted to these weights' latents
    (of ``training_images`` training images, where given), else None."""
    found = own_stored(directory, model, training_images)
    return None if found is None else LearnedPrior.from_arrays(found.arrays, model.config.latent_dim)


def learned_prior_for(model, directory, data_dir=None, seed: int = 0) -> tuple[LearnedPrior, str]:
    """The model's learned prior and where it came from: the directory's embeddings where they hold
    one fitted to these weights, otherwise fitted now to the training images encoded now (needs the
    model's data)."""
    stored = stored_learned_prior(directory, model)
    if stored is not None:
        return stored, str(Path(directory) / "embeddings.npz")
    import sys

    from .model_data import of_model
    data = of_model(model.info, data_dir)   # Fashion-MNIST, or the folder the model was trained on
    print(f"{directory}: no learned prior stored for these weights; fitting one to the "
          f"{len(data.train_images):,} training images (minutes; `python -m training embed` stores it)",
          file=sys.stderr, flush=True)
    mu, logvar, _ = encode_all(model, data.train_images)
    return (fit_learned_prior(mu, logvar, seed=seed),
            f"the {len(mu):,} training images (encoded and fitted now)")
