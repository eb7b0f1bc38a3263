"""A trained model run over many images or latents, in batches on the model's device: one way to
encode a set of images and one way to decode latents, for every command, the evaluation and the app.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from . import device as D
from .folder import to_tensor


class Posteriors(NamedTuple):
    """q(z|x) of N images, on the CPU: μ and log σ² (N×k float32) and, where asked for, each image's
    reconstruction MSE from μ (N float32)."""
    mu: np.ndarray
    logvar: np.ndarray
    recon_mse: np.ndarray | None


@torch.no_grad()
def encode_all(model, images, batch_size: int = 1000, errors: bool = True) -> Posteriors:
    """μ, log σ² and (``errors``) the reconstruction MSE from μ of every image, computed in float32 on
    the model's device. ``images``: uint8 N×S×S or N×S×S×3 (Fashion-MNIST's, a folder's), or a float
    tensor N×C×S×S in [0, 1]."""
    device = D.of(model)
    mus, logvars, mses = [], [], []
    for i in range(0, len(images), batch_size):
        batch = images[i:i + batch_size]
        x = (batch if torch.is_tensor(batch) else to_tensor(batch)).to(device)
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
    N×C×S×S float32 in [0, 1] (Fashion-MNIST: N×1×28×28), on the CPU."""
    zt = torch.as_tensor(np.atleast_2d(np.asarray(z, np.float32)))
    device = D.of(model)
    parts = [model.decode(zt[i:i + batch_size].to(device)).cpu() for i in range(0, len(zt), batch_size)]
    if len(parts) == 1:
        return parts[0]
    side = model.config.image_size
    return torch.cat(parts) if parts else torch.zeros((0, model.config.channels, side, side))


def decode_pixels(model, z) -> np.ndarray:
    """Latents (one k-vector or N×k) → images float32 in [0, 1], N×S×S (grey; Fashion-MNIST's N×28×28)
    or N×S×S×3 (colour): what the commands write and the app shows."""
    x = decode_batched(model, z)
    return x[:, 0].numpy() if x.shape[1] == 1 else x.permute(0, 2, 3, 1).numpy()
