"""Latent-space maths for the explorer: pure functions on numpy arrays, no Streamlit, no model."""
from __future__ import annotations

import numpy as np

from training.sampling import sample_categories


def nearest_neighbours(latents: np.ndarray, query: np.ndarray, k: int = 8,
                       exclude: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the k latents nearest to ``query``, closest first,
    leaving out index ``exclude`` (the query point itself)."""
    diff = np.asarray(latents, np.float32) - np.asarray(query, np.float32)   # no copy of float32 latents
    d = np.sqrt(np.einsum("ij,ij->i", diff, diff))   # 2.3× faster than np.linalg.norm over 10k × 128
    if exclude is not None:
        d[exclude] = np.inf
    k = min(k, len(d) - (exclude is not None))
    idx = np.argpartition(d, k - 1)[:k] if k < len(d) else np.arange(len(d))
    idx = idx[np.argsort(d[idx], kind="stable")]
    return idx, d[idx]


def median_nearest_distance(points: np.ndarray, sample: int = 500, seed: int = 0) -> float:
    """Median distance from a point to its nearest other point, over a fixed random sample: the
    yardstick for 'how far is far' in a latent space or on a map."""
    idx = np.random.default_rng(seed).choice(len(points), size=min(sample, len(points)), replace=False)
    return float(np.median([nearest_neighbours(points, points[i], 1, exclude=int(i))[1][0] for i in idx]))


def interpolate_linear(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points from a to b inclusive, evenly spaced on the straight line."""
    return linear_at(a, b, np.linspace(0.0, 1.0, steps))


def linear_at(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The points at positions ``t`` (0: a, 1: b) on the straight line, one row each."""
    t = np.asarray(t, np.float64)[:, None]
    return (1 - t) * a[None] + t * b[None]


def interpolate_spherical(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Spherical interpolation (slerp) of the directions, with the norm interpolated linearly, so
    intermediate points keep a typical-set norm instead of shrinking toward the origin."""
    return spherical_at(a, b, np.linspace(0.0, 1.0, steps))


def spherical_at(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The points at positions ``t`` (0: a, 1: b) on the slerp path, one row each."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return linear_at(a, b, t)
    t = np.asarray(t, np.float64)[:, None]
    ua, ub = a / na, b / nb
    omega = np.arccos(np.clip(ua @ ub, -1.0, 1.0))
    if omega < 1e-6:  # (anti)parallel-free, nearly identical directions: the line is the arc
        return linear_at(a, b, t[:, 0])
    direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    return direction * ((1 - t) * na + t * nb)


PATHS = {"linear": linear_at, "spherical": spherical_at}


def path_at(a, b, t, method: str = "linear") -> np.ndarray:
    """The points at positions ``t`` on the path from a to b: ``interpolate``'s frames are t =
    0, 1/(steps − 1), …, 1; the Interpolation view's scrubber is any one t."""
    if method not in PATHS:
        raise ValueError(f"unknown interpolation {method!r}; expected 'linear' or 'spherical'")
    return PATHS[method](np.asarray(a, np.float64), np.asarray(b, np.float64), np.atleast_1d(t))


def interpolate(a, b, steps: int, method: str = "linear") -> np.ndarray:
    return path_at(a, b, np.linspace(0.0, 1.0, steps), method)


def blend_pixels(img_a: np.ndarray, img_b: np.ndarray, steps: int) -> np.ndarray:
    """The pixel-space cross-fade the paper contrasts with latent interpolation (figure 7)."""
    t = np.linspace(0.0, 1.0, steps).reshape(-1, *[1] * np.ndim(img_a))   # any image shape, grey or colour
    return (1 - t) * img_a[None] + t * img_b[None]


def set_coordinate(z: np.ndarray, dim: int, value: float) -> np.ndarray:
    """A copy of z with one latent coordinate replaced (what one slider does)."""
    out = np.array(z, copy=True)
    out[dim] = value
    return out


def traversal(z: np.ndarray, dim: int, values: np.ndarray) -> np.ndarray:
    """One latent per value, all equal to z except along ``dim``."""
    out = np.repeat(np.asarray(z)[None], len(values), axis=0).astype(np.float64)
    out[:, dim] = values
    return out


def rank_dimensions(kl_per_dim: np.ndarray) -> np.ndarray:
    """Latent dimensions, most used (highest average KL) first."""
    return np.argsort(-np.asarray(kl_per_dim), kind="stable")


def mix_from_map(map_xy: np.ndarray, latents: np.ndarray, point: tuple[float, float], k: int = 5):
    """What a click on empty map space can honestly decode: an inverse-distance-weighted mix of
    the latents of the k nearest map points (t-SNE and UMAP have no inverse). Returns the latent,
    the neighbour indices and their map distances, so the UI can say how far they are."""
    d = np.linalg.norm(map_xy.astype(np.float64) - np.asarray(point, np.float64), axis=1)
    idx = np.argsort(d, kind="stable")[:k]
    w = 1.0 / np.maximum(d[idx], 1e-9)
    w /= w.sum()
    return (w[:, None] * latents[idx].astype(np.float64)).sum(0), idx, d[idx]


def hybrid_pairs(labels: np.ndarray, cat_a: int, cat_b: int, n: int, seed: int) -> list[tuple[int, int]]:
    """n random (index of category a, index of category b) pairs, reproducible for a seed."""
    rng = np.random.default_rng(seed)
    ia, ib = np.flatnonzero(labels == cat_a), np.flatnonzero(labels == cat_b)
    if len(ia) == 0 or len(ib) == 0:
        return []
    return list(zip(rng.choice(ia, n).tolist(), rng.choice(ib, n).tolist(), strict=True))


def category_samples(bundle, category: int, n: int, noise: float, seed: int) -> np.ndarray:
    """n latents of one category as ``generate`` draws them by default for this seed: from the
    category's clusters, or, for embeddings without them, its Gaussian (the paper's sampler)."""
    counts = np.zeros(len(bundle.category_mean), np.int64)
    counts[category] = n
    mixtures = bundle.category_mixtures
    covs = None if mixtures is not None else bundle.category_cov.astype(np.float64)
    z, _ = sample_categories(bundle.category_mean.astype(np.float64), covs, counts, noise, seed, mixtures)
    return z
