"""Measure a trained VAE (what ``python -m training evaluate`` runs): likelihood bounds,
reconstructions, the latent space, sample quality judged by the project's classifier, synthetic-data
usefulness and the shipped 2-D maps. Writes one JSON file (default ``<checkpoint>/metrics.json``,
which the explorer's model card shows). The maths is in ``metrics.py``; this module feeds it the
model and the data.

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
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import device as D
from ..category_latents import category_mixtures, category_statistics, own_stored, stored_category_mixtures
from ..checkpoint import atomic_write_text
from ..data import to_tensor
from ..errors import ProjectError
from ..fit.held_out import test_metrics
from ..inference import decode_batched, encode_all
from ..latent_prior import fit_learned_prior, stored_learned_prior
from ..model import VAE, ModelLoadError, load_model
from ..model_data import ModelData, of_model
from ..precision import use_bfloat16
from ..sampling import DEFAULT_NOISE, CategoryMixtures, LearnedPrior, sample_categories, sample_prior
from . import metrics as M
from .classifier import (
    CONFIG_FILE,
    INDEPENDENT_JUDGE,
    accuracy,
    fit_classifier,
    judge_mismatch,
    load_classifier,
    load_judge,
)
from .iwae import fit_common_sigma, importance_weighted
from .judging import agreement_by_noise, classify, cluster_recognition
from .references import ReferenceStore
from .settings import FULL, QUICK, Settings, for_folder
from .trials import augmentation_trial, cas_real_reference, pixel_probe_code

MAP_KEYS = {"tsne": "map_tsne", "umap": "map_umap", "pca": "map_pca", "pixel-tsne": "map_pixel_tsne"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _flat(pixels: np.ndarray) -> np.ndarray:
    return pixels.reshape(len(pixels), -1).astype(np.float32) / 255


class Evaluation:
    """What the stages of one evaluation share: the model, its judge, the data and the settings, and
    what several stages read (latents, category statistics, the judge's verdicts), each computed once.
    A folder model without a judge of its own (``classifier --data``) is measured without the
    stages that need one; ``judge_missing`` says why."""

    def __init__(self, checkpoint: Path, model: VAE, classifier_dir, data: ModelData,
                 s: Settings, seed: int, refs: ReferenceStore, progress: bool):
        self.checkpoint, self.model, self.data, self.s, self.seed = checkpoint, model, data, s, seed
        self.categories = data.categories
        self.classifier, self.classifier_dir, self.judge_missing = None, None, None
        try:
            self.classifier = load_judge(checkpoint, model.info, classifier_dir, D.of(model))
            self.classifier_dir = self.classifier.directory
        except ModelLoadError as e:
            if data.folder is None or classifier_dir:   # the shipped judge, or one asked for, must load
                raise
            self.judge_missing = str(e)
        self.refs, self.progress = refs, progress
        self.test_pix, self.test_lab = data.test_images[:s.test_images], data.test_labels[:s.test_images]
        self.train_pix = data.train_images[:s.train_images]
        self.train_lab = data.train_labels[:s.train_images]
        self.pixels = int(np.prod(self.test_pix.shape[1:]))   # per image: 28·28, or S·S·3 in colour
        self.x_test = to_tensor(self.test_pix)
        self.y_test = torch.from_numpy(self.test_lab.astype(np.int64))
        self.likelihood = model.info.get("likelihood", "bernoulli")
        self.own_log_sigma = model.info.get("log_sigma")

    @functools.cached_property
    def test_latents(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """μ, log σ² and reconstruction MSE of the test images."""
        return encode_all(self.model, self.test_pix)

    @functools.cached_property
    def train_latents(self) -> tuple[np.ndarray, np.ndarray]:
        """μ and log σ² of the training images."""
        return encode_all(self.model, self.train_pix)[:2]

    @functools.cached_property
    def category_gaussians(self) -> tuple[np.ndarray, np.ndarray]:
        """Each category's mean and covariance of z over its training images (the default sampler)."""
        return category_statistics(*self.train_latents, self.train_lab)[:2]

    @functools.cached_property
    def mixtures(self) -> tuple[CategoryMixtures, str]:
        """The category mixtures the app samples, where embed fitted them to these weights and this
        training set, else fitted now; and where they came from."""
        k = self.s.mixture_components
        stored = stored_category_mixtures(self.checkpoint, self.model, k, len(self.train_pix))
        if stored is not None:
            return stored, str(self.checkpoint / "embeddings.npz")
        fitted = category_mixtures(*self.train_latents, self.train_lab, k, seed=self.seed)
        return fitted, f"{len(self.train_pix)} training images, now"

    @functools.cached_property
    def learned_prior(self) -> tuple[LearnedPrior, str]:
        """The learned prior the app samples without a category, where embed fitted it to these weights
        and this training set, else fitted now; and where it came from."""
        stored = stored_learned_prior(self.checkpoint, self.model, len(self.train_pix))
        if stored is not None:
            return stored, str(self.checkpoint / "embeddings.npz")
        fitted = fit_learned_prior(*self.train_latents, seed=self.seed)
        return fitted, f"{len(self.train_pix)} training images, now"

    @functools.cached_property
    def reconstructions(self) -> torch.Tensor:
        """The test images decoded from their μ."""
        return decode_batched(self.model, self.test_latents[0])

    @functools.cached_property
    def draws(self) -> dict[str, tuple[torch.Tensor, np.ndarray | None]]:
        """The decoded samples every judge sees, with their intended categories, in test-set
        proportions: around each category's mean ("category"), from its clusters ("clusters"); and
        without categories from the prior N(0, I) ("prior") and the learned prior at noise 1
        ("learned"). Drawn once, so both judges see the same images."""
        n = min(self.s.samples, len(self.test_pix))
        cat_mean, cat_cov = self.category_gaussians
        counts = np.bincount(self.test_lab[:n], minlength=len(self.categories))
        drawn = {"category": sample_categories(cat_mean, cat_cov, counts, DEFAULT_NOISE, self.seed),
                 "clusters": sample_categories(cat_mean, None, counts, DEFAULT_NOISE, self.seed,
                                               self.mixtures[0]),
                 "prior": (sample_prior(n, cat_mean.shape[1], self.seed), None),
                 "learned": (self.learned_prior[0].sample(n, 1.0, self.seed)[0], None)}
        return {name: (decode_batched(self.model, z), y) for name, (z, y) in drawn.items()}

    @functools.cached_property
    def judged_test_images(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The judge's features and predictions for the real test images, and its predictions for
        their reconstructions."""
        test_feats, test_pred = classify(self.classifier, self.x_test)
        _, recon_pred = classify(self.classifier, self.reconstructions)
        return test_feats, test_pred, recon_pred

    def by_category(self, values) -> dict:
        return dict(zip(self.categories, values, strict=True))


# --- the stages: each reads the evaluation's shared state and returns its part of metrics.json ------
def elbo_and_latents(e: Evaluation) -> dict:
    """The ELBO under the model's own likelihood, reconstructions, how much of the latent is used."""
    elbo = test_metrics(e.model, e.x_test, e.likelihood, e.own_log_sigma, seed=e.seed)
    te_mu, te_logvar, te_mse = e.test_latents
    au, au_var = M.active_units(te_mu)
    return dict(neg_elbo_nats=elbo["neg_elbo"], recon_nll_nats=elbo["recon_nll"], kl_nats=elbo["kl"],
                recon_mse=float(te_mse.mean()), recon_psnr_db=float(M.psnr_db(te_mse).mean()),
                active_units=au, active_unit_threshold=0.01,
                kl_per_dim=[round(float(v), 5) for v in M.kl_per_dimension(te_mu, te_logvar)],
                mu_variance_per_dim=[round(float(v), 5) for v in au_var])


def iwae(e: Evaluation) -> dict:
    """Importance-weighted bounds on −log p(x), under the model's own and the common likelihood."""
    g = torch.Generator().manual_seed(e.seed)
    common_log_sigma = fit_common_sigma(e.model, e.train_pix, g)
    n = min(e.s.iwae_images, len(e.data.test_images))
    own, common, elbo_subset = importance_weighted(e.model, e.data.test_images[:n], e.likelihood,
                                                   e.own_log_sigma, common_log_sigma, e.s.iwae_k, g,
                                                   e.progress)
    nll_common = M.discrete_nll_nats(-float(common.mean()), e.pixels)
    return dict(iwae_nats=-float(own.mean()), iwae_k=e.s.iwae_k, iwae_subset=f"test images 0–{n - 1}",
                iwae_subset_neg_elbo_nats=-float(elbo_subset.mean()),
                iwae_standard_error_nats=(float(own.std(ddof=1) / math.sqrt(len(own))) if len(own) > 1
                                          else None),
                nll_common_nats=nll_common, bits_per_dim=M.bits_per_dim(nll_common, e.pixels),
                common_sigma=math.exp(common_log_sigma),
                common_likelihood="Gaussian, one σ fitted on the training images, data uniformly "
                                  "dequantised to 8 bits")


def probes(e: Evaluation) -> dict:
    """What the latent space knows: probes on μ and, for reference, on raw pixels (cached)."""
    key = {"dataset": e.data.checksum, "train_images": len(e.train_pix), "test_images": len(e.test_pix),
           "code": pixel_probe_code()}
    pixel = e.refs.get("raw_pixel_probes", key, lambda: {
        "linear": M.linear_probe(_flat(e.train_pix), e.train_lab, _flat(e.test_pix), e.test_lab),
        "knn": M.knn_accuracy(_flat(e.train_pix), e.train_lab, _flat(e.test_pix), e.test_lab)})
    tr_mu, te_mu = e.train_latents[0], e.test_latents[0]
    return dict(linear_probe_acc=M.linear_probe(tr_mu, e.train_lab, te_mu, e.test_lab),
                knn_acc=M.knn_accuracy(tr_mu, e.train_lab, te_mu, e.test_lab),
                raw_pixel_linear_probe_acc=pixel["linear"], raw_pixel_knn_acc=pixel["knn"],
                probe_train_images=len(e.train_pix),
                probes="logistic regression (standardised μ, C = 1) and 5-NN (Euclidean), train → test")


def sample_quality(e: Evaluation) -> dict:
    """Samples judged by the classifier: agreement and Fréchet distances, for both category samplers."""
    if e.classifier is None:
        log(f"  sample quality skipped: {e.judge_missing}")
        return {"sample_quality_skipped": e.judge_missing}
    test_feats, test_pred, recon_pred = e.judged_test_images
    cat_mean, cat_cov = e.category_gaussians
    n = min(e.s.samples, len(e.test_pix))
    k = len(e.categories)
    counts = np.bincount(e.test_lab[:n], minlength=k)  # test-set proportions

    def fid(features: np.ndarray) -> float:
        """Fréchet distance between the judge's features of some images and of the test images."""
        return M.frechet_distance_of(features, test_feats[:n])

    images, y_cat = e.draws["category"]
    features, predicted = classify(e.classifier, images)
    prior = e.draws["prior"][0]
    learned_features, learned_predicted = classify(e.classifier, e.draws["learned"][0])
    overall, per_category = M.agreement(predicted, y_cat, k)
    misread = M.most_common_misreading(predicted, y_cat, k)
    return dict(
        category_agreement=overall, category_agreement_per_category=e.by_category(per_category),
        # what the judge calls the samples it does not recognise, e.g. coats read as pullovers
        category_misread_as={name: miss and {"category": e.categories[miss[0]], "share": miss[1]}
                             for name, miss in e.by_category(misread).items()},
        category_sampler={"noise": DEFAULT_NOISE, "covariance": "category", "samples": int(len(y_cat))},
        fid_classifier_prior=fid(classify(e.classifier, prior)[0]),
        fid_classifier_learned_prior=fid(learned_features),
        learned_prior=learned_prior_summary(e, learned_predicted, test_pred[:n]),
        fid_classifier_category=fid(features),
        fid_classifier_real_train=fid(classify(e.classifier, to_tensor(e.data.train_images[:n]))[0]),
        fid_samples=n, classifier_test_acc=float((test_pred == e.test_lab).mean()),
        # the same judge on reconstructions of real test images: how much the autoencoder alone loses
        reconstruction_agreement=float((recon_pred == e.test_lab).mean()),
        reconstruction_agreement_per_category=e.by_category(M.agreement(recon_pred, e.test_lab, k)[1]),
        classifier_recall_per_category=e.by_category(M.agreement(test_pred, e.test_lab, k)[1]),
        classifier=str(e.classifier_dir),
        **agreement_by_noise(e.model, e.classifier, cat_mean, cat_cov, counts, e.seed, names=e.categories),
        **cluster_sample_quality(e, counts, fid))


def learned_prior_summary(e: Evaluation, predicted: np.ndarray, test_predicted: np.ndarray) -> dict:
    """How the learned prior was fitted and sampled, and the share of its samples the judge puts in
    each category beside its share of the real test images (a prior that drops a category shows it)."""
    prior, fitted_from = e.learned_prior
    k = len(e.categories)
    shares = np.bincount(predicted, minlength=k) / max(1, len(predicted))
    real = np.bincount(test_predicted, minlength=k) / max(1, len(test_predicted))
    return {"components": prior.components, "noise": 1.0, "samples": int(len(predicted)),
            "fitted_from": fitted_from,
            "category_shares": e.by_category([round(float(v), 4) for v in shares]),
            "real_category_shares": e.by_category([round(float(v), 4) for v in real]),
            "share_total_variation": round(float(0.5 * np.abs(shares - real).sum()), 4)}


def independent_judgement(e: Evaluation) -> dict:
    """The same images judged by the independent judge (``INDEPENDENT_JUDGE``: another architecture
    and seed, trained on real images only), which no method here uses inside training or sampling:
    real test images, their reconstructions, the samplers' samples (the same draws as
    ``sample_quality``) and Fréchet distances in its features (issue 47: no circular judging)."""
    directory = INDEPENDENT_JUDGE
    if e.data.folder is not None:
        return {"independent_judge_skipped": "a folder model: its judge is the folder's own classifier"}
    if not (directory / CONFIG_FILE).is_file():
        return {"independent_judge_skipped": f"{directory}: no independent judge; train it with `python -m "
                                             "training classifier --architecture residual --seed 1 --out "
                                             "assets/independent-judge`"}
    judge = load_classifier(directory, D.of(e.model))
    problem = judge_mismatch(judge, e.model.info)
    if problem:
        raise ProjectError(f"{directory / CONFIG_FILE}: {problem}")
    k = len(e.categories)
    n = min(e.s.samples, len(e.test_pix))
    test_feats, test_pred = classify(judge, e.x_test)
    _, recon_pred = classify(judge, e.reconstructions)
    out = {"classifier": str(directory), "architecture": judge.info.get("architecture"),
           "seed": (judge.info.get("training") or {}).get("seed"), "samples": n,
           "real_recall": float((test_pred == e.test_lab).mean()),
           "real_recall_per_category": e.by_category(M.agreement(test_pred, e.test_lab, k)[1]),
           "reconstruction_agreement": float((recon_pred == e.test_lab).mean()),
           "reconstruction_agreement_per_category": e.by_category(M.agreement(recon_pred, e.test_lab, k)[1])}
    for name in ("category", "clusters"):
        images, y = e.draws[name]
        features, predicted = classify(judge, images)
        overall, per_category = M.agreement(predicted, y, k)
        out.update({f"{name}_agreement": overall,
                    f"{name}_agreement_per_category": e.by_category(per_category),
                    f"fid_{name}": M.frechet_distance_of(features, test_feats[:n])})
    for name in ("prior", "learned"):
        out[f"fid_{name}"] = M.frechet_distance_of(classify(judge, e.draws[name][0])[0], test_feats[:n])
    return {"independent_judge": out}


def cluster_sample_quality(e: Evaluation, counts: np.ndarray, fid) -> dict:
    """The same measurements for the app's second category sampler, the categories' clusters, and
    each cluster on its own."""
    mixtures, fitted_from = e.mixtures
    _, test_pred, recon_pred = e.judged_test_images
    images, y = e.draws["clusters"]
    features, predicted = classify(e.classifier, images)
    overall, per_category = M.agreement(predicted, y, len(e.categories))
    clusters = cluster_recognition(e.model, e.classifier, mixtures, e.test_latents[0], e.test_lab, test_pred,
                                   recon_pred, e.s.cluster_samples, DEFAULT_NOISE, e.seed, e.categories)
    return dict(category_agreement_mixture=overall,
                category_agreement_mixture_per_category=e.by_category(per_category),
                fid_classifier_mixture=fid(features),
                mixture_sampler={"noise": DEFAULT_NOISE, "components": e.s.mixture_components,
                                 "samples": int(len(y)), "fitted_from": fitted_from},
                mixture_clusters=clusters)


def cas(e: Evaluation) -> dict:
    """Classification accuracy score: classifiers that only ever see generated images, one per
    category sampler, beside the same protocol on real images (cached)."""
    cat_mean, cat_cov = e.category_gaussians
    per_category = [e.s.cas_per_category] * len(cat_mean)

    def trained_on_samples(mixtures=None):
        covariances = None if mixtures is not None else cat_cov
        z, y = sample_categories(cat_mean, covariances, per_category, e.s.cas_noise, e.seed + 1, mixtures)
        model = fit_classifier(decode_batched(e.model, z), torch.from_numpy(y), epochs=e.s.cas_epochs,
                               seed=e.seed, progress=e.progress, precision=e.s.classifier_precision,
                               device=e.s.device, classes=len(e.categories))
        return accuracy(model, e.x_test, e.y_test), len(y)

    cas_acc, images = trained_on_samples()
    real = cas_real_reference(e.train_pix, e.train_lab, e.x_test, e.y_test, e.s, e.seed, e.refs,
                              e.data.checksum, len(e.categories))
    return dict(cas_acc=cas_acc, cas_real_acc=real, cas_images=int(images), cas_epochs=e.s.cas_epochs,
                cas_noise=e.s.cas_noise, cas_acc_mixture=trained_on_samples(e.mixtures[0])[0])


def augmentation(e: Evaluation) -> dict:
    """Does synthetic data help a classifier that has 1% of the labels?"""
    s = e.s
    trials = [augmentation_trial(e.model, e.seed + i, e.data.train_images[:s.train_images], e.train_lab,
                                 e.x_test, e.y_test, s, e.refs, e.data.checksum, len(e.categories))
              for i in range(s.augmentation_seeds)]
    real_only, with_syn = np.array(trials).T

    def spread(accuracies: np.ndarray) -> float:
        return float(accuracies.std(ddof=1)) if len(trials) > 1 else 0.0

    categories = len(e.categories)
    return {"augmentation": {
        "labelled_images": s.augmentation_per_category * categories,
        "synthetic_images": s.augmentation_synthetic_per_category * categories,
        "noise": s.cas_noise, "training_batches": s.augmentation_steps, "seeds": s.augmentation_seeds,
        "real_only_acc": real_only.tolist(), "with_synthetic_acc": with_syn.tolist(),
        "real_only_mean": float(real_only.mean()), "with_synthetic_mean": float(with_syn.mean()),
        "real_only_std": spread(real_only), "with_synthetic_std": spread(with_syn),
        "gain_mean": float((with_syn - real_only).mean())}}


def maps(e: Evaluation) -> dict:
    """The shipped 2-D maps: do neighbours on the map stay neighbours in the latent space?"""
    found = own_stored(e.checkpoint, e.model)
    if found is None:
        log(f"  no maps of this model in {e.checkpoint}: map_trustworthiness skipped "
            f"(`python -m training embed --checkpoint {e.checkpoint} --out {e.checkpoint}` makes them)")
        return {"map_trustworthiness": None}
    npz = found.arrays
    split, index = npz["split"], npz["index"]
    pix = np.empty((len(index), *e.data.test_images.shape[1:]), np.uint8)
    pix[split == 0] = e.data.test_images[index[split == 0]]
    pix[split == 1] = e.data.train_images[index[split == 1]]
    mu = npz["mu"].astype(np.float32)
    return {"map_trustworthiness": map_quality(found.arrays, found.path.name, mu, _flat(pix), npz["labels"],
                                               e.s)}


def map_quality(arrays, file: str, mu_by_point: np.ndarray, pixels_by_point: np.ndarray, labels: np.ndarray,
                s: Settings) -> dict:
    """Trustworthiness (k = s.trust_k) of each map in ``arrays`` (an embeddings npz's, from ``file``)
    and the 5-NN accuracy inside it."""
    from sklearn.manifold import trustworthiness
    npz = arrays
    n = len(labels) if s.map_points is None else min(s.map_points, len(labels))
    out = {"points": n, "k": s.trust_k, "file": file,
           "latent_knn_acc": M.leave_one_out_knn_accuracy(mu_by_point[:n], labels[:n])}
    for name, key in MAP_KEYS.items():
        if key not in npz:
            continue
        xy = npz[key][:n].astype(np.float32)
        high = pixels_by_point[:n] if name == "pixel-tsne" else mu_by_point[:n]
        out[name] = {"trustworthiness": float(trustworthiness(high, xy, n_neighbors=s.trust_k)),
                     "knn_acc": M.leave_one_out_knn_accuracy(xy, labels[:n])}
    return out


# The optional stages (``--parts``) in the order they run, each with the name of its timing; the ELBO
# and latent statistics always run first.
STAGES = {"iwae": ("iwae", iwae), "probes": ("probes", probes), "samples": ("sample_quality", sample_quality),
          "independent": ("independent_judge", independent_judgement), "cas": ("cas", cas),
          "augmentation": ("augmentation", augmentation), "maps": ("maps", maps)}
PARTS = tuple(STAGES)


def planned_stages(parts) -> list[tuple[str, Callable[[Evaluation], dict]]]:
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ProjectError(f"--parts {','.join(sorted(unknown))}: unknown; choose from {','.join(PARTS)}")
    return [("elbo_and_latents", elbo_and_latents)] + [STAGES[name] for name in PARTS if name in parts]


def evaluate(checkpoint, out=None, quick: bool = False, seed: int = 0, classifier_dir=None, data_dir=None,
             threads: int | None = None, progress: bool = True, command: str = "", parts=PARTS,
             reference_cache=None, recompute_references: bool = False,
             classifier_precision: str = "auto", device: str = "auto") -> dict:
    """Measure a model directory and write the JSON; ``parts`` picks the optional stages. The
    model-independent references come from ``reference_cache`` where it holds them for the same
    data, settings, code and arithmetic (references.py)."""
    plan = planned_stages(parts)
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    use_bfloat16(classifier_precision)   # a bad value fails here, not after minutes of work
    device = D.resolve(device)
    s = replace(QUICK if quick else FULL, classifier_precision=classifier_precision, device=str(device))
    checkpoint = Path(checkpoint)
    out = Path(out) if out else checkpoint / "metrics.json"
    if out.suffix != ".json":
        raise ProjectError(f"--out {out}: expected a .json file name")
    refs = ReferenceStore(reference_cache, recompute=recompute_references)
    model = load_model(checkpoint, device=device)
    model.eval().to(memory_format=torch.channels_last)  # 1.3–1.6× faster (de)coding, same outputs
    data = of_model(model.info, data_dir, progress)
    if not data.categories:
        raise ProjectError(f"{checkpoint}: trained on an unlabelled folder ({data.folder}); the evaluation "
                           "measures categories, so it needs DIR/<category>/<image>")
    if data.folder is not None:
        s = for_folder(s, data.train_labels[:s.train_images])
    e = Evaluation(checkpoint, model, classifier_dir, data, s, seed, refs, progress)
    result = {"checkpoint": str(checkpoint), "weights_sha256": model.info.get("weights_sha256"),
              "likelihood": e.likelihood, "beta": model.info.get("beta"), "epoch": model.info.get("epoch"),
              "quick": quick, "seed": seed, "test_images": len(e.test_pix)}
    log(f"evaluating {checkpoint} on {len(e.test_pix)} test images ({'quick' if quick else 'full'}, "
        f"{threads} threads, {D.describe(device)})")
    timings, t_start = {}, time.perf_counter()
    for name, stage in plan:
        t0 = time.perf_counter()
        result.update(stage(e))
        timings[name] = round(time.perf_counter() - t0, 1)
        log(f"  {name}: {timings[name]:.1f} s")

    result.update(seconds=round(time.perf_counter() - t_start, 1), timings=timings, threads=threads,
                  classifier_bfloat16=use_bfloat16(s.classifier_precision, device), device=D.describe(device),
                  references={"cache": str(refs.cache_file), **refs.log,
                              "seconds": round(refs.compute_seconds, 1)},
                  settings=asdict(s), parts=list(parts), dataset_checksum=e.data.checksum, command=command,
                  created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    log(f"wrote {out} ({result['seconds']:.0f} s)")
    return result
