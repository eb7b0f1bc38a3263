"""Loading a model directory and its precomputed embeddings for the explorer.

Everything that can be wrong with a directory becomes an ``AssetError`` with one line saying what
is wrong and the command that rebuilds it; the app shows that instead of a traceback.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.colours import palette
from training import ModelLoadError, load_model, stored_embeddings
from training.model_data import category_names
from training.sampling import CategoryMixtures, LearnedPrior

EMBEDDINGS = "embeddings.npz"
MAP_LABELS = {
    "tsne": "t-SNE of latent means",
    "umap": "UMAP of latent means",
    "pca": "PCA of latent means",
    "pixel_tsne": "t-SNE of raw pixels (paper fig. 1)",
}
REQUIRED = ("mu", "logvar", "labels", "index", "recon_mse", "category_mean", "category_cov", "kl_per_dim")
# The models a fresh clone ships, by the name the model picker shows (directories relative to the repository).
# "previous default" is the default before its decoder's perceptual fine-tuning: the same encoder, so it
# borrows the default's latents and maps (embed --latents-from) and costs only its weights.
SHIPPED_MODELS = {"default": "assets", "paper's loss (σ² = ½)": "assets/paper",
                  "previous default": "assets/previous"}
TRAIN_COMMAND = "python -m training train --config default --out runs/default"


class AssetError(Exception):
    def __init__(self, problem: str, fix: str):
        super().__init__(problem)
        self.problem, self.fix = problem, fix


@dataclass
class Bundle:
    directory: Path
    model: object
    meta: dict                 # model.json
    info: dict                 # embeddings.json
    mu: np.ndarray             # N×k float32
    logvar: np.ndarray
    labels: np.ndarray         # N int
    index: np.ndarray          # N, index within the test split
    recon_mse: np.ndarray      # N float32
    category_mean: np.ndarray  # categories×k
    category_cov: np.ndarray   # categories×k×k
    kl_per_dim: np.ndarray     # k
    maps: dict = field(default_factory=dict)   # name -> N×2 float32
    metrics: dict | None = None                # metrics.json (evaluation), when present
    history: list = field(default_factory=list)  # metrics.jsonl (training curve), when present
    finetune_history: list = field(default_factory=list)  # finetune.jsonl (decoder fine-tuning), when present
    category_mixtures: CategoryMixtures | None = None   # each category's clusters, when embed wrote them
    learned_prior: LearnedPrior | None = None   # the whole latent space's mixture, when embed wrote it

    @property
    def current_metrics(self) -> dict | None:
        """metrics.json if it was measured on these weights (or does not say), else None."""
        if self.metrics and self.metrics.get("weights_sha256") in (None, self.meta.get("weights_sha256")):
            return self.metrics
        return None

    @property
    def latent_dim(self) -> int:
        return self.mu.shape[1]

    @property
    def folder(self) -> str | None:
        """The folder of your own images the model was trained on (``train --data``); None for
        Fashion-MNIST."""
        return (self.meta.get("training") or {}).get("data")

    @property
    def categories(self) -> tuple[str, ...]:
        """The names of the model's categories (Fashion-MNIST's, or its folder's); empty for an
        unlabelled folder."""
        return category_names(self.meta)

    def category_name(self, label: int) -> str:
        return self.categories[int(label)]

    @property
    def colours(self) -> tuple[str, ...]:
        return palette(len(self.categories))

    @property
    def image_size(self) -> int:
        return self.model.config.image_size

    @property
    def channels(self) -> int:
        return self.model.config.channels

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one decoded picture: S×S grey, S×S×3 colour (``decode_pixels``)."""
        s = self.image_size
        return (s, s) if self.channels == 1 else (s, s, 3)

    @property
    def image_words(self) -> str:
        """'28×28 greyscale', '64×64 colour': what the model sees, for captions."""
        return f"{self.image_size}×{self.image_size} {'greyscale' if self.channels == 1 else 'colour'}"

    @property
    def key(self) -> str:
        """Identifies this model, so a selection made on another one can be recognised as stale."""
        return f"{self.directory.resolve()}:{self.meta.get('weights_sha256', '')}"


