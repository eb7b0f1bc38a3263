"""Labelled image sets as files: an ``.npz`` with ``images`` and ``labels`` (and any other arrays), or
gzipped IDX files that any Fashion-MNIST reader loads. ``generate`` and ``augment`` write them with
``write``, ``augment`` reads them with ``read``, and the app's downloads are made by ``npz``.
Every write is atomic and every byte is a function of the arrays.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from . import data as fmnist
from .checkpoint import atomic_write_bytes, npz_bytes
from .data import DataError

IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] → uint8, as the dataset stores them."""
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def npz(images: np.ndarray, labels: np.ndarray, z: np.ndarray) -> bytes:
    """Generated images in [0, 1] as one .npz: uint8 ``images``, their ``labels`` and latent codes ``z``."""
    return npz_bytes({"images": to_uint8(images), "labels": np.asarray(labels, np.uint8),
                      "z": np.asarray(z, np.float32)})


def idx_paths(out: str | os.PathLike) -> tuple[Path, Path]:
    """``--out DIR/`` or an existing directory → DIR/train-…; ``--out DIR/PREFIX`` → DIR/PREFIX-…,
    the names Fashion-MNIST readers look for (``load_mnist(DIR, kind=PREFIX)``)."""
    names_a_directory = str(out).endswith(("/", os.sep))   # before Path() drops the slash
    out = Path(out)
    if names_a_directory or out.is_dir():
        out = out / "train"
    return out.parent / f"{out.name}-images-idx3-ubyte.gz", out.parent / f"{out.name}-labels-idx1-ubyte.gz"


def write(out: str | os.PathLike, fmt: str, arrays: dict[str, np.ndarray],
          extras_beside_idx: bool = False) -> list[str]:
    """``images`` (uint8 N×28×28, or a folder model's N×S×S(×3)) and ``labels`` with any other arrays:
    one .npz, or gzipped IDX files of the images and labels, with the other arrays in
    ``PREFIX-extra.npz`` beside them where asked. Returns the files written."""
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


def read(path: str | Path, image_shape: tuple[int, ...] = (28, 28),
         categories: tuple[str, ...] = fmnist.CATEGORIES) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images of ``image_shape`` (a model's: N×28×28 for Fashion-MNIST, N×S×S or N×S×S×3 for a
    folder model) and int64 labels into ``categories``, from an .npz (``images``, ``labels``), a
    directory of IDX files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``) or a folder
    of images ``DIR/<category>/<image>`` whose category names are the model's; a DataError naming
    the problem otherwise."""
    path = Path(path)
    if path.is_dir() and not any((path / n).is_file() for n in IDX_NAMES):
        images, labels = read_folder(path, image_shape, categories)
    elif path.is_dir():
        missing = [n for n in IDX_NAMES if not (path / n).is_file()]
        if missing:
            raise DataError(f"--input {path}: no {missing[0]} in this directory")
        images, labels = (fmnist.read_idx_file(path / n) for n in IDX_NAMES)
    else:
        try:
            with np.load(path, allow_pickle=False) as npz_file:
                missing = [k for k in ("images", "labels") if k not in npz_file.files]
                if missing:
                    raise DataError(f"--input {path}: no '{missing[0]}' array (expected images and labels)")
                images, labels = npz_file["images"], npz_file["labels"]
        except (OSError, EOFError) as e:
            raise DataError(f"--input {path}: not a readable .npz or directory of IDX files ({e})") from None
        except ValueError:   # numpy's own words would suggest loading the file unsafely, with pickle
            raise DataError(f"--input {path}: not an .npz file (expected images and labels) or a directory "
                            "of IDX files") from None
    return check(images, labels, path, image_shape, len(categories))


def _name_key(name: str) -> str:
    """A category name as a folder can spell it: 'T-shirt/top' is the folder t-shirt-top."""
    return re.sub(r"[\W_]+", "-", name.lower()).strip("-")


def read_folder(path: Path, image_shape: tuple[int, ...], categories: tuple[str, ...]):
    """Every image of a folder of labelled images (training.folder), read as ``train --data`` reads
    them at the model's size and channels, labelled by the model's category of each folder's name."""
    from . import folder
    s = folder.load(path, image_shape[0])
    if not s.categories:
        raise DataError(f"--input {path}: no category folders (expected {path}/<category>/<image>, the "
                        "label of each image)")
    known = {_name_key(name): c for c, name in enumerate(categories)}
    unknown = [name for name in s.categories if _name_key(name) not in known]
    if unknown:
        raise DataError(f"--input {path}: the folder '{unknown[0]}' is not a category of the model (expected "
                        f"some of {', '.join(categories)})")
    to_model = np.array([known[_name_key(name)] for name in s.categories])
    return folder.as_channels(s.images, 1 if len(image_shape) == 2 else 3), to_model[s.labels]


def check(images: np.ndarray, labels: np.ndarray, where, image_shape: tuple[int, ...] = (28, 28),
          n_categories: int = len(fmnist.CATEGORIES)) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels (as int64) of a labelled set, if they are one; a DataError otherwise."""
    if images.dtype != np.uint8 or images.shape[1:] != tuple(image_shape):
        shape = "×".join(map(str, image_shape))
        raise DataError(f"--input {where}: images are {images.dtype} {tuple(images.shape)}, expected uint8 "
                        f"N×{shape} (the model's)")
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (len(images),):
        raise DataError(f"--input {where}: labels are {labels.dtype} {tuple(labels.shape)}, expected "
                        f"{len(images)} integers")
    if len(images) == 0:
        raise DataError(f"--input {where}: holds no images")
    outside = labels[(labels < 0) | (labels >= n_categories)]
    if len(outside):
        raise DataError(f"--input {where}: label {int(outside[0])} is outside 0–{n_categories - 1}")
    return images, labels.astype(np.int64)
