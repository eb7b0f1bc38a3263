"""Synthetic Fashion-MNIST (``python -m training generate``): images with their intended labels,
as ``.npz`` or as gzipped IDX files any Fashion-MNIST reader loads.

Samplers (the same code as the app's category sampling, ``sampling.py``):
  mixture     z = mean_cj + noise · ε, ε ~ N(0, Σ_cj), component j of the category's fitted
              mixture drawn by its weight: samples stay near the category's clusters (default;
              ``--cluster R``: always the R-th heaviest, one style, as the app's "Draw from")
  covariance  z = mean_c + noise · ε, ε ~ N(0, Σ_c), the category's fitted Gaussian (the paper's)
  isotropic   z = mean_c + noise · ε, ε ~ N(0, I)
  prior       z = noise · ε, ε ~ N(0, I), labelled by the classifier; drawn until each requested
              category has N (rejection sampling), since the prior knows no categories
With ``--min-confidence P`` the classifier keeps only samples it assigns to the intended category
with probability ≥ P, and the command reports how many were kept.
Every byte is a function of the seed: the same command writes the same files.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from . import arguments as A
from . import concepts
from . import data as fmnist
from . import device as D
from .checkpoint import atomic_write_bytes, npz_bytes
from .classifier import classifier_dir_for, load_classifier, predict
from .embed import category_mixtures, category_statistics, encode_all
from .model import decode_batched, load_model
from .sampling import DEFAULT_NOISE, DEFAULT_SAMPLER, SAMPLERS, CategoryMixtures, sample_categories

MAX_PRIOR_DRAWS = 200   # × N per category before the prior sampler gives up on a rare category


def category_name_to_index(name: str) -> int:
    names = {c.lower(): i for i, c in enumerate(fmnist.CATEGORIES)}
    key = name.strip().lower()
    if key in names:
        return names[key]
    matches = [i for n, i in names.items() if n.startswith(key) or key in n.split("/")]
    if len(matches) == 1:
        return matches[0]
    raise ValueError(f"--category {name!r}: expected one of {', '.join(fmnist.CATEGORIES)}")


def category_stats(model, directory: Path, data_dir=None, mixtures: bool = False):
    """Category means, covariances and (with ``mixtures``) mixtures, and where they came from: the
    directory's embeddings when they were made for these weights and hold what is asked for,
    otherwise the 60k training images encoded now (needs the dataset)."""
    meta_file = directory / "embeddings.json"
    try:
        meta = json.loads(meta_file.read_text())
        if meta.get("model_weights_sha256") == model.info.get("weights_sha256"):
            with np.load(directory / "embeddings.npz") as npz:
                mixture = CategoryMixtures.from_arrays(npz) if mixtures else None
                if mixture is not None or not mixtures:  # embeddings from before mixtures: fit them below
                    return (npz["category_mean"].astype(np.float64), npz["category_cov"].astype(np.float64),
                            mixture, f"{directory / 'embeddings.npz'}")
    except (OSError, ValueError, KeyError):
        pass
    data = fmnist.load(data_dir)
    mu, logvar, _ = encode_all(model, data.train_images)
    mean, cov, _, _ = category_statistics(mu, logvar, data.train_labels)
    mixture = category_mixtures(mu, logvar, data.train_labels) if mixtures else None
    return mean.astype(np.float64), cov.astype(np.float64), mixture, "the 60k training images (encoded now)"


def decode(model, z: np.ndarray) -> np.ndarray:
    return decode_batched(model, z).squeeze(1).numpy()


def probabilities(classifier, images: np.ndarray) -> np.ndarray:
    return predict(classifier, torch.from_numpy(np.asarray(images, np.float32)).unsqueeze(1))[1]


def to_uint8(images: np.ndarray) -> np.ndarray:
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def idx_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """``--out DIR/`` or an existing directory → DIR/train-…; ``--out DIR/PREFIX`` → DIR/PREFIX-…,
    the names Fashion-MNIST readers look for (``load_mnist(DIR, kind=PREFIX)``)."""
    names_a_directory = str(out).endswith(("/", os.sep))   # before Path() drops the slash
    out = Path(out)
    if names_a_directory or out.is_dir():
        out = out / "train"
    return out.parent / f"{out.name}-images-idx3-ubyte.gz", out.parent / f"{out.name}-labels-idx1-ubyte.gz"


def check_arguments(out: Path, sampler: str, fmt: str, min_confidence: float | None,
                    cluster: int | None) -> None:
    """Refuse a bad combination before anything is loaded or drawn."""
    if sampler not in SAMPLERS:
        raise ValueError(f"--sampler {sampler!r}: expected one of {', '.join(SAMPLERS)}")
    if cluster is not None and (sampler != "mixture" or cluster < 1):
        raise ValueError(f"--cluster {cluster}: expected a cluster number ≥ 1 (1 = the heaviest), with "
                         "--sampler mixture")
    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise ValueError(f"--min-confidence {min_confidence}: expected a probability between 0 and 1")
    if fmt == "npz" and out.suffix != ".npz":
        raise ValueError(f"--out {out}: expected a .npz file name (or --format idx)")


def draw(model, checkpoint: Path, classifier, counts: np.ndarray, noise: float, sampler: str, seed: int,
         data_dir, cluster: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """counts[c] latents for each category c with their labels, the classifier's probabilities where
    the sampler needed them, and where the category statistics came from."""
    if sampler == "prior":
        z, labels, probs = _prior_until_full(model, classifier, counts, noise, seed, model.config.latent_dim)
        return z, labels, probs, {"statistics": "none (prior)"}
    mean, cov, mixtures, source = category_stats(model, checkpoint, data_dir, mixtures=sampler == "mixture")
    about = {"statistics": source}
    if cluster is not None:
        mixtures = mixtures.only(cluster - 1)
        short = [fmnist.CATEGORIES[c] for c in np.flatnonzero(counts) if not mixtures.weight[c].sum() > 0]
        if short:
            raise ValueError(f"--cluster {cluster}: {', '.join(short)} has fewer clusters in {source}")
        about["cluster"] = cluster
    covariances = cov if sampler == "covariance" else None
    z, labels = sample_categories(mean, covariances, counts, noise, seed, mixtures)
    return z, labels, None, about


def write(out: str | os.PathLike, fmt: str, arrays: dict[str, np.ndarray],
          extras_beside_idx: bool = False) -> list[str]:
    """``images`` (uint8 N×28×28) and ``labels`` with any other arrays: one .npz, or gzipped IDX files
    of the images and labels, with the other arrays in ``PREFIX-extra.npz`` beside them where asked.
    Returns the files written."""
    if fmt != "idx":
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, npz_bytes(arrays))
        return [str(out)]
    image_path, label_path = idx_paths(out)
    image_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(image_path, fmnist.gzip_bytes(fmnist.encode_idx(arrays["images"])))
    atomic_write_bytes(label_path, fmnist.gzip_bytes(fmnist.encode_idx(arrays["labels"].astype(np.uint8))))
    files = [str(image_path), str(label_path)]
    extras = {k: v for k, v in arrays.items() if k not in ("images", "labels")}
    if extras_beside_idx and extras:
        extra_path = image_path.parent / image_path.name.replace("-images-idx3-ubyte.gz", "-extra.npz")
        atomic_write_bytes(extra_path, npz_bytes(extras))
        files.append(str(extra_path))
    return files


def generate(checkpoint, out, categories: list[int], n: int, noise: float, sampler: str = DEFAULT_SAMPLER,
             seed: int = 0, fmt: str = "npz", min_confidence: float | None = None, classifier_dir=None,
             data_dir=None, cluster: int | None = None, device: str = "auto", concept=None,
             strength: float = 1.0) -> dict:
    """Draw n images for each of ``categories`` (decoded on ``device``), pushed along a ``concept``
    file's direction by ``strength`` where one is given, keep those the classifier is confident of
    where asked, and write them; returns a summary of what was drawn, kept and written."""
    checkpoint = Path(checkpoint)
    check_arguments(Path(out), sampler, fmt, min_confidence, cluster)
    device = D.resolve(device)
    model = load_model(checkpoint, device=device)
    direction = None
    if concept is not None:   # before anything is drawn: a concept of other weights is refused
        loaded = concepts.load(concept, model.info.get("weights_sha256", ""), model.config.latent_dim)
        direction = loaded.direction
    classifier = None
    if min_confidence is not None or sampler == "prior":
        classifier = load_classifier(classifier_dir_for(checkpoint, classifier_dir), device)
    counts = np.zeros(len(fmnist.CATEGORIES), np.int64)
    counts[categories] = n
    z, labels, probs, about = draw(model, checkpoint, classifier, counts, noise, sampler, seed, data_dir,
                                   cluster)
    summary = {"checkpoint": str(checkpoint), "sampler": sampler, "noise": noise, "seed": seed, **about}
    if direction is not None:
        z = concepts.push(z, direction, strength)
        summary["concept"] = {"file": str(concept), "name": loaded.name, "strength": strength}
    images = decode(model, z)
    if classifier is not None and probs is None:
        probs = probabilities(classifier, images)
    confidence = probs[np.arange(len(labels)), labels] if probs is not None else None
    drawn = len(labels)
    if min_confidence is not None:
        keep = confidence >= min_confidence
        z, labels, images, confidence = z[keep], labels[keep], images[keep], confidence[keep]
        summary["min_confidence"] = min_confidence
    summary.update(drawn=int(drawn), kept=int(len(labels)),
                   kept_per_category={fmnist.CATEGORIES[c]: int((labels == c).sum()) for c in categories})
    arrays = {"images": to_uint8(images), "labels": labels.astype(np.uint8), "z": z.astype(np.float32)}
    if confidence is not None:
        arrays["confidence"] = confidence.astype(np.float32)
    summary["files"] = write(out, fmt, arrays)
    return summary


def _prior_until_full(model, classifier, counts, noise, seed, k):
    rng = np.random.default_rng(seed)
    want = counts.copy()
    zs, labels, probs = [], [], []
    drawn, limit = 0, MAX_PRIOR_DRAWS * max(1, int(counts.max()))
    while want.sum() > 0 and drawn < limit * max(1, int((counts > 0).sum())):
        z = noise * rng.standard_normal((1000, k))
        drawn += len(z)
        p = probabilities(classifier, decode(model, z))
        pred = p.argmax(1)
        for i in range(len(z)):
            if want[pred[i]] > 0:
                want[pred[i]] -= 1
                zs.append(z[i])
                labels.append(pred[i])
                probs.append(p[i])
    if want.sum() > 0:
        short = ", ".join(f"{fmnist.CATEGORIES[c]} {counts[c] - want[c]} of {counts[c]}"
                          for c in np.flatnonzero(want))
        raise ValueError(f"--sampler prior: after {drawn} prior draws the classifier found too few of: "
                         f"{short}; use --sampler covariance for rare categories")
    order = np.argsort(np.asarray(labels), kind="stable")  # grouped by category, like the other samplers
    return np.asarray(zs)[order], np.asarray(labels, np.int64)[order], np.asarray(probs)[order]


# --- the command line --------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default="assets", help="model directory (default: %(default)s)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--category", help="one category, e.g. Sneaker or 'Ankle boot'")
    which.add_argument("--all", action="store_true", help="every category")
    p.add_argument("--n", type=A.positive_int, required=True, help="images per category")
    p.add_argument("--noise", type=A.non_negative_float, default=None,
                   help=f"noise scale (default: the app's {DEFAULT_NOISE}; 1.0 for --sampler prior)")
    p.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER,
                   help="mixture: the category's clusters, a fitted mixture of Gaussians (samples keep to "
                        "its styles); covariance: its fitted Gaussian around its mean, the paper's sampler; "
                        "isotropic: N(0, I) around the mean; prior: N(0, I), labelled by the classifier "
                        "(default: %(default)s)")
    p.add_argument("--cluster", type=A.positive_int, metavar="R",
                   help="with --sampler mixture: only each category's R-th heaviest cluster (1 = the "
                        "heaviest), one style, numbered as in the app")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="a .npz file, or with --format idx a directory or DIR/PREFIX")
    p.add_argument("--format", choices=("npz", "idx"), default="npz")
    p.add_argument("--min-confidence", type=A.probability, metavar="P",
                   help="keep only samples the classifier assigns to the intended category with probability "
                        "≥ P")
    p.add_argument("--classifier", help="classifier directory (default: the checkpoint's, else assets/)")
    p.add_argument("--concept", metavar="FILE", help="a concept file (made in the app's Concepts view, e.g. "
                   "assets/concepts/long-sleeves.json): push every sample along its direction")
    p.add_argument("--strength", type=A.strength, default=1.0,
                   help="with --concept: how far, in units of the distance between the concept's two groups "
                        "(negative: away from it; default: %(default)s)")
    D.add_device(p)
    A.add_data_dir(p)


def run_command(ns: argparse.Namespace) -> None:
    categories = list(range(len(fmnist.CATEGORIES))) if ns.all else [category_name_to_index(ns.category)]
    noise = ns.noise if ns.noise is not None else (1.0 if ns.sampler == "prior" else DEFAULT_NOISE)
    summary = generate(ns.checkpoint, ns.out, categories, ns.n, noise, ns.sampler, ns.seed, ns.format,
                       ns.min_confidence, ns.classifier, ns.data_dir, ns.cluster, ns.device, ns.concept,
                       ns.strength)
    if "min_confidence" in summary:
        kept = ", ".join(f"{c} {n}" for c, n in summary["kept_per_category"].items())
        print(f"kept {summary['kept']} of {summary['drawn']} samples with classifier confidence ≥ "
              f"{summary['min_confidence']} ({kept})")
    print("wrote " + " and ".join(summary["files"]) + f" ({summary['kept']} images)")
