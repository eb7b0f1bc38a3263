"""Classifiers the evaluation trains on real and generated images, and the keys that cache the parts
of them that never involve the VAE (``references.py``).

- ``cas_real_reference``: the classification-accuracy-score protocol run on real training images,
  the score a perfect generator would reach.
- ``augmentation_trial``: a classifier trained on 1% of the labels, with and without synthetic
  images drawn from those images' category statistics; its real-only arm is model-independent.

A cached value is keyed on the code that computes it, hashed when this module is imported.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from .. import data as fmnist
from ..category_latents import category_statistics
from ..inference import decode_batched, encode_all
from ..precision import use_bfloat16
from ..sampling import sample_categories
from . import metrics as M
from .classifier import FashionClassifier, accuracy, augment, fit_classifier
from .references import ReferenceStore, source_hash
from .settings import Settings


def stratified_subset(labels: np.ndarray, per_category: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per_category, replace=False)
                                   for c in range(int(labels.max()) + 1)]))


@functools.cache
def classifier_code(caller) -> str:
    """Hash of the code a classifier trained on real images by ``caller`` runs through."""
    return source_hash(caller, stratified_subset, fit_classifier, FashionClassifier, augment,
                       fmnist.random_hflip, accuracy)


@functools.cache
def pixel_probe_code() -> str:
    return source_hash(M.linear_probe, M.knn_accuracy)


def reference_codes() -> dict[str, str]:
    """The code hash each cached reference is keyed on now: an entry of another hash can never be
    read again (the shipped ``assets/reference-metrics.json`` is checked against this by a test)."""
    return {"raw_pixel_probes": pixel_probe_code(), "cas_real": classifier_code(cas_real_reference),
            "augmentation_real_only": classifier_code(augmentation_trial)}


def classifier_key(caller, dataset_checksum: str, precision: str, device: str = "cpu", **settings) -> dict:
    """What a classifier trained on real images by ``caller`` depends on, for the reference cache: the
    data, the settings, the code, and the arithmetic (the device, bfloat16 or not, and the thread
    count: training amplifies float rounding, and 1 and 2 threads gave 0.8411 and 0.8445 for one
    seed). A CPU's key names no device, as before devices existed, so its cached figures stay valid."""
    where = {} if torch.device(device).type == "cpu" else {"device": torch.device(device).type}
    return {"dataset": dataset_checksum, **settings, **where, "bfloat16": use_bfloat16(precision, device),
            "threads": torch.get_num_threads(), "code": classifier_code(caller)}


def cas_real_reference(train_pixels, train_labels, test_x, test_y, s: Settings, seed: int,
                       refs: ReferenceStore, dataset_checksum: str, classes: int = 10) -> float:
    """The CAS protocol with real images in place of generated ones (as many per category, from the
    training set): the accuracy a perfect generator would score. Independent of the VAE, so cached."""
    key = classifier_key(cas_real_reference, dataset_checksum, s.classifier_precision, s.device,
                         train_images=len(train_pixels), test_images=len(test_x),
                         per_category=s.cas_per_category, epochs=s.cas_epochs, seed=seed)

    def compute():
        idx = stratified_subset(train_labels, s.cas_per_category, seed)
        return accuracy(fit_classifier(fmnist.to_tensor(train_pixels[idx]),
                                       torch.from_numpy(train_labels[idx].astype(np.int64)),
                                       epochs=s.cas_epochs, seed=seed, precision=s.classifier_precision,
                                       device=s.device, classes=classes),
                        test_x, test_y)
    return refs.get("cas_real", key, compute)


def augmentation_trial(model, classifier_seed: int, train_pixels, train_labels, test_x, test_y, s: Settings,
                       refs: ReferenceStore, dataset_checksum: str, classes: int = 10):
    """1% labelled real images, with and without synthetic images drawn from category statistics of
    that subset only; the same number of training batches for both; accuracy on the real test set.
    The real-only arm does not involve the VAE, so ``refs`` computes it once per key."""
    idx = stratified_subset(train_labels, s.augmentation_per_category, classifier_seed)
    x_real, y_real = fmnist.to_tensor(train_pixels[idx]), torch.from_numpy(train_labels[idx].astype(np.int64))
    fit = dict(steps=s.augmentation_steps, batch_size=64, seed=classifier_seed)
    on = dict(precision=s.classifier_precision, device=s.device, classes=classes)
    real_key = classifier_key(augmentation_trial, dataset_checksum, s.classifier_precision, s.device,
                              train_images=len(train_pixels), test_images=len(test_x),
                              per_category=s.augmentation_per_category, **fit)
    real_only = refs.get("augmentation_real_only", real_key,
                         lambda: accuracy(fit_classifier(x_real, y_real, **fit, **on),
                                          test_x, test_y))
    mu, logvar, _ = encode_all(model, train_pixels[idx])
    mean, cov, _, _ = category_statistics(mu, logvar, train_labels[idx])
    z, y_syn = sample_categories(mean, cov, [s.augmentation_synthetic_per_category] * len(mean), s.cas_noise,
                                 seed=10_000 + classifier_seed)
    x_syn = decode_batched(model, z)
    with_syn = accuracy(fit_classifier(torch.cat([x_real, x_syn]),
                                       torch.cat([y_real, torch.from_numpy(y_syn)]),
                                       **fit, **on),
                        test_x, test_y)
    return real_only, with_syn


# Hash the code now, while the file on disk is the code this process runs: inspect reads it lazily,
# and an edit during a long evaluation would otherwise key its references on the new text.
reference_codes()
