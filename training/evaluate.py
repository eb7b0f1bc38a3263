"""Measure a trained VAE (``python -m training evaluate``): likelihood bounds, reconstructions, the
latent space, sample quality judged by the project's classifier, synthetic-data usefulness and the
shipped 2-D maps. Writes one JSON file (default ``<checkpoint>/metrics.json``, which the explorer's
model card shows). The maths is in ``metrics.py``; this module feeds it the model and the data.

Every random draw comes from a generator seeded by ``--seed``, so a run is repeatable.
``--quick`` uses small fixed subsets (first N images) for tests and CI; the numbers are then noisy.
"""
from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import data as fmnist
from . import metrics as M
from .checkpoint import atomic_write_text
from .classifier import (FashionClassifier, accuracy, augment, classifier_dir_for, fit_classifier,
                         load_classifier, predict)
from .embed import category_mixtures, category_statistics, encode_all, stored_category_mixtures
from .losses import reconstruction_nll
from .model import VAE, decode_batched, load_model
from .precision import use_bfloat16
from .references import ReferenceStore, source_hash
from .sampling import (DEFAULT_NOISE, MIXTURE_COMPONENTS, CategoryMixtures, assign_components, sample_around,
                       sample_categories, sample_prior)
from .train import test_metrics

PIXELS = 28 * 28
# Optional stages; the ELBO, reconstructions and latent statistics are always measured.
PARTS = ("iwae", "probes", "samples", "cas", "augmentation", "maps")
# Noise scales at which category agreement is also measured, so a user can see what more variety
# costs in recognisability (the app's default, DEFAULT_NOISE, is among them).
AGREEMENT_NOISE_SCALES = (0.0, 0.25, 0.5, 0.75, 1.0)
MAP_KEYS = {"tsne": "map_tsne", "umap": "map_umap", "pca": "map_pca", "pixel-tsne": "map_pixel_tsne"}


@dataclass(frozen=True)
class Settings:
    test_images: int | None = None    # None: all 10k
    train_images: int | None = None   # None: all 60k (probes, σ fit, category statistics)
    iwae_images: int = 1000           # the first N test images
    iwae_k: int = 1000
    samples: int = 10_000             # generated images for each FID (and the agreement)
    cas_per_category: int = 6000
    # One pass over the 60k: training these classifiers is most of an evaluation's time, and the
    # real-data reference below (same protocol on the 60k training images) shows what a pass is worth.
    cas_epochs: int = 1
    cas_noise: float = 1.0            # the category's full fitted Gaussian: CAS asks for coverage
    mixture_components: int = MIXTURE_COMPONENTS  # the 'mixture' sampler, measured beside the default one
    cluster_samples: int = 200        # drawn from each cluster alone, for its own agreement
    # arithmetic of the CAS and augmentation classifiers' training (training.precision): "auto" is
    # bfloat16 where the CPU has AMX; "fp32" keeps their figures comparable with machines without it
    classifier_precision: str = "auto"
    augmentation_seeds: int = 3
    augmentation_per_category: int = 60     # 1% of the 60k training images, stratified
    augmentation_synthetic_per_category: int = 600
    augmentation_steps: int = 500     # same number of batches with and without synthetic images
    map_points: int | None = None     # None: every point of the shipped map
    trust_k: int = 10


