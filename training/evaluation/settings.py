"""What an evaluation measures on how much: the full settings the shipped numbers come from, and
``--quick``'s small fixed subsets for tests and CI (noisy numbers, seconds not minutes)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..sampling import MIXTURE_COMPONENTS


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
    device: str = "cpu"               # where the model, the judge and those classifiers run (--device)
    augmentation_seeds: int = 3
    augmentation_per_category: int = 60     # 1% of the 60k training images, stratified
    augmentation_synthetic_per_category: int = 600
    augmentation_steps: int = 500     # same number of batches with and without synthetic images
    map_points: int | None = None     # None: every point of the shipped map
    trust_k: int = 10


CAS_BATCH = 128   # fit_classifier's batch size, which the CAS uses

FULL = Settings()
QUICK = Settings(test_images=500, train_images=3000, iwae_images=40, iwae_k=64, samples=500,
                 cas_per_category=100, cas_epochs=1, augmentation_seeds=1, augmentation_per_category=20,
                 augmentation_synthetic_per_category=40, augmentation_steps=20, map_points=500,
                 mixture_components=2, cluster_samples=10)


def for_folder(s: Settings, train_labels) -> Settings:
    """The settings held within a folder's own size: the CAS draws at most as many images per
    category as the smallest category has, and the few-label benchmark keeps 1 % of the smallest
    category (at least 2) with ten synthetic images per real one, as on Fashion-MNIST (60 and 600).
    The CAS trains for as many batches as these settings give on Fashion-MNIST (469 for the full
    pass over 60k): one pass over a small folder is a dozen batches and leaves even the real-image
    reference at chance (1,490 digits: 10 %)."""
    import numpy as np
    counts = np.bincount(train_labels)
    smallest = int(counts.min())
    labelled = min(s.augmentation_per_category, max(2, smallest // 100))
    synthetic = min(s.augmentation_synthetic_per_category, 10 * labelled)
    per_category = min(s.cas_per_category, smallest)
    batches = s.cas_epochs * math.ceil(10 * s.cas_per_category / CAS_BATCH)
    per_pass = math.ceil(len(counts) * per_category / CAS_BATCH)
    epochs = max(s.cas_epochs, math.ceil(batches / per_pass))
    return replace(s, cas_per_category=per_category, cas_epochs=epochs, augmentation_per_category=labelled,
                   augmentation_synthetic_per_category=synthetic)
