"""Latent embeddings and 2-D maps for the explorer (what ``python -m training embed`` writes).

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
                       of K full-covariance Gaussians (its clusters; ``category_latents``)
  learned_prior_weight, _mean, _cov  K, K×k, K×k×k: every training image's μ, categories or none, as
                       one mixture (the learned prior, what "from the whole model" samples; ``latent_prior``)
  kl_per_dim           k   KL(q(z_j|x) || N(0,1)) averaged over the mapped images
float16 is used for the per-image arrays only when decoding float16 μ changes no pixel by
more than half a grey level (checked and recorded); statistics stay float32. Beside them goes
``decoder.onnx``, the decoder the app's pages run in the browser (``decoder_onnx``), unless one made
from these weights is already there.

``--latents-from DIR`` (``run_borrowed_embed``) is for a model whose decoder alone differs from DIR's
model: it checks that the encoders are the same and writes only recon_mse, borrowing everything else
from DIR's embeddings (``stored_embeddings``).
"""
from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from .. import device as D
from ..category_latents import category_mixtures, category_statistics
from ..checkpoint import atomic_write_bytes, atomic_write_text, npz_bytes
from ..inference import encode_all
from ..latent_prior import PRIOR_COMPONENTS, fit_learned_prior
from ..losses import kl_standard_normal
from ..model import load_model
from ..model_data import of_model
from ..sampling import MIXTURE_COMPONENTS
from ..stored_embeddings import EMBEDDINGS, EmbeddingsError, encoder_sha256
from ..stored_embeddings import INFO as INFO_FILE
from ..stored_embeddings import load as load_embeddings
from .decoder_onnx import DECODER_FILE, ensure_decoder
from .maps import MAPS, log, parse_maps, two_d_maps

HALF_GREY_LEVEL = 0.5 / 255


@torch.no_grad()
def float16_is_lossless(model, mu: np.ndarray, sample: int = 1000) -> float:
    """Largest pixel change from decoding float16-rounded μ instead of float32 μ."""
    m = torch.from_numpy(mu[:sample]).to(D.of(model))
    return float((model.decode(m) - model.decode(m.half().float())).abs().max())


def embeddings_name(split: str) -> str:
    return "embeddings.npz" if split == "test" else "embeddings_all.npz"