FULL = Settings()
QUICK = Settings(test_images=500, train_images=3000, iwae_images=40, iwae_k=64, samples=500,
                 cas_per_category=100, cas_epochs=1, augmentation_seeds=1, augmentation_per_category=20,
                 augmentation_synthetic_per_category=40, augmentation_steps=20, map_points=500,
                 mixture_components=2, cluster_samples=10)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def classify(classifier, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Classifier features (N×256) and predicted categories."""
    feats, probs = predict(classifier, images)
    return feats, probs.argmax(1)


def agreement_by_noise(model: VAE, classifier, mean: np.ndarray, cov: np.ndarray, counts, seed: int,
                       scales=AGREEMENT_NOISE_SCALES) -> dict:
    """Category agreement at each noise scale (the same sampler and seed as
    ``category_agreement``), and the judge's probability of each category for its decoded mean:
    where in a category's Gaussian its samples stop being recognised."""
    overall, per_category = [], []
    for noise in scales:
        z, y = sample_categories(mean, cov, counts, noise, seed)
        total, per = M.agreement(classify(classifier, decode_batched(model, z))[1], y)
        overall.append(total)
        per_category.append(per)
    probs = predict(classifier, decode_batched(model, mean))[1]
    return {"category_agreement_by_noise": {
                "noise": [float(x) for x in scales], "overall": overall,
                "per_category": {name: [per[c] for per in per_category] for c, name in enumerate(fmnist.CATEGORIES)}},
            "category_mean_judge_prob": {name: float(probs[c, c]) for c, name in enumerate(fmnist.CATEGORIES)}}


def cluster_recognition(model: VAE, classifier, mixtures: CategoryMixtures, test_mu: np.ndarray,
                        test_labels: np.ndarray, test_pred: np.ndarray, recon_pred: np.ndarray, n: int,
                        noise: float, seed: int) -> dict:
    """Per category, per cluster of its mixture (heaviest first): its weight, the share of n samples
    drawn around it alone at ``noise`` that the judge recognises, and, of the category's test images
    that the cluster owns (``assign_components``), how many there are and the share the judge
    recognises, as real images and as reconstructions. A cluster whose samples fall short of its own
    real items is a style the model draws less recognisably than the data (its reconstructions
    tell whether the autoencoder already loses it); one whose real items are misread is ambiguous
    in the data itself."""
    per_category = {}
    for c, name in enumerate(fmnist.CATEGORIES):
        mine = np.flatnonzero(test_labels == c)
        owner = assign_components(test_mu[mine], mixtures.weight[c], mixtures.mean[c], mixtures.cov[c])
        rows = []
        for j in mixtures.components(c):
            z = sample_around(mixtures.mean[c][j], n, noise, np.random.default_rng([seed, c, j]), mixtures.cov[c][j])
            owned = mine[owner == j]
            share = lambda pred: float((pred[owned] == c).mean()) if len(owned) else None
            rows.append({"component": int(j), "weight": float(mixtures.weight[c][j]),
                         "sample_agreement": float((classify(classifier, decode_batched(model, z))[1] == c).mean()),
                         "test_images": int(len(owned)), "test_acc": share(test_pred),
                         "reconstruction_acc": share(recon_pred)})
        per_category[name] = rows
    return {"noise": noise, "samples_per_cluster": n, "per_category": per_category}


@torch.no_grad()
def fit_common_sigma(model: VAE, pixels: np.ndarray, g: torch.Generator, batch_size: int = 1000) -> float:
    """log σ of the common Gaussian likelihood: the σ that maximises the expected log-likelihood of the
    dequantised training images given one z ~ q(z|x) each (σ² = mean squared residual)."""
    total, count = 0.0, 0
    for i in range(0, len(pixels), batch_size):
        x = M.dequantise(torch.from_numpy(np.array(pixels[i:i + batch_size])).unsqueeze(1), g)
        mu, logvar = model.encode(x)
        mean = model.decode(VAE.reparameterize(mu, logvar, g))
        total += float((x - mean).pow(2).sum()); count += x.numel()
    return M.fitted_log_sigma(total, count)


@torch.no_grad()
def log_weights(model: VAE, raw: torch.Tensor, likelihood: str, own_log_sigma, common_log_sigma: float, k: int,
                g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """N×K importance log weights log p(x, z_k) − log q(z_k|x), z_k ~ q(z|x), for N×1×28×28 uint8
    images: under the model's own likelihood (x = pixels/255, as trained) and under the common
    Gaussian likelihood (dequantised x), from the same z samples."""
    x, x_deq = raw.float() / 255, M.dequantise(raw, g)
    b = len(x)
    mu, logvar = model.encode(x)
    eps = torch.randn((b, k, mu.shape[1]), generator=g)
    z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps
    log_prior_minus_q = M.log_standard_normal(z) - M.log_normal_diag(z, mu[:, None], logvar[:, None])
    logits = model.decode_logits(z.reshape(b * k, -1))
    nll_own, _ = reconstruction_nll(x.repeat_interleave(k, 0), logits, likelihood, own_log_sigma)
    nll_common = M.gaussian_nll_sum(x_deq.repeat_interleave(k, 0), torch.sigmoid(logits), common_log_sigma)
    return log_prior_minus_q - nll_own.reshape(b, k), log_prior_minus_q - nll_common.reshape(b, k)


def importance_weighted(model: VAE, pixels: np.ndarray, likelihood: str, own_log_sigma, common_log_sigma: float,
                        k: int, g: torch.Generator, progress: bool = True, decodes_per_batch: int = 8000):
    """Per image: the K-sample IWAE bound under the model's own likelihood and under the common one,
    and the one-sample ELBO (the first sample's own log weight)."""
    per = max(1, decodes_per_batch // k)
    own, common, elbo = [], [], []
    for i in tqdm(range(0, len(pixels), per), desc=f"IWAE K={k}", disable=not progress, file=sys.stderr,
                  mininterval=0.5 if sys.stderr.isatty() else 30):
        raw = torch.from_numpy(np.array(pixels[i:i + per])).unsqueeze(1)
        lw_own, lw_common = log_weights(model, raw, likelihood, own_log_sigma, common_log_sigma, k, g)
        own.append(M.iwae_bound(lw_own)); common.append(M.iwae_bound(lw_common)); elbo.append(lw_own[:, 0])
    return torch.cat(own).numpy(), torch.cat(common).numpy(), torch.cat(elbo).numpy()


def stratified_subset(labels: np.ndarray, per_category: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per_category, replace=False)
                                   for c in range(len(fmnist.CATEGORIES))]))


