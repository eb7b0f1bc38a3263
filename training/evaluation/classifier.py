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
FEATURE_DIM = 256


class FashionClassifier(nn.Module):
    """Three conv blocks (32, 64, 128 channels, batch norm, max-pooling) → 256-d features → 10."""

    def __init__(self, dropout: float = 0.3):
        super().__init__()
        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(),
                    nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]
        self.body = nn.Sequential(*block(1, 32), *block(32, 64), *block(64, 128),   # 28 → 14 → 7 → 3
                                  nn.Flatten(), nn.Dropout(dropout), nn.Linear(128 * 3 * 3, FEATURE_DIM),
                                  nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(FEATURE_DIM, len(fmnist.CATEGORIES)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """N×1×28×28 in [0, 1] → N×256, the representation the Fréchet distances use."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 2 pixels (clothes stay clothes)."""
    padded = F.pad(fmnist.random_hflip(x, g), (2, 2, 2, 2))
    dx, dy = torch.randint(0, 5, (2,), generator=g).tolist()  # one shift per batch: cheap, enough
    return padded[..., dy:dy + 28, dx:dx + 28]


@torch.no_grad()
def predict(model: FashionClassifier, images: torch.Tensor, batch_size: int = 1000):
    """Features (N×256) and class probabilities (N×10) for N×1×28×28 images in [0, 1], as numpy,
    computed on the model's device."""
    model.eval()
    device = D.of(model)
    feats, probs = [], []
    for i in range(0, len(images), batch_size):
        f = model.features(images[i:i + batch_size].to(device))
        feats.append(f.cpu())
        probs.append(torch.softmax(model.head(f), 1).cpu())
    if not feats:
        return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, len(fmnist.CATEGORIES)), np.float32)
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def probabilities(model: FashionClassifier, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N×10) for N×28×28 images in [0, 1] given as numpy (``decode_pixels``)."""
    return predict(model, torch.from_numpy(np.asarray(images, np.float32)).unsqueeze(1))[1]


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
                   precision: str = "auto", device=None) -> FashionClassifier:
    """Train a FashionClassifier on N×1×28×28 images in [0, 1] on ``device`` (default: the CPU):
    AdamW, one-cycle schedule, flips and shifts, bfloat16 autocast where it pays (``precision``, see
    training.precision). ``steps`` caps the total number of batches (so runs on sets of different
    sizes can get the same budget); ``on_epoch(model, epoch)`` is called after every epoch."""
    device = torch.device(device or "cpu")
    torch.manual_seed(seed)
    # channels-last: 1.1–1.2× faster steps (bench/memory_format.py)
    model = FashionClassifier().to(device=device, memory_format=torch.channels_last)
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


def train_classifier(out, epochs: int = 10, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                     limit: int | None = None, eval_limit: int | None = None, data_dir=None,
                     threads: int | None = None, command: str = "", progress: bool = True,
                     precision: str = "auto", device: str = "auto") -> dict:
    """Train the judge on the training images and write it after every epoch with its test accuracy."""
    torch.set_num_threads(threads or torch.get_num_threads())
    device = D.resolve(device)
    data = fmnist.load(data_dir)
    x, y = fmnist.to_tensor(data.train_images[:limit]), torch.from_numpy(data.train_labels[:limit])
    xt = fmnist.to_tensor(data.test_images[:eval_limit])
    yt = torch.from_numpy(data.test_labels[:eval_limit])
    history, t0 = [], time.perf_counter()

    def checkpoint(model, epoch):
        acc = accuracy(model, xt, yt)
        seconds = round(time.perf_counter() - t0, 1)
        history.append({"epoch": epoch + 1, "test_accuracy": acc, "seconds": seconds})
        save_weights_and_config(model, Path(out) / WEIGHTS_FILE, Path(out) / CONFIG_FILE, {
            "format": "fashion-mnist-classifier", "feature_dim": FEATURE_DIM, "epoch": epoch + 1,
            "test_accuracy": acc, "history": history, "dataset_checksum": data.checksum, "command": command,
            "test_images": len(xt),
            "training": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "limit": limit,
                         "bfloat16": use_bfloat16(precision, device), "device": D.describe(device)}})
        print(f"epoch {epoch + 1}: test accuracy {acc:.4f} ({history[-1]['seconds']:.0f} s)", flush=True)
        model.train()

    fit_classifier(x, y, epochs, batch_size, lr, seed, progress=progress, on_epoch=checkpoint,
                   precision=precision, device=device)
    return history[-1]


def classifier_dir_for(checkpoint, given=None) -> Path:
    """Where a model's judge lives: ``given``, else the model directory's own, else the shipped one."""
    if given:
        return Path(given)
    checkpoint = Path(checkpoint)
    return checkpoint if (checkpoint / CONFIG_FILE).is_file() else REPO_ASSETS


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
    model = FashionClassifier()
    try:
        model.load_state_dict(load_safetensors(payload))
    except (SafetensorError, RuntimeError) as e:
        raise ModelLoadError(f"{weights}: not a valid classifier ({str(e).splitlines()[0][:160]})") from None
    model.eval().to(device=device, memory_format=torch.channels_last)  # faster convolutions, same outputs
    model.info = meta
    return model
