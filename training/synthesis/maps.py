"""2-D maps of a set of points for the explorer: t-SNE, UMAP and PCA of the latent means, and t-SNE of
the raw pixels (the paper's fig. 1). Each is seeded, so the same points always give the same map."""
from __future__ import annotations

import sys
import time

import numpy as np

from ..errors import ProjectError

MAPS = ("tsne", "umap", "pca", "pixel-tsne")
# Measured by bench/tsne_speed.py on this project's 2-core machines (docs/speed.md, "t-SNE"):
# scikit-learn's Barnes-Hut is faster at 10k points, openTSNE's FFT interpolation beyond.
OPENTSNE_ABOVE = 20_000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pca_2d(x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA
    return PCA(n_components=2, random_state=seed).fit_transform(x)


def reduce_for_tsne(x: np.ndarray, seed: int, dims: int = 50) -> np.ndarray:
    """PCA to 50 dimensions first, as is standard for t-SNE: faster, and removes noise. A set of fewer
    points than that (a small folder's test split) keeps all its dimensions: PCA cannot make more
    components than points."""
    from sklearn.decomposition import PCA
    if x.shape[1] <= dims or len(x) <= dims:
        return x.astype(np.float32)
    return PCA(n_components=dims, random_state=seed).fit_transform(x).astype(np.float32)


def tsne_2d(x: np.ndarray, seed: int, threads: int, backend: str | None = None) -> tuple[np.ndarray, str]:
    x = reduce_for_tsne(x, seed)
    backend = backend or ("opentsne" if len(x) > OPENTSNE_ABOVE else "sklearn")
    perplexity = min(30.0, max(2.0, (len(x) - 1) / 3.5))
    if backend == "opentsne":
        from openTSNE import TSNE
        emb = TSNE(n_components=2, perplexity=perplexity, initialization="pca", random_state=seed,
                   n_jobs=threads, verbose=False).fit(x)
        return np.asarray(emb), "openTSNE"
    from sklearn.manifold import TSNE
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                n_jobs=threads).fit_transform(x), "scikit-learn"


def umap_2d(x: np.ndarray, seed: int) -> np.ndarray:
    import warnings
    with warnings.catch_warnings():  # "n_jobs overridden by random_state": determinism wins
        warnings.simplefilter("ignore")
        import umap
        n_neighbors = min(15, len(x) - 1)
        # the spectral start needs more points than a handful (a small folder's test split)
        init = "spectral" if len(x) > 16 else "random"
        return umap.UMAP(n_neighbors=n_neighbors, min_dist=0.1, random_state=seed, init=init).fit_transform(x)


def parse_maps(maps: str | tuple) -> tuple[str, ...]:
    names = tuple(m.strip() for m in maps.split(",") if m.strip()) if isinstance(maps, str) else tuple(maps)
    unknown = set(names) - set(MAPS)
    if unknown:
        raise ProjectError(f"--maps: unknown map(s) {', '.join(sorted(unknown))}; expected some of "
                         f"{', '.join(MAPS)}")
    return names


def two_d_maps(names: tuple[str, ...], mu: np.ndarray, images: np.ndarray, seed: int, threads: int,
               timings: dict) -> tuple[dict, dict]:
    """Each named map of the points (float16 N×2 arrays, as stored) and the implementation that drew it."""
    arrays, implementations = {}, {}
    for name in names:
        t = time.perf_counter()
        log(f"map {name} of {len(mu)} points …")
        if name == "pca":
            xy, implementations[name] = pca_2d(mu, seed), "scikit-learn PCA"
        elif name == "umap":
            xy, implementations[name] = umap_2d(mu, seed), "umap-learn"
        elif name == "tsne":
            xy, impl = tsne_2d(mu, seed, threads)
            implementations[name] = f"{impl} t-SNE of μ (PCA to 50 dims first)"
        else:
            xy, impl = tsne_2d(images.reshape(len(images), -1).astype(np.float32) / 255.0, seed, threads)
            implementations[name] = f"{impl} t-SNE of raw pixels (PCA to 50 dims first)"
        arrays["map_" + name.replace("-", "_")] = np.asarray(xy, np.float32).astype(np.float16)
        timings[f"{name}_s"] = round(time.perf_counter() - t, 2)
        log(f"  {name}: {timings[f'{name}_s']:.1f} s")
    return arrays, implementations
