"""Reading what ``embed`` wrote into a model directory, for the weights that are loaded.

A directory's embeddings belong to its model when embeddings.json names the model's weights. A model
whose decoder alone was fine-tuned (``finetune-decoder``) has the same encoder as the model it came
from, and so the same latents, maps, category statistics, mixtures and learned prior: its embeddings
may borrow all of those (``embed --latents-from DIR``) and store only what its own decoder changes,
the reconstruction errors. That is how a second shipped model costs its weights and not another
15 MB of latents. Borrowing is checked: the lender's embeddings must be its own model's, and made
by an encoder whose weights hash to this model's encoder's.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import ProjectError

EMBEDDINGS, INFO = "embeddings.npz", "embeddings.json"
DECODER_PREFIXES = ("from_latent.", "decoder.")   # the parameters finetune-decoder trains


class EmbeddingsError(ProjectError):
    """One line: which embeddings file cannot serve the loaded model, and why."""


def encoder_sha256(model) -> str:
    """SHA-256 of every parameter and buffer outside the decoder, as float32 in name order: two
    models with equal hashes map every image to the same q(z|x)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if not name.startswith(DECODER_PREFIXES):
            h.update(name.encode())
            h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class StoredArrays(Mapping):
    """The arrays of one or more npz files, later files overriding earlier ones, each read on first
    use: decompressing all of a 15 MB LZMA file takes a second, one array a few milliseconds."""

    def __init__(self, where: dict[str, Path]):
        self._where = where   # array name → the file that holds it
        self._read: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._read:
            with np.load(self._where[key]) as npz:   # KeyError for a name no file holds
                self._read[key] = npz[key]
        return self._read[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


class StoredEmbeddings(NamedTuple):
    info: dict            # embeddings.json, the lender's fields under the borrower's
    arrays: StoredArrays  # embeddings.npz, the lender's arrays under the borrower's
    path: Path            # the directory's own embeddings.npz


def _info(directory: Path) -> dict:
    try:
        info = json.loads((directory / INFO).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def _names(path: Path) -> list[str]:
    """The array names in the npz ``path``, or a one-line EmbeddingsError where it is missing or
    unreadable (only its directory is read)."""
    if not path.is_file():
        raise EmbeddingsError(f"{path}: not found — this model has no precomputed maps")
    try:
        npz = np.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise EmbeddingsError(f"{path}: unreadable ({str(e).splitlines()[0][:160]})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise EmbeddingsError(f"{path}: unreadable (a single array, not an npz archive)")
    with npz:
        return list(npz.files)


def load(directory, model) -> StoredEmbeddings:
    """The embeddings in ``directory`` for ``model`` (its loaded weights), following a borrow, or a
    one-line EmbeddingsError saying what is missing, unreadable or made for other weights."""
    directory = Path(directory)
    path = directory / EMBEDDINGS
    where = dict.fromkeys(_names(path), path)
    info = _info(directory)
    if info.get("model_weights_sha256") not in (None, model.info.get("weights_sha256")):
        raise EmbeddingsError(f"{path}: made from different weights than {directory / 'model.safetensors'}")
    lender = info.get("latents_from")
    if lender:
        lender_dir = (directory / lender).resolve()
        lender_path = lender_dir / EMBEDDINGS
        lent = dict.fromkeys(_names(lender_path), lender_path)
        lender_info = _info(lender_dir)
        try:
            lender_weights = json.loads((lender_dir / "model.json").read_text()).get("weights_sha256")
        except (OSError, json.JSONDecodeError):
            lender_weights = None
        if lender_info.get("latents_from") or lender_info.get("model_weights_sha256") != lender_weights:
            raise EmbeddingsError(f"{lender_path}: not made for the model in {lender_dir} (re-run embed "
                                  f"there), so {path} cannot borrow its latents")
        if lender_info.get("encoder_sha256") != encoder_sha256(model):
            raise EmbeddingsError(f"{lender_path}: made by another encoder than the model in {directory}'s, "
                                  "so its latents are not this model's")
        where = {**lent, **where}   # the borrower's own arrays over the lender's
        info = {**lender_info, **info}
    return StoredEmbeddings(info, StoredArrays(where), path)


def stored(directory, model) -> StoredEmbeddings | None:
    """``load``, or None where the directory holds no usable embeddings for ``model`` (then the
    caller computes what it needs from the images)."""
    try:
        return load(directory, model)
    except EmbeddingsError:
        return None