@functools.cache
def classifier_code(caller) -> str:
    """Hash of the code a classifier trained on real images by ``caller`` runs through."""
    return source_hash(caller, stratified_subset, fit_classifier, FashionClassifier, augment, fmnist.random_hflip,
                       accuracy)


@functools.cache
def pixel_probe_code() -> str:
    return source_hash(M.linear_probe, M.knn_accuracy)


def reference_codes() -> dict[str, str]:
    """The code hash each cached reference is keyed on now: an entry of another hash can never be
    read again (the shipped ``assets/reference-metrics.json`` is checked against this by a test)."""
    return {"raw_pixel_probes": pixel_probe_code(), "cas_real": classifier_code(cas_real_reference),
            "augmentation_real_only": classifier_code(augmentation_trial)}


def classifier_key(caller, dataset_checksum: str, precision: str, **settings) -> dict:
    """What a classifier trained on real images by ``caller`` depends on, for the reference cache: the
    data, the settings, the code, and the arithmetic (bfloat16 or not, and the thread count: training
    amplifies float rounding, and 1 and 2 threads gave 0.8411 and 0.8445 for one seed)."""
    return {"dataset": dataset_checksum, **settings, "bfloat16": use_bfloat16(precision),
            "threads": torch.get_num_threads(), "code": classifier_code(caller)}


def cas_real_reference(train_pixels, train_labels, test_x, test_y, s: Settings, seed: int, refs: ReferenceStore,
                       dataset_checksum: str) -> float:
    """The CAS protocol with real images in place of generated ones (as many per category, from the
    training set): the accuracy a perfect generator would score. Independent of the VAE, so cached."""
    key = classifier_key(cas_real_reference, dataset_checksum, s.classifier_precision, train_images=len(train_pixels),
                         test_images=len(test_x), per_category=s.cas_per_category, epochs=s.cas_epochs, seed=seed)

    def compute():
        idx = stratified_subset(train_labels, s.cas_per_category, seed)
        return accuracy(fit_classifier(fmnist.to_tensor(train_pixels[idx]),
                                       torch.from_numpy(train_labels[idx].astype(np.int64)),
                                       epochs=s.cas_epochs, seed=seed, precision=s.classifier_precision),
                        test_x, test_y)
    return refs.get("cas_real", key, compute)


