"""A trained model run over many images or latents, in batches on the model's device: one way to
encode a set of images and one way to decode latents, for every command, the evaluation and the app.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from . import data as fmnist
from . import device as D


class Posteriors(NamedTuple):
    """q(z|x) of N images, on the CPU: μ and log σ² (N×k float32) and, where asked for, each image's
    reconstruction MSE from μ (N float32)."""
    mu: np.ndarray
    logvar: np.ndarray
    recon_mse: np.ndarray | None


@torch.no_grad()
def encode_all(model, images, batch_size: int = 1000, errors: bool = True) -> Posteriors:
    """μ, log σ² and (``errors``) the reconstruction MSE from μ of every image, computed in float32 on
    the model's device. ``images``: the dataset's uint8 N×28×28, or a float tensor N×1×28×28 in [0, 1]."""
    device = D.of(model)
    mus, logvars, mses = [], [], []
    for i in range(0, len(images), batch_size):
        batch = images[i:i + batch_size]
        x = (batch if torch.is_tensor(batch) else fmnist.to_tensor(batch)).to(device)
        mu, logvar = model.encode(x)
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
        if errors:
            mses.append((model.decode(mu) - x).pow(2).flatten(1).mean(1).cpu())
    return Posteriors(torch.cat(mus).numpy(), torch.cat(logvars).numpy(),
                      torch.cat(mses).numpy() if errors else None)


@torch.no_grad()
def decode_batched(model, z, batch_size: int = 1000) -> torch.Tensor:
    """Decode latents (one k-vector or N×k, numpy or tensor) in batches on the model's device:
    N×1×28×28 float32 in [0, 1], on the CPU."""
    zt = torch.as_tensor(np.atleast_2d(np.asarray(z, np.float32)))
    device = D.of(model)
    parts = [model.decode(zt[i:i + batch_size].to(device)).cpu() for i in range(0, len(zt), batch_size)]
    if len(parts) == 1:
        return parts[0]
    return torch.cat(parts) if parts else torch.zeros((0, 1, 28, 28))


def decode_pixels(model, z) -> np.ndarray:
    """Latents (one k-vector or N×k) → images N×28×28 float32 in [0, 1]: what the commands write and
    the app shows."""
    return decode_batched(model, z).squeeze(1).numpy()
