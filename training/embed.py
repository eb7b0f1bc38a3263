"""Latent embeddings and 2-D maps for the explorer (``python -m training embed``).

Writes ``embeddings.npz`` (or ``embeddings_all.npz`` for ``--split all``) and a JSON sidecar:
  mu, logvar           N×k latent means and log-variances of q(z|x) (float16, see below)
  labels, index, split N   category, index within its split, 0 = test / 1 = train
  recon_mse            N   per-image squared error of the reconstruction from μ (outlier finding)
  map_<name>           N×2 2-D map of μ (tsne, umap, pca) or of raw pixels (pixel_tsne)
  category_mean        10×k mean of μ over every training image of the category
  category_cov         10×k×k covariance of z over the category: Cov(μ) + mean diag σ²
                       (the moment-matched Gaussian of the category's aggregate posterior)
  category_logvar_mean 10×k the paper's per-category mean log σ²
  category_count       10
  category_mixture_weight, _mean, _cov  10×K, 10×K×k, 10×K×k×k: each category's μ as a mixture
                       of K full-covariance Gaussians (its clusters; ``category_mixtures``)
  kl_per_dim           k   KL(q(z_j|x) || N(0,1)) averaged over the mapped images
float16 is used for the per-image arrays only when decoding float16 μ changes no pixel by
more than half a grey level (checked and recorded); statistics stay float32.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from . import arguments as A
from . import data as fmnist
from . import device as D
from .checkpoint import atomic_write_bytes, atomic_write_text, npz_bytes
from .losses import kl_standard_normal
from .model import load_model
from .sampling import MIXTURE_COMPONENTS, CategoryMixtures

MAPS = ("tsne", "umap", "pca", "pixel-tsne")
# Measured by bench/tsne_speed.py on this project's 2-core machines (docs/speed.md, "t-SNE"):
# scikit-learn's Barnes-Hut is faster at 10k points, openTSNE's FFT interpolation beyond.
OPENTSNE_ABOVE = 20_000
HALF_GREY_LEVEL = 0.5 / 255


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@torch.no_grad()
def encode_all(model, images: np.ndarray, batch_size: int = 1000):
    """μ, log σ² and reconstruction MSE (from μ) for uint8 images, in float32, computed on the model's
    device."""
    device = D.of(model)
    mus, logvars, errors = [], [], []
    for i in range(0, len(images), batch_size):
        x = fmnist.to_tensor(images[i:i + batch_size]).to(device)
        mu, logvar = model.encode(x)
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
        errors.append((model.decode(mu) - x).pow(2).flatten(1).mean(1).cpu())
    return torch.cat(mus).numpy(), torch.cat(logvars).numpy(), torch.cat(errors).numpy()


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
    directory = Path(directory)
    try:
        info = json.loads((directory / "embeddings.json").read_text())
        if (info.get("model_weights_sha256") != model.info.get("weights_sha256")
                or components is not None and info.get("mixture_components") != components
                or training_images is not None
                and info.get("category_statistics_from") != f"{training_images} training images"):
            return None
        with np.load(directory / "embeddings.npz") as npz:
            return CategoryMixtures.from_arrays(npz)
    except (OSError, ValueError, KeyError):
        return None


def category_statistics(mu: np.ndarray, logvar: np.ndarray, labels: np.ndarray, n_categories: int = 10):
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


def pca_2d(x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA
    return PCA(n_components=2, random_state=seed).fit_transform(x)


def reduce_for_tsne(x: np.ndarray, seed: int, dims: int = 50) -> np.ndarray:
    """PCA to 50 dimensions first, as is standard for t-SNE: faster, and removes noise."""
    from sklearn.decomposition import PCA
    if x.shape[1] <= dims:
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
        return umap.UMAP(n_neighbors=n_neighbors, min_dist=0.1, random_state=seed).fit_transform(x)


@torch.no_grad()
def float16_is_lossless(model, mu: np.ndarray, sample: int = 1000) -> float:
    """Largest pixel change from decoding float16-rounded μ instead of float32 μ."""
    m = torch.from_numpy(mu[:sample]).to(D.of(model))
    return float((model.decode(m) - model.decode(m.half().float())).abs().max())


def embeddings_name(split: str) -> str:
    return "embeddings.npz" if split == "test" else "embeddings_all.npz"


def parse_maps(maps: str | tuple) -> tuple[str, ...]:
    names = tuple(m.strip() for m in maps.split(",") if m.strip()) if isinstance(maps, str) else tuple(maps)
    unknown = set(names) - set(MAPS)
    if unknown:
        raise ValueError(f"--maps: unknown map(s) {', '.join(sorted(unknown))}; expected some of "
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


def run_embed(checkpoint, out, split: str = "test", maps: str | tuple = MAPS, seed: int = 0,
              limit: int | None = None, data_dir=None, threads: int | None = None,
              command: str | None = None, mixture_components: int = MIXTURE_COMPONENTS,
              device: str = "auto") -> Path:
    """Encode the images (on ``device``), fit the category statistics and mixtures, draw the maps
    (on the CPU), write them."""
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    maps = parse_maps(maps)
    model = load_model(checkpoint, device=D.resolve(device))
    data = fmnist.load(data_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    train_images, train_labels = data.train_images[:limit], data.train_labels[:limit]
    test_images, test_labels = data.test_images[:limit], data.test_labels[:limit]
    log(f"encoding {len(train_images)} training and {len(test_images)} test images …")
    tr_mu, tr_logvar, tr_err = encode_all(model, train_images)
    te_mu, te_logvar, te_err = encode_all(model, test_images)
    timings = {"encode_s": round(time.perf_counter() - t0, 2)}
    cat_mean, cat_cov, cat_logvar, cat_count = category_statistics(tr_mu, tr_logvar, train_labels)
    t = time.perf_counter()
    log(f"fitting {mixture_components}-component mixtures to each category …")
    mixtures = category_mixtures(tr_mu, tr_logvar, train_labels, mixture_components, seed=seed)
    timings["mixtures_s"] = round(time.perf_counter() - t, 2)

    # the mapped points: the test images, then (split "all") the training images; `which` is the split
    test = (te_mu, te_logvar, te_err, test_labels, test_images, np.zeros(len(te_mu), np.uint8),
            np.arange(len(te_mu)))
    train = (tr_mu, tr_logvar, tr_err, train_labels, train_images, np.ones(len(tr_mu), np.uint8),
             np.arange(len(tr_mu)))
    parts = zip(test, train, strict=True) if split == "all" else zip(test, strict=True)
    mu, logvar, err, labels, images, which, index = (np.concatenate(part) for part in parts)
    arrays, implementations = two_d_maps(maps, mu, images, seed, threads, timings)

    max_change = float16_is_lossless(model, mu)
    per_image = np.float16 if max_change <= HALF_GREY_LEVEL else np.float32
    kl = kl_standard_normal(torch.from_numpy(mu), torch.from_numpy(logvar)).mean(0).numpy()
    arrays.update(
        mu=mu.astype(per_image), logvar=logvar.astype(per_image), recon_mse=err.astype(np.float16),
        labels=labels.astype(np.uint8), index=index.astype(np.int32), split=which,
        category_mean=cat_mean, category_cov=cat_cov, category_logvar_mean=cat_logvar,
        category_count=cat_count, kl_per_dim=kl.astype(np.float32),
        **mixtures.to_arrays(),
    )
    name = embeddings_name(split)
    atomic_write_bytes(out / name, npz_bytes(arrays, zipfile.ZIP_LZMA))
    info = {
        "file": name, "split": split, "points": int(len(mu)), "latent_dim": int(mu.shape[1]),
        "seed": seed, "limit": limit, "maps": list(maps), "implementations": implementations,
        "timings": timings, "model_weights_sha256": model.info.get("weights_sha256"),
        "dataset_checksum": data.checksum, "category_statistics_from": f"{len(tr_mu)} training images",
        "mixture_components": mixture_components,
        "per_image_dtype": np.dtype(per_image).name, "float16_max_pixel_change": max_change,
        "threads": threads, "command": command, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(out / name.replace(".npz", ".json"), json.dumps(info, indent=2) + "\n")
    log(f"wrote {out / name} ({(out / name).stat().st_size / 1e6:.1f} MB)")
    return out / name


# --- the command line --------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="model directory (model.safetensors + model.json)")
    p.add_argument("--out", required=True, help="directory for embeddings.npz and embeddings.json")
    p.add_argument("--split", choices=("test", "all"), default="test",
                   help="map the 10k test images, or all 70k (default: %(default)s)")
    p.add_argument("--maps", default=",".join(MAPS),
                   help="comma-separated maps to compute (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=A.positive_int, help="first N images of each split only (quick runs)")
    p.add_argument("--mixture-components", type=A.positive_int, default=MIXTURE_COMPONENTS, metavar="K",
                   help="Gaussians per category for the 'mixture' sampler (default: %(default)s)")
    A.add_threads(p)
    D.add_device(p)
    A.add_data_dir(p)


def run_command(ns: argparse.Namespace) -> None:
    run_embed(ns.checkpoint, ns.out, split=ns.split, maps=ns.maps, seed=ns.seed, limit=ns.limit,
              data_dir=ns.data_dir, threads=ns.threads, mixture_components=ns.mixture_components,
              command=ns.command_line, device=ns.device)