def augmentation_trial(model, classifier_seed: int, train_pixels, train_labels, test_x, test_y, s: Settings,
                       refs: ReferenceStore, dataset_checksum: str):
    """1% labelled real images, with and without synthetic images drawn from category statistics of
    that subset only; the same number of training batches for both; accuracy on the real test set.
    The real-only arm does not involve the VAE, so ``refs`` computes it once per key."""
    idx = stratified_subset(train_labels, s.augmentation_per_category, classifier_seed)
    x_real, y_real = fmnist.to_tensor(train_pixels[idx]), torch.from_numpy(train_labels[idx].astype(np.int64))
    fit = dict(steps=s.augmentation_steps, batch_size=64, seed=classifier_seed)
    real_key = classifier_key(augmentation_trial, dataset_checksum, s.classifier_precision, train_images=len(train_pixels),
                              test_images=len(test_x), per_category=s.augmentation_per_category, **fit)
    real_only = refs.get("augmentation_real_only", real_key,
                         lambda: accuracy(fit_classifier(x_real, y_real, **fit, precision=s.classifier_precision),
                                          test_x, test_y))
    mu, logvar, _ = encode_all(model, train_pixels[idx])
    mean, cov, _, _ = category_statistics(mu, logvar, train_labels[idx])
    z, y_syn = sample_categories(mean, cov, [s.augmentation_synthetic_per_category] * len(mean), s.cas_noise,
                                 seed=10_000 + classifier_seed)
    x_syn = decode_batched(model, z)
    with_syn = accuracy(fit_classifier(torch.cat([x_real, x_syn]), torch.cat([y_real, torch.from_numpy(y_syn)]), **fit,
                                       precision=s.classifier_precision),
                        test_x, test_y)
    return real_only, with_syn


def map_quality(embeddings: Path, mu_by_point: np.ndarray, pixels_by_point: np.ndarray, labels: np.ndarray,
                s: Settings) -> dict:
    from sklearn.manifold import trustworthiness
    npz = np.load(embeddings)
    n = len(labels) if s.map_points is None else min(s.map_points, len(labels))
    out = {"points": n, "k": s.trust_k, "file": embeddings.name,
           "latent_knn_acc": M.leave_one_out_knn_accuracy(mu_by_point[:n], labels[:n])}
    for name, key in MAP_KEYS.items():
        if key not in npz.files:
            continue
        xy = npz[key][:n].astype(np.float32)
        high = pixels_by_point[:n] if name == "pixel-tsne" else mu_by_point[:n]
        out[name] = {"trustworthiness": float(trustworthiness(high, xy, n_neighbors=s.trust_k)),
                     "knn_acc": M.leave_one_out_knn_accuracy(xy, labels[:n])}
    return out


