"""A small CNN trained on a few labelled images, with or without extra images: the classifier of the
label-budget benchmark (``bench/augmentation.py``), the same for every way of adding data.

``train`` takes the real labelled images and, optionally, synthetic ones, and runs a fixed number of
optimiser steps whatever the data: arms of the benchmark differ only in what each batch holds.
A batch draws from real ∪ synthetic uniformly (``synthetic_share=None``, what most people do with a
file of extra images), or holds a fixed share of synthetic images. ``classic`` adds the standard
augmentation every practitioner tries first: a random horizontal flip and a shift of up to 2 pixels.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training import data as fmnist


class SmallCNN(nn.Module):
    """Two conv blocks (32, 64 channels, max-pooling) → 128 → 10: about 0.4 M parameters."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),      # 14×14
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 7×7
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(128, len(fmnist.CATEGORIES)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def flip_and_shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Each image mirrored left-right with probability ½ and shifted by up to ``max_shift`` pixels
    in each direction (zero padding): its own flip and shift per image."""
    n, side = len(x), x.shape[-1]
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (max_shift,) * 4)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=g)
    rows = (dy[:, None] + torch.arange(side))[:, :, None]
    cols = (dx[:, None] + torch.arange(side))[:, None, :]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)


def batches(n_real: int, n_synthetic: int, steps: int, batch_size: int, synthetic_share: float | None,
            g: torch.Generator):
    """For each step, the indices of its real and its synthetic images: shuffled passes over
    real ∪ synthetic (share None), or a fixed number of each, each set passed through on its own."""
    def passes(n: int, per_step: int):
        order, at = torch.randperm(n, generator=g), 0
        for _ in range(steps):
            if at + per_step > n:
                order, at = torch.randperm(n, generator=g), 0
            yield order[at:at + per_step]
            at += per_step
    if synthetic_share is None:
        for idx in passes(n_real + n_synthetic, min(batch_size, n_real + n_synthetic)):
            yield idx[idx < n_real], idx[idx >= n_real] - n_real
        return
    k = round(batch_size * synthetic_share) if n_synthetic else 0
    real = passes(n_real, min(batch_size - k, n_real))
    synthetic = passes(n_synthetic, k) if k else iter(lambda: torch.zeros(0, dtype=torch.long), None)
    yield from zip(real, synthetic, strict=False)   # both run for ``steps``


def train(x: torch.Tensor, y: torch.Tensor, steps: int, seed: int = 0, classic: bool = False,
          synthetic: tuple[torch.Tensor, torch.Tensor] | None = None, synthetic_share: float | None = None,
          batch_size: int = 64, lr: float = 2e-3) -> SmallCNN:
    """A SmallCNN trained for ``steps`` batches on N×1×28×28 images in [0, 1] (and, where given,
    synthetic images): AdamW with cosine decay, label smoothing 0.05."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = SmallCNN()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sx, sy = synthetic if synthetic is not None else (x[:0], y[:0])
    model.train()
    for step, (ri, si) in enumerate(batches(len(x), len(sx), steps, batch_size, synthetic_share, g)):
        xb, yb = torch.cat([x[ri], sx[si]]), torch.cat([y[ri], sy[si]])
        if classic:
            xb = flip_and_shift(xb, g)
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = F.cross_entropy(model(xb), yb, label_smoothing=0.05)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> float:
    correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    return correct / len(x)


def balanced_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """``size`` indices, the same number of each category (size / 10), drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    per = size // len(fmnist.CATEGORIES)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per, replace=False)
                                   for c in range(len(fmnist.CATEGORIES))]))
