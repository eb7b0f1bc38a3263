"""A Fashion-MNIST CNN classifier: the judge of generated images, trained by ``python -m training
classifier``.

Its penultimate features serve the Fréchet distances of the evaluation and its predictions the
category agreement of samples. Weights in ``classifier.safetensors`` beside ``classifier.json``,
written atomically each epoch, loaded without unpickling.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .. import data as fmnist
from .. import device as D
from ..checkpoint import matching_config, save_weights_and_config
from ..model import ModelLoadError
from ..precision import use_bfloat16

WEIGHTS_FILE, CONFIG_FILE = "classifier.safetensors", "classifier.json"
REPO_ASSETS = Path(__file__).resolve().parents[2] / "assets"
# The second judge, of another architecture and seed (``classifier --architecture residual --seed 1``):
# evaluate's "independent" stage judges with it what methods that use the first judge produce.
INDEPENDENT_JUDGE = REPO_ASSETS / "independent-judge"
FEATURE_DIM = 256


class FashionClassifier(nn.Module):
    """Three conv blocks (32, 64, 128 channels, batch norm, max-pooling) → 256-d features → one
    output per category. Fashion-MNIST's is 28×28 grey with ten; a folder's judge
    (``classifier --data``) takes its model's size, channels and categories."""

    def __init__(self, dropout: float = 0.3, channels: int = 1, size: int = 28,
                 classes: int = len(fmnist.CATEGORIES)):
        super().__init__()
        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(),
                    nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]
        side = size // 8    # three poolings: 28 → 14 → 7 → 3, 32 → 4, 64 → 8
        self.body = nn.Sequential(*block(channels, 32), *block(32, 64), *block(64, 128),
                                  nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(128 * side * side, FEATURE_DIM), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(FEATURE_DIM, classes))
        self.channels, self.size, self.classes = channels, size, classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """N×C×S×S in [0, 1] → N×256, the representation the Fréchet distances use."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(), nn.Conv2d(width, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width))

    def forward(self, x):
        return F.relu(x + self.body(x))


class ResidualClassifier(nn.Module):
    """The independent judge: another architecture than ``FashionClassifier`` (a 5×5 stem, residual
    blocks at 32, 64 and 128 channels with strided convolutions between, global average pooling, no
    dropout), trained with another seed on real images only, for methods that use the first judge
    inside training or sampling (issue 47: no circular judging)."""

    def __init__(self, channels: int = 1, size: int = 28, classes: int = len(fmnist.CATEGORIES)):
        super().__init__()
        def down(i, o):
            return [nn.Conv2d(i, o, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
        self.body = nn.Sequential(nn.Conv2d(channels, 32, 5, padding=2, bias=False), nn.BatchNorm2d(32),
                                  nn.ReLU(), ResidualBlock(32), *down(32, 64), ResidualBlock(64),
                                  *down(64, 128), ResidualBlock(128), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(128, classes)
        self.channels, self.size, self.classes = channels, size, classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """N×C×S×S in [0, 1] → N×128 (global average pooling)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


# The judges' architectures by the name classifier.json records ("conv3" when it names none: the
# files written before there was a second).
ARCHITECTURES = {"conv3": FashionClassifier, "residual": ResidualClassifier}


def build_classifier(architecture: str = "conv3", **shape) -> nn.Module:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"classifier architecture {architecture!r}: expected one of "
                         f"{', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**shape)


def feature_dim(model: nn.Module) -> int:
    """The width of ``model.features``: the last Linear's input."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].in_features


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 2 pixels (clothes stay clothes)."""
    padded = F.pad(fmnist.random_hflip(x, g), (2, 2, 2, 2))
    dx, dy = torch.randint(0, 5, (2,), generator=g).tolist()  # one shift per batch: cheap, enough
    return padded[..., dy:dy + x.shape[-2], dx:dx + x.shape[-1]]