def evaluate(checkpoint, out=None, quick: bool = False, seed: int = 0, classifier_dir=None, data_dir=None,
             threads: int | None = None, progress: bool = True, command: str = "", parts=PARTS,
             reference_cache=None, recompute_references: bool = False, classifier_precision: str = "auto") -> dict:
    """Measure a checkpoint and write the JSON; ``parts`` picks the optional stages (pilot runs skip
    the slow ones; a shipped model's evaluation runs them all). The model-independent references
    (raw-pixel probes, the real-only augmentation arm) come from ``reference_cache`` where it holds
    them for the same data, settings, code and arithmetic (see references.py)."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"--parts {','.join(sorted(unknown))}: unknown; choose from {','.join(PARTS)}")
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    use_bfloat16(classifier_precision)   # a bad value fails here, not after minutes of work
    s = replace(QUICK if quick else FULL, classifier_precision=classifier_precision)
    checkpoint = Path(checkpoint)
    out = Path(out) if out else checkpoint / "metrics.json"
    if out.suffix != ".json":
        raise ValueError(f"--out {out}: expected a .json file name")
    refs = ReferenceStore(reference_cache, recompute=recompute_references)
    model = load_model(checkpoint)
    model.eval().to(memory_format=torch.channels_last)  # 1.3–1.6× faster (de)coding, same outputs
    info = model.info
    classifier_dir = classifier_dir_for(checkpoint, classifier_dir)
    classifier = load_classifier(classifier_dir)
    data = fmnist.load(data_dir)
    test_pix, test_lab = data.test_images[:s.test_images], data.test_labels[:s.test_images]
    train_pix, train_lab = data.train_images[:s.train_images], data.train_labels[:s.train_images]
    x_test, y_test = fmnist.to_tensor(test_pix), torch.from_numpy(test_lab.astype(np.int64))
    likelihood, own_log_sigma = info.get("likelihood", "bernoulli"), info.get("log_sigma")
    result: dict = {"checkpoint": str(checkpoint), "weights_sha256": info.get("weights_sha256"),
                    "likelihood": likelihood, "beta": info.get("beta"), "epoch": info.get("epoch"),
                    "quick": quick, "seed": seed, "test_images": len(test_pix)}
    timings: dict = {}
    t_start = time.perf_counter()

    def stage(name):
        timings[name] = round(time.perf_counter() - stage.t, 1)
        log(f"  {name}: {timings[name]:.1f} s")
        stage.t = time.perf_counter()
    stage.t = t_start
    log(f"evaluating {checkpoint} on {len(test_pix)} test images ({'quick' if quick else 'full'}, {threads} threads)")

    # 1. The ELBO under the model's own likelihood, reconstructions, the latent space.
    elbo = test_metrics(model, x_test, likelihood, own_log_sigma, seed=seed)
    te_mu, te_logvar, te_mse = encode_all(model, test_pix)
    tr_mu, tr_logvar, _ = encode_all(model, train_pix)
    au, au_var = M.active_units(te_mu)
    kl_dims = M.kl_per_dimension(te_mu, te_logvar)
    result.update(neg_elbo_nats=elbo["neg_elbo"], recon_nll_nats=elbo["recon_nll"], kl_nats=elbo["kl"],
                  recon_mse=float(te_mse.mean()), recon_psnr_db=float(M.psnr_db(te_mse).mean()),
                  active_units=au, active_unit_threshold=0.01,
                  kl_per_dim=[round(float(v), 5) for v in kl_dims],
                  mu_variance_per_dim=[round(float(v), 5) for v in au_var])
    stage("elbo_and_latents")

    if "iwae" in parts:
        # 2. Importance-weighted bounds, own and common likelihood, on a fixed subset.
        g = torch.Generator().manual_seed(seed)
        common_log_sigma = fit_common_sigma(model, train_pix, g)
        n_iw = min(s.iwae_images, len(data.test_images))
        own, common, elbo_subset = importance_weighted(model, data.test_images[:n_iw], likelihood, own_log_sigma,
                                                       common_log_sigma, s.iwae_k, g, progress)
        nll_common = M.discrete_nll_nats(-float(common.mean()), PIXELS)
        result.update(iwae_nats=-float(own.mean()), iwae_k=s.iwae_k, iwae_subset=f"test images 0–{n_iw - 1}",
                      iwae_subset_neg_elbo_nats=-float(elbo_subset.mean()),
                      iwae_standard_error_nats=float(own.std(ddof=1) / math.sqrt(len(own))) if len(own) > 1 else None,
                      nll_common_nats=nll_common, bits_per_dim=M.bits_per_dim(nll_common, PIXELS),
                      common_sigma=math.exp(common_log_sigma),
                      common_likelihood="Gaussian, one σ fitted on the training images, data uniformly dequantised to 8 bits")
        stage("iwae")

    flat = lambda p: p.reshape(len(p), -1).astype(np.float32) / 255
    if "probes" in parts:
        # 3. What the latent space knows: probes on μ and, for reference, on pixels.
        pixel_key = {"dataset": data.checksum, "train_images": len(train_pix), "test_images": len(test_pix),
                     "code": pixel_probe_code()}
        pixel = refs.get("raw_pixel_probes", pixel_key, lambda: {
            "linear": M.linear_probe(flat(train_pix), train_lab, flat(test_pix), test_lab),
            "knn": M.knn_accuracy(flat(train_pix), train_lab, flat(test_pix), test_lab)})
        result.update(linear_probe_acc=M.linear_probe(tr_mu, train_lab, te_mu, test_lab),
                      knn_acc=M.knn_accuracy(tr_mu, train_lab, te_mu, test_lab),
                      raw_pixel_linear_probe_acc=pixel["linear"], raw_pixel_knn_acc=pixel["knn"],
                      probe_train_images=len(train_pix),
                      probes="logistic regression (standardised μ, C = 1) and 5-NN (Euclidean), train → test")
        stage("probes")

    cat_mean, cat_cov, _, _ = category_statistics(tr_mu, tr_logvar, train_lab)
    mixtures, mixtures_from = None, None
    if {"samples", "cas"} & set(parts):
        # the mixtures the app samples, where embed fitted them to these weights and this training set
        mixtures = stored_category_mixtures(checkpoint, model, s.mixture_components, len(train_pix))
        mixtures_from = (str(checkpoint / "embeddings.npz") if mixtures is not None
                         else f"{len(train_pix)} training images, now")
        if mixtures is None:
            mixtures = category_mixtures(tr_mu, tr_logvar, train_lab, s.mixture_components, seed=seed)
        stage("category_mixtures")
    if "samples" in parts:
        # 4. Sample quality, judged by the classifier.
        test_feats, test_pred = classify(classifier, x_test)
        _, recon_pred = classify(classifier, decode_batched(model, te_mu))
        n_samples = min(s.samples, len(test_pix))
        counts = np.bincount(test_lab[:n_samples], minlength=len(fmnist.CATEGORIES))  # test-set proportions
        z_cat, y_cat = sample_categories(cat_mean, cat_cov, counts, DEFAULT_NOISE, seed)
        cat_feats, cat_pred = classify(classifier, decode_batched(model, z_cat))
        prior_feats, _ = classify(classifier, decode_batched(model, sample_prior(n_samples, cat_mean.shape[1], seed)))
        overall, per_category = M.agreement(cat_pred, y_cat)
        real_train_feats, _ = classify(classifier, fmnist.to_tensor(data.train_images[:n_samples]))
        result.update(category_agreement=overall,
                      category_agreement_per_category=dict(zip(fmnist.CATEGORIES, per_category)),
                      # what the judge calls the samples it does not recognise, e.g. coats read as pullovers
                      category_misread_as={name: miss and {"category": fmnist.CATEGORIES[miss[0]], "share": miss[1]}
                                           for name, miss in zip(fmnist.CATEGORIES,
                                                                 M.most_common_misreading(cat_pred, y_cat))},
                      category_sampler={"noise": DEFAULT_NOISE, "covariance": "category", "samples": int(len(y_cat))},
                      fid_classifier_prior=M.frechet_distance_of(prior_feats, test_feats[:n_samples]),
                      fid_classifier_category=M.frechet_distance_of(cat_feats, test_feats[:n_samples]),
                      fid_classifier_real_train=M.frechet_distance_of(real_train_feats, test_feats[:n_samples]),
                      fid_samples=n_samples, classifier_test_acc=float((test_pred == test_lab).mean()),
                      # the same judge on reconstructions of real test images: how far decoder blur alone
                      # lowers agreement (a ceiling for category_agreement with real-like variety)
                      reconstruction_agreement=float((recon_pred == test_lab).mean()),
                      reconstruction_agreement_per_category=dict(zip(fmnist.CATEGORIES, M.agreement(recon_pred, test_lab)[1])),
                      classifier_recall_per_category=dict(zip(fmnist.CATEGORIES, M.agreement(test_pred, test_lab)[1])),
                      classifier=str(classifier_dir),
                      **agreement_by_noise(model, classifier, cat_mean, cat_cov, counts, seed))
        # The same measurements for the app's second category sampler, the category's clusters.
        z_mix, y_mix = sample_categories(cat_mean, None, counts, DEFAULT_NOISE, seed, mixtures)
        mix_feats, mix_pred = classify(classifier, decode_batched(model, z_mix))
        mix_overall, mix_per_category = M.agreement(mix_pred, y_mix)
        result.update(category_agreement_mixture=mix_overall,
                      category_agreement_mixture_per_category=dict(zip(fmnist.CATEGORIES, mix_per_category)),
                      fid_classifier_mixture=M.frechet_distance_of(mix_feats, test_feats[:n_samples]),
                      mixture_sampler={"noise": DEFAULT_NOISE, "components": s.mixture_components,
                                       "samples": int(len(y_mix)), "fitted_from": mixtures_from},
                      mixture_clusters=cluster_recognition(model, classifier, mixtures, te_mu, test_lab, test_pred,
                                                           recon_pred, s.cluster_samples, DEFAULT_NOISE, seed))
        stage("sample_quality")

    if "cas" in parts:
        # 5. Classification accuracy score: a classifier that only ever sees generated images.
        z, y = sample_categories(cat_mean, cat_cov, [s.cas_per_category] * len(cat_mean), s.cas_noise, seed + 1)
        cas_model = fit_classifier(decode_batched(model, z), torch.from_numpy(y), epochs=s.cas_epochs, seed=seed,
                                   progress=progress, precision=s.classifier_precision)
        real = cas_real_reference(train_pix, train_lab, x_test, y_test, s, seed, refs, data.checksum)
        z_mix, y_mix = sample_categories(cat_mean, None, [s.cas_per_category] * len(cat_mean), s.cas_noise, seed + 1,
                                         mixtures)
        cas_mixture = fit_classifier(decode_batched(model, z_mix), torch.from_numpy(y_mix), epochs=s.cas_epochs,
                                     seed=seed, progress=progress, precision=s.classifier_precision)
        result.update(cas_acc=accuracy(cas_model, x_test, y_test), cas_real_acc=real, cas_images=int(len(y)),
                      cas_epochs=s.cas_epochs, cas_noise=s.cas_noise,
                      cas_acc_mixture=accuracy(cas_mixture, x_test, y_test))
        stage("cas")

    if "augmentation" in parts:
        # 6. Does synthetic data help a classifier with 1% of the labels?
        trials = [augmentation_trial(model, seed + i, data.train_images[:s.train_images], train_lab, x_test, y_test, s,
                                     refs, data.checksum)
                  for i in range(s.augmentation_seeds)]
        real_only, with_syn = np.array(trials).T
        result["augmentation"] = {
            "labelled_images": s.augmentation_per_category * len(cat_mean),
            "synthetic_images": s.augmentation_synthetic_per_category * len(cat_mean),
            "noise": s.cas_noise, "training_batches": s.augmentation_steps, "seeds": s.augmentation_seeds,
            "real_only_acc": real_only.tolist(), "with_synthetic_acc": with_syn.tolist(),
            "real_only_mean": float(real_only.mean()), "with_synthetic_mean": float(with_syn.mean()),
            "real_only_std": float(real_only.std(ddof=1)) if len(trials) > 1 else 0.0,
            "with_synthetic_std": float(with_syn.std(ddof=1)) if len(trials) > 1 else 0.0,
            "gain_mean": float((with_syn - real_only).mean())}
        stage("augmentation")

    if "maps" in parts:
        # 7. The shipped 2-D maps: do neighbours on the map stay neighbours in the latent space?
        emb = checkpoint / "embeddings.npz"
        emb_meta = checkpoint / "embeddings.json"
        made_for = json.loads(emb_meta.read_text()).get("model_weights_sha256") if emb_meta.is_file() else None
        if emb.is_file() and made_for == info.get("weights_sha256"):
            npz = np.load(emb)
            split, index = npz["split"], npz["index"]
            pix = np.empty((len(index), 28, 28), np.uint8)
            pix[split == 0] = data.test_images[index[split == 0]]
            pix[split == 1] = data.train_images[index[split == 1]]
            result["map_trustworthiness"] = map_quality(emb, npz["mu"].astype(np.float32), flat(pix), npz["labels"], s)
        else:
            result["map_trustworthiness"] = None
            log(f"  no maps of this model in {checkpoint}: map_trustworthiness skipped "
                f"(`python -m training embed --checkpoint {checkpoint} --out {checkpoint}` makes them)")
        stage("maps")

    # the CAS and augmentation classifiers train in bfloat16 only where asked or ("auto") the CPU has AMX
    result.update(seconds=round(time.perf_counter() - t_start, 1), timings=timings, threads=threads,
                  classifier_bfloat16=use_bfloat16(s.classifier_precision),
                  references={"cache": str(refs.cache_file), **refs.log, "seconds": round(refs.compute_seconds, 1)},
                  settings=asdict(s), parts=list(parts), dataset_checksum=data.checksum, command=command,
                  created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    log(f"wrote {out} ({result['seconds']:.0f} s)")
    return result


# Hash the source now, while the file on disk is the code this process runs: inspect reads it
# lazily, and an edit during a long evaluation would otherwise key its references on the new text.
reference_codes()