def run_embed(checkpoint, out, split: str = "test", maps: str | tuple = MAPS, seed: int = 0,
              limit: int | None = None, data_dir=None, threads: int | None = None,
              command: str | None = None, mixture_components: int = MIXTURE_COMPONENTS,
              device: str = "auto", prior_components: int = PRIOR_COMPONENTS) -> Path:
    """Encode the images (on ``device``), fit the category statistics, the category mixtures and the
    learned prior, draw the maps (on the CPU), write them."""
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    maps = parse_maps(maps)
    model = load_model(checkpoint, device=D.resolve(device))
    data = of_model(model.info, data_dir)   # Fashion-MNIST, or the folder the model was trained on
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    train_images, train_labels = data.train_images[:limit], data.train_labels[:limit]
    test_images, test_labels = data.test_images[:limit], data.test_labels[:limit]
    log(f"encoding {len(train_images)} training and {len(test_images)} test images …")
    tr_mu, tr_logvar, tr_err = encode_all(model, train_images)
    te_mu, te_logvar, te_err = encode_all(model, test_images)
    timings = {"encode_s": round(time.perf_counter() - t0, 2)}
    categories = len(data.categories)
    cat_mean, cat_cov, cat_logvar, cat_count = category_statistics(tr_mu, tr_logvar, train_labels, categories)
    t = time.perf_counter()
    log(f"fitting {mixture_components}-component mixtures to each category …")
    mixtures = category_mixtures(tr_mu, tr_logvar, train_labels, mixture_components, categories, seed=seed)
    timings["mixtures_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    log(f"fitting the learned prior (up to {prior_components} components) to {len(tr_mu)} training latents …")
    prior = fit_learned_prior(tr_mu, tr_logvar, prior_components, seed=seed)
    timings["learned_prior_s"] = round(time.perf_counter() - t, 2)

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
        labels=labels.astype(np.uint8 if categories else np.int8), index=index.astype(np.int32), split=which,
        category_mean=cat_mean, category_cov=cat_cov, category_logvar_mean=cat_logvar,
        category_count=cat_count, kl_per_dim=kl.astype(np.float32),
        **mixtures.to_arrays(), **prior.to_arrays(),
    )
    name = embeddings_name(split)
    atomic_write_bytes(out / name, npz_bytes(arrays, zipfile.ZIP_LZMA))
    t = time.perf_counter()
    if ensure_decoder(model, out / DECODER_FILE):   # the app's pages decode with it in the browser
        timings["decoder_onnx_s"] = round(time.perf_counter() - t, 2)
        log(f"wrote {out / DECODER_FILE} (the decoder for the browser, checked against torch)")
    info = {
        "file": name, "decoder": DECODER_FILE, "split": split, "points": int(len(mu)),
        "latent_dim": int(mu.shape[1]),
        "seed": seed, "limit": limit, "maps": list(maps), "implementations": implementations,
        "timings": timings, "model_weights_sha256": model.info.get("weights_sha256"),
        "encoder_sha256": encoder_sha256(model),
        "dataset_checksum": data.checksum, "category_statistics_from": f"{len(tr_mu)} training images",
        **({"folder": data.folder, "categories": list(data.categories)} if data.folder else {}),
        "mixture_components": mixture_components, "learned_prior_components": prior.components,
        "per_image_dtype": np.dtype(per_image).name, "float16_max_pixel_change": max_change,
        "threads": threads, "command": command, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(out / name.replace(".npz", ".json"), json.dumps(info, indent=2) + "\n")
    log(f"wrote {out / name} ({(out / name).stat().st_size / 1e6:.1f} MB)")
    return out / name


def run_borrowed_embed(checkpoint, out, latents_from, data_dir=None, threads: int | None = None,
                       command: str | None = None, device: str = "auto") -> Path:
    """Embeddings for the model in ``checkpoint`` that borrow the latents, maps and statistics of the
    model in ``latents_from``, whose encoder it shares (checked): only its own reconstruction errors
    are computed and written, with ``latents_from`` recorded relative to ``out``."""
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    model = load_model(checkpoint, device=D.resolve(device))
    lender_dir = Path(latents_from)
    lender_model = load_model(lender_dir)
    lender = load_embeddings(lender_dir, lender_model)
    if lender.info.get("latents_from") or lender.info.get("model_weights_sha256") != lender_model.info.get(
            "weights_sha256"):
        raise EmbeddingsError(f"--latents-from {lender_dir}: its embeddings are not its own model's; "
                              f"run `python -m training embed --checkpoint {lender_dir} --out {lender_dir}`")
    if encoder_sha256(model) != encoder_sha256(lender_model):
        raise EmbeddingsError(f"--latents-from {lender_dir}: its encoder differs from {checkpoint}'s, "
                              "so its latents are not this model's; embed without --latents-from")
    data = of_model(model.info, data_dir)
    split, index = lender.arrays["split"], lender.arrays["index"]
    images = np.empty((len(index), *data.test_images.shape[1:]), data.test_images.dtype)
    images[split == 0] = data.test_images[index[split == 0]]
    images[split == 1] = data.train_images[index[split == 1]]
    t0 = time.perf_counter()
    log(f"reconstructing the {len(images)} mapped images with this model's decoder …")
    mu, _, err = encode_all(model, images)
    drift = float(np.abs(mu - lender.arrays["mu"].astype(np.float32)).max())
    if drift > 1e-2:   # same encoder, same images: only the lender's float16 storage may differ
        raise EmbeddingsError(f"--latents-from {lender_dir}: its stored μ is {drift:.3g} away from this "
                              "model's; re-run embed there")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / EMBEDDINGS, npz_bytes({"recon_mse": err.astype(np.float16)}, zipfile.ZIP_LZMA))
    timings = {"reconstruct_s": round(time.perf_counter() - t0, 2)}
    if ensure_decoder(model, out / DECODER_FILE):
        log(f"wrote {out / DECODER_FILE} (the decoder for the browser, checked against torch)")
    info = {
        "file": EMBEDDINGS, "decoder": DECODER_FILE,
        "latents_from": os.path.relpath(lender_dir.resolve(), out.resolve()),
        "borrowed": "everything but recon_mse: the encoder, and so every latent and map, is the lender's",
        "points": int(len(mu)), "model_weights_sha256": model.info.get("weights_sha256"),
        "encoder_sha256": encoder_sha256(model), "max_latent_difference": drift, "timings": timings,
        "threads": threads, "command": command, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(out / INFO_FILE, json.dumps(info, indent=2) + "\n")
    log(f"wrote {out / EMBEDDINGS} ({(out / EMBEDDINGS).stat().st_size / 1e3:.0f} kB; the rest is "
        f"{lender_dir}'s)")
    return out / EMBEDDINGS