def embed_command(directory) -> str:
    return f"python -m training embed --checkpoint {directory} --out {directory}"


def load_bundle(directory: str | Path) -> Bundle:
    directory = Path(directory)
    try:
        model = load_model(directory)
    except ModelLoadError as e:
        raise AssetError(str(e),
                         f"train a model with `{TRAIN_COMMAND}`, then `{embed_command('runs/default')}`, "
                                 "and load runs/default — or restore the shipped assets with `git checkout "
                                 "assets`") from None
    path = directory / EMBEDDINGS
    try:
        stored = stored_embeddings.load(directory, model)
        arrays = dict(stored.arrays)
    except stored_embeddings.EmbeddingsError as e:
        raise AssetError(str(e), f"`{embed_command(directory)}`") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise AssetError(f"{path}: unreadable ({str(e).splitlines()[0][:160]})",
                         f"`{embed_command(directory)}`") from None
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise AssetError(f"{path}: missing arrays {', '.join(missing)}", f"`{embed_command(directory)}`")
    n, k = arrays["mu"].shape
    if k != model.config.latent_dim:
        raise AssetError(f"{path}: latents have {k} dimensions but the model has {model.config.latent_dim}",
                         f"`{embed_command(directory)}`")
    info = stored.info
    maps = {name: arrays[f"map_{name}"].astype(np.float32) for name in MAP_LABELS if f"map_{name}" in arrays}
    if not maps:
        raise AssetError(f"{path}: contains no 2-D map", f"`{embed_command(directory)}`")
    bad = [name for name, xy in maps.items() if xy.shape != (n, 2) or not np.isfinite(xy).all()]
    if bad:
        raise AssetError(f"{path}: map(s) {', '.join(bad)} are malformed", f"`{embed_command(directory)}`")
    metrics = _read_json(directory / "metrics.json")
    history = _read_jsonl(directory / "metrics.jsonl")
    finetune_history = _read_jsonl(directory / "finetune.jsonl")
    return Bundle(directory=directory, model=model, meta=model.info, info=info,
                  mu=arrays["mu"].astype(np.float32), logvar=arrays["logvar"].astype(np.float32),
                  labels=arrays["labels"].astype(np.int64), index=arrays["index"].astype(np.int64),
                  recon_mse=arrays["recon_mse"].astype(np.float32),
                  category_mean=arrays["category_mean"].astype(np.float32),
                  category_cov=arrays["category_cov"].astype(np.float32),
                  kl_per_dim=arrays["kl_per_dim"].astype(np.float32), maps=maps, metrics=metrics,
                  history=history, finetune_history=finetune_history,
                  # None for embeddings from before mixtures existed: the app then offers the other samplers
                  category_mixtures=CategoryMixtures.from_arrays(arrays, k),
                  learned_prior=LearnedPrior.from_arrays(arrays, k))


def _read_json(path: Path):
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def _read_jsonl(path: Path) -> list:
    try:
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError):
        return []


def source_model(meta: dict, candidates: dict[str, str]) -> tuple[str, Path, dict | None] | None:
    """(name, directory, its metrics.json) of the model among ``candidates`` (name → directory) that
    ``meta``'s last decoder fine-tuning started from: its weights, or the weights it was exported from,
    are the recorded source's. None where no candidate is."""
    source = ((meta.get("decoder_finetune") or {}).get("source") or {}).get("weights_sha256")
    if not source:
        return None
    for name, directory in candidates.items():
        info = _read_json(Path(directory) / "model.json") if directory else None
        if isinstance(info, dict) and source in (info.get("weights_sha256"),
                                                 (info.get("exported_from") or {}).get("weights_sha256")):
            return name, Path(directory), _read_json(Path(directory) / "metrics.json")
    return None
