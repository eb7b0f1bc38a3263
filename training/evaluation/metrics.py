"""The maths of the evaluation: pure functions on arrays and tensors, each testable on a case with
a known answer (tests/test_evaluate.py). ``evaluate.py`` wires them to a model and the data."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..losses import gaussian_nll

LOG_2PI = math.log(2 * math.pi)
GREY_LEVELS = 256


# --- likelihood bounds -------------------------------------------------------------------------

def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag e^logvar), summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def log_mean_exp(a: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log(mean(exp(a))) along ``dim`` without overflow."""
    return torch.logsumexp(a, dim) - math.log(a.shape[dim])


def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """The importance-weighted bound (Burda et al. 2016) from N×K log weights
    log p(x, z_k) − log q(z_k | x): log (1/K) Σ_k w_k per image. K = 1 is the one-sample ELBO;
    the bound never decreases in expectation as K grows and tends to log p(x)."""
    return log_mean_exp(log_weights, dim=1)


def dequantise(pixels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform dequantisation of 8-bit pixels: (v + u) / 256 with u ~ U[0, 1), a point of the grey
    level's own bin, so a density on [0, 1] gives a lower bound on the discrete probability."""
    u = torch.rand(pixels.shape, generator=generator)
    return (pixels.float() + u) / GREY_LEVELS


def discrete_nll_nats(continuous_nll_nats: float | np.ndarray, dims: int) -> float | np.ndarray:
    """Negative log-probability of 8-bit data from a density's NLL on the dequantised data in [0, 1]:
    each bin has width 1/256, so −log P = −log p + dims · log 256 (upper bound)."""
    return continuous_nll_nats + dims * math.log(GREY_LEVELS)


def gaussian_nll_sum(x: torch.Tensor, mean: torch.Tensor, log_sigma: float) -> torch.Tensor:
    """−log N(x; mean, σ²I) per image, summed over pixels."""
    return gaussian_nll(x, mean, log_sigma).flatten(1).sum(1)


def bits_per_dim(nll_nats: float, dims: int) -> float:
    return nll_nats / (dims * math.log(2))


def fitted_log_sigma(sum_sq_error: float, count: int) -> float:
    """The single σ that maximises a Gaussian likelihood of residuals: σ² = mean squared residual."""
    return 0.5 * math.log(sum_sq_error / count)


def psnr_db(mse: np.ndarray | float, peak: float = 1.0) -> np.ndarray | float:
    """Peak signal-to-noise ratio, 10·log10(peak² / MSE)."""
    return 10 * np.log10(peak ** 2 / np.maximum(mse, 1e-12))


# --- the latent space --------------------------------------------------------------------------

def active_units(mu: np.ndarray, threshold: float = 0.01) -> tuple[int, np.ndarray]:
    """Latent dims whose variance over x of E[z|x] exceeds ``threshold`` (Burda et al. 2016),
    and that variance per dimension."""
    var = np.asarray(mu, np.float64).var(0)
    return int((var > threshold).sum()), var


def kl_per_dimension(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """KL(q(z_j|x) || N(0, 1)) per dimension, averaged over images (nats)."""
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    return (0.5 * (np.exp(logvar) + mu ** 2 - 1 - logvar)).mean(0)


# --- sample quality ----------------------------------------------------------------------------

def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(0.5 * (a + a.T))
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein²) distance between N(μ1, C1) and N(μ2, C2):
    |μ1 − μ2|² + tr(C1 + C2 − 2 (C1^½ C2 C1^½)^½). Computed through symmetric eigendecompositions,
    which stay real and exact for positive semi-definite matrices (no scipy.linalg.sqrtm drift)."""
    s1 = _sqrtm_psd(cov1)
    middle = np.linalg.eigvalsh(0.5 * ((s1 @ cov2 @ s1) + (s1 @ cov2 @ s1).T))
    trace_sqrt = np.sqrt(np.clip(middle, 0, None)).sum()
    mean_term = np.sum((np.asarray(mu1) - np.asarray(mu2)) ** 2)
    d = float(mean_term + np.trace(cov1) + np.trace(cov2) - 2 * trace_sqrt)
    return max(d, 0.0)


def frechet_distance_of(features_a: np.ndarray, features_b: np.ndarray) -> float:
    return frechet_distance(*gaussian_statistics(features_a), *gaussian_statistics(features_b))


def agreement(predicted: np.ndarray, intended: np.ndarray,
              n_categories: int = 10) -> tuple[float, list[float]]:
    """Share of samples whose predicted category is the intended one: overall and per category."""
    predicted, intended = np.asarray(predicted), np.asarray(intended)
    hits = predicted == intended
    per = [float(hits[intended == c].mean()) if (intended == c).any() else float("nan")
           for c in range(n_categories)]
    return float(hits.mean()), per


def most_common_misreading(predicted: np.ndarray, intended: np.ndarray,
                           n_categories: int = 10) -> list[tuple[int, float] | None]:
    """Per intended category: the wrong category predicted most often and the share of that
    category's samples given it (ties to the lower index); None where nothing was misread."""
    predicted, intended = np.asarray(predicted), np.asarray(intended)
    out = []
    for c in range(n_categories):
        counts = np.bincount(predicted[intended == c], minlength=n_categories)
        counts[c] = 0
        total = int((intended == c).sum())
        out.append((int(counts.argmax()), float(counts.max() / total)) if counts.any() else None)
    return out


# --- 2-D maps ----------------------------------------------------------------------------------

def leave_one_out_knn_accuracy(x: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """k-NN accuracy of every point from its k nearest other points (majority vote, ties to the
    nearest neighbour's label among the tied), i.e. how well categories stay together in a space."""
    from sklearn.neighbors import NearestNeighbors
    x = np.asarray(x, np.float32)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    # Drop the point itself (duplicates may put it second; removing one self-index is enough).
    own = np.arange(len(x))[:, None]
    neighbours = np.array([row[row != i][:k] if (row == i).any() else row[:k]
                           for row, i in zip(idx, own[:, 0], strict=True)])
    votes = np.asarray(labels)[neighbours]
    predicted = np.empty(len(x), dtype=votes.dtype)
    for i, row in enumerate(votes):
        counts = np.bincount(row)
        best = np.flatnonzero(counts == counts.max())
        predicted[i] = next(v for v in row if v in best)  # nearest among the tied labels
    return float((predicted == np.asarray(labels)).mean())


# --- probes ------------------------------------------------------------------------------------

def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 c: float = 1.0, max_iter: int = 500, n_classes: int = 10) -> float:
    """Test accuracy of multinomial logistic regression on standardised features: the objective of
    scikit-learn's LogisticRegression(C=c) (½‖W‖² + C·Σ cross-entropy, intercept unpenalised),
    minimised by full-batch L-BFGS with torch, which uses every core (scikit-learn's lbfgs takes
    minutes on 60k × 784 pixels here). float32: each step streams the whole design matrix twice, so
    memory traffic sets the speed. tests/test_evaluate.py checks it against scikit-learn."""
    mean, std = train_x.mean(0), train_x.std(0)
    std = np.where(std > 1e-8, std, 1.0)  # constant features (corner pixels, dead latents) stay 0
    xs = torch.from_numpy(((train_x - mean) / std).astype(np.float32))
    ys = torch.from_numpy(np.asarray(train_y, np.int64))
    w = torch.zeros(xs.shape[1], n_classes, requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, history_size=20, tolerance_grad=1e-6,
                            tolerance_change=1e-10, line_search_fn="strong_wolfe")
    n = len(xs)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xs @ w + b, ys,
                                                 reduction="sum") / n + 0.5 * w.pow(2).sum() / (c * n)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        xt = torch.from_numpy(((test_x - mean) / std).astype(np.float32))
        predicted = (xt @ w + b).argmax(1).numpy()
    return float((predicted == np.asarray(test_y)).mean())


def knn_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour vote (Euclidean, scikit-learn)."""
    from sklearn.neighbors import KNeighborsClassifier
    knn = KNeighborsClassifier(k).fit(np.asarray(train_x, np.float32), train_y)
    return float(knn.score(np.asarray(test_x, np.float32), test_y))