@torch.no_grad()
def predict(model: FashionClassifier, images: torch.Tensor, batch_size: int = 1000):
    """Features (N×256) and class probabilities (N×categories) for N×C×S×S images in [0, 1], as
    numpy, computed on the model's device."""
    model.eval()
    device = D.of(model)
    feats, probs = [], []
    for i in range(0, len(images), batch_size):
        f = model.features(images[i:i + batch_size].to(device))
        feats.append(f.cpu())
        probs.append(torch.softmax(model.head(f), 1).cpu())
    if not feats:
        return np.zeros((0, feature_dim(model)), np.float32), np.zeros((0, model.classes), np.float32)
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def probabilities(model: FashionClassifier, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N×categories) for N×S×S or N×S×S×3 images in [0, 1] given as numpy
    (``decode_pixels``)."""
    x = torch.from_numpy(np.asarray(images, np.float32))
    return predict(model, x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2))[1]


@torch.no_grad()
def accuracy(model: FashionClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    model.eval()
    device = D.of(model)
    correct = 0
    for i in range(0, len(x), batch_size):
        predicted = model(x[i:i + batch_size].to(device)).argmax(1)
        correct += (predicted == y[i:i + batch_size].to(device)).sum().item()
    return correct / len(x)


def fit_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int = 10, batch_size: int = 128,
                   lr: float = 2e-3,
                   seed: int = 0, steps: int | None = None, progress: bool = False, on_epoch=None,
                   precision: str = "auto", device=None, classes: int | None = None,
                   architecture: str = "conv3") -> FashionClassifier:
    """Train a FashionClassifier on N×C×S×S images in [0, 1] with labels 0 … ``classes`` − 1 (default:
    up to the largest label) on ``device`` (default: the CPU):
    AdamW, one-cycle schedule, flips and shifts, bfloat16 autocast where it pays (``precision``, see
    training.precision). ``steps`` caps the total number of batches (so runs on sets of different
    sizes can get the same budget); ``on_epoch(model, epoch)`` is called after every epoch.
    ``architecture``: one of ``ARCHITECTURES``."""
    device = torch.device(device or "cpu")
    torch.manual_seed(seed)
    # channels-last: 1.1–1.2× faster steps (bench/memory_format.py)
    model = build_classifier(architecture, channels=x.shape[1], size=x.shape[-1],
                             classes=classes or int(y.max()) + 1)
    model = model.to(device=device, memory_format=torch.channels_last)
    x, y = x.to(device), y.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    per_epoch = math.ceil(len(x) / batch_size)
    total = steps if steps is not None else epochs * per_epoch
    epochs = math.ceil(total / per_epoch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=total)
    bf16, done = use_bfloat16(precision, device), 0
    for epoch in range(epochs):
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(len(x), generator=g).to(device)
        model.train()
        n = min(per_epoch, total - done)
        for step in tqdm(range(n), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, file=sys.stderr,
                         mininterval=0.5 if sys.stderr.isatty() else 15):
            idx = perm[step * batch_size:(step + 1) * batch_size]
            with D.autocast(device, bf16):
                loss = F.cross_entropy(model(augment(x[idx], g)), y[idx], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        done += n
        if on_epoch is not None:
            on_epoch(model, epoch)
    model.eval()
    return model


def judge_data(out, data_dir=None, folder: str | None = None, image_size: int | None = None,
               channels: int | None = None, skip_bad: bool = False, split_seed: int | None = None):
    """What a judge trains and is tested on: Fashion-MNIST, or a folder of your own images. A folder
    whose model is in ``out`` (trained with ``train --data`` on that folder) is read at that model's
    size and channels and split as it was, so that the judge never trains on the model's test images."""
    from .. import folder as F
    from ..model_data import ModelData, of_model
    if folder is None:
        d = fmnist.load(data_dir)
        return ModelData(d.train_images, d.train_labels, d.test_images, d.test_labels, fmnist.CATEGORIES,
                         d.checksum, None)
    model_json = Path(out) / "model.json"
    meta = _json_or_none(model_json)
    trained_on = ((meta or {}).get("training") or {}).get("data")
    if trained_on and Path(trained_on).resolve() == Path(folder).resolve():
        given = {"--image-size": image_size, "--channels": channels, "--split-seed": split_seed}
        dataset = meta.get("dataset") or {}
        recorded = {"--image-size": dataset.get("image_size"), "--channels": dataset.get("channels"),
                    "--split-seed": meta["training"].get("split_seed", 0)}
        clash = [f"{flag} {value}" for flag, value in given.items() if value not in (None, recorded[flag])]
        if clash:
            trained = ", ".join(f"{flag} {recorded[flag]}" for flag in given)
            raise F.FolderError(f"{', '.join(clash)}: the model in {out} was trained with {trained}; "
                                "its judge must match")
        return of_model(meta)
    s = F.load(folder, image_size, skip_bad=skip_bad, seed=split_seed or 0)
    if not s.categories:
        raise F.FolderError(f"{folder}: no category folders; a judge needs labelled images "
                            "(DIR/<category>/<image>)")
    pixels = F.as_channels(s.images, channels or s.channels)
    return ModelData(pixels[~s.is_test], s.labels[~s.is_test], pixels[s.is_test], s.labels[s.is_test],
                     s.categories, s.checksum, str(Path(folder).resolve()))


