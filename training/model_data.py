"""The images a model was trained on: Fashion-MNIST, or the folder of your own images its model.json
names (``train --data``), split as it was in training. Commands that read a model's data (``embed``
first) take it from here, so that they follow the model's dataset."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import data as fmnist
from . import folder


@dataclass
class ModelData:
    train_images: np.ndarray      # uint8 N×S×S (grey) or N×S×S×3, in the model's channels
    train_labels: np.ndarray      # int64; -1 for an unlabelled set
    test_images: np.ndarray
    test_labels: np.ndarray
    categories: tuple[str, ...]   # empty for an unlabelled set
    checksum: str
    folder: str | None            # None for Fashion-MNIST


def of_model(meta: dict, data_dir=None, progress: bool = True) -> ModelData:
    """The training and test images of the model whose model.json is ``meta``; a one-line DataError
    when its folder is gone or changed since it was trained."""
    training = meta.get("training") or {}
    if not training.get("data"):
        d = fmnist.load(data_dir)
        return ModelData(d.train_images, d.train_labels, d.test_images, d.test_labels, fmnist.CATEGORIES,
                         d.checksum, None)
    recorded = meta.get("dataset") or {}
    s = folder.load(training["data"], recorded.get("image_size"), skip_bad=training.get("skip_bad", False),
                    seed=training.get("split_seed", 0), progress=progress)
    if recorded.get("checksum") not in (None, s.checksum):
        raise folder.FolderError(f"{training['data']}: the folder changed since the model was trained "
                                 f"(checksum {recorded['checksum'][:16]}…, now {s.checksum[:16]}…)")
    pixels = folder.as_channels(s.images, recorded.get("channels", s.channels))
    return ModelData(pixels[~s.is_test], s.labels[~s.is_test], pixels[s.is_test], s.labels[s.is_test],
                     s.categories, s.checksum, training["data"])


def category_names(meta: dict) -> tuple[str, ...]:
    """The categories of the model whose model.json is ``meta``: its folder's, or Fashion-MNIST's."""
    training = meta.get("training") or {}
    if training.get("data"):
        return tuple((meta.get("dataset") or {}).get("categories") or ())
    return fmnist.CATEGORIES