def _json_or_none(path: Path):
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None


def _tensor(images: np.ndarray) -> torch.Tensor:
    from .. import folder as F
    return F.to_tensor(images)


def train_classifier(out, epochs: int = 10, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                     limit: int | None = None, eval_limit: int | None = None, data_dir=None,
                     threads: int | None = None, command: str = "", progress: bool = True,
                     precision: str = "auto", device: str = "auto", folder: str | None = None,
                     image_size: int | None = None, channels: int | None = None, skip_bad: bool = False,
                     split_seed: int | None = None, architecture: str = "conv3") -> dict:
    """Train the judge on the training images (Fashion-MNIST's, or ``folder``'s: ``judge_data``) and
    write it after every epoch with its test accuracy."""
    torch.set_num_threads(threads or torch.get_num_threads())
    device = D.resolve(device)
    data = judge_data(out, data_dir, folder, image_size, channels, skip_bad, split_seed)
    x, y = _tensor(data.train_images[:limit]), torch.from_numpy(data.train_labels[:limit])
    xt = _tensor(data.test_images[:eval_limit])
    yt = torch.from_numpy(data.test_labels[:eval_limit])
    history, t0 = [], time.perf_counter()
    # what a folder's judge records of its images; a Fashion-MNIST judge records what it did before
    dataset = {} if data.folder is None else {
        "data": data.folder, "categories": list(data.categories), "image_size": int(x.shape[-1]),
        "channels": int(x.shape[1])}

    def checkpoint(model, epoch):
        acc = accuracy(model, xt, yt)
        seconds = round(time.perf_counter() - t0, 1)
        history.append({"epoch": epoch + 1, "test_accuracy": acc, "seconds": seconds})
        save_weights_and_config(model, Path(out) / WEIGHTS_FILE, Path(out) / CONFIG_FILE, {
            "format": "fashion-mnist-classifier", "architecture": architecture,
            "feature_dim": feature_dim(model), "epoch": epoch + 1,
            "test_accuracy": acc, "history": history, "dataset_checksum": data.checksum, "command": command,
            "test_images": len(xt), **dataset,
            "training": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "limit": limit,
                         "bfloat16": use_bfloat16(precision, device), "device": D.describe(device)}})
        print(f"epoch {epoch + 1}: test accuracy {acc:.4f} ({history[-1]['seconds']:.0f} s)", flush=True)
        model.train()

    fit_classifier(x, y, epochs, batch_size, lr, seed, progress=progress, on_epoch=checkpoint,
                   precision=precision, device=device, classes=len(data.categories),
                   architecture=architecture)
    return history[-1]


def classifier_dir_for(checkpoint, given=None, meta: dict | None = None) -> Path:
    """Where a model's judge lives: ``given``, else the model directory's own, else, for a
    Fashion-MNIST model (``meta``: its model.json), the shipped one. A folder model has no shipped
    judge: ``classifier --data`` trains one into its directory."""
    if given:
        return Path(given)
    checkpoint = Path(checkpoint)
    own = (checkpoint / CONFIG_FILE).is_file()
    return checkpoint if own or _folder_of(meta) else REPO_ASSETS


def _folder_of(meta: dict | None) -> str | None:
    return ((meta or {}).get("training") or {}).get("data")


def judge_mismatch(judge: FashionClassifier, meta: dict) -> str | None:
    """Why ``judge`` cannot judge the model whose model.json is ``meta`` (other categories, size or
    channels), or None when it can."""
    from ..model_data import category_names
    dataset = meta.get("dataset") or {}
    want = (category_names(meta), dataset.get("image_size", 28), dataset.get("channels", 1))
    have = (tuple(judge.info.get("categories") or fmnist.CATEGORIES), judge.size, judge.channels)
    if want == have:
        return None
    what = "categories" if want[0] != have[0] else "image size or channels"
    return (f"judges {len(have[0])} categories at {have[1]}×{have[1]}×{have[2]}, the model has "
            f"{len(want[0])} at {want[1]}×{want[1]}×{want[2]} (its {what} differ)")


def load_judge(checkpoint, meta: dict, given=None, device=None) -> FashionClassifier:
    """The classifier that judges the model in ``checkpoint`` (``classifier_dir_for``), checked to
    judge the model's categories at its size; a one-line ModelLoadError saying how to make one."""
    directory = classifier_dir_for(checkpoint, given, meta)
    folder = _folder_of(meta)
    make = (f"`python -m training classifier --data {folder} --out {checkpoint}`" if folder
            else f"`python -m training classifier --out {directory}`")
    if not (directory / CONFIG_FILE).is_file():
        raise ModelLoadError(f"{directory}: no classifier to judge this model; train one with {make}")
    judge = load_classifier(directory, device)
    problem = judge_mismatch(judge, meta)
    if problem:
        raise ModelLoadError(f"{directory / CONFIG_FILE}: {problem}; train its judge with {make}")
    judge.directory = directory
    return judge


def load_classifier(directory: str | os.PathLike, device=None) -> FashionClassifier:
    """Load ``classifier.safetensors`` + ``classifier.json`` from a directory, checked, no pickle,
    onto ``device`` (default: the CPU)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors
    directory = Path(directory)
    cfg, weights = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not cfg.is_file() or not weights.is_file():
        raise ModelLoadError(f"{directory}: no classifier (expected {WEIGHTS_FILE} and {CONFIG_FILE}); "
                             f"train one with `python -m training classifier --out {directory}`")
    try:
        meta = json.loads(cfg.read_text())
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{cfg}: not valid JSON ({e})") from None
    payload = weights.read_bytes()
    meta = matching_config(cfg, payload, meta) if "weights_sha256" in meta else None
    if meta is None:
        raise ModelLoadError(f"{weights}: does not match the weights_sha256 in {CONFIG_FILE}")
    try:
        model = build_classifier(meta.get("architecture", "conv3"), channels=meta.get("channels", 1),
                                 size=meta.get("image_size", 28),
                                 classes=len(meta.get("categories") or fmnist.CATEGORIES))
    except ValueError as e:
        raise ModelLoadError(f"{cfg}: {e}") from None
    try:
        model.load_state_dict(load_safetensors(payload))
    except (SafetensorError, RuntimeError) as e:
        raise ModelLoadError(f"{weights}: not a valid classifier ({str(e).splitlines()[0][:160]})") from None
    model.eval().to(device=device, memory_format=torch.channels_last)  # faster convolutions, same outputs
    model.info = meta
    return model
