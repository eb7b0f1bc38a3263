"""Importance-weighted bounds on −log p(x) (Burda et al. 2016), under a model's own likelihood and
under one common likelihood that every model can be compared by: a Gaussian with one σ fitted on the
training images, the data uniformly dequantised to 8 bits. The maths is in ``metrics.py``; this
module feeds it the model, on the model's device (the random draws stay on the CPU, as everywhere)."""
from __future__ import annotations

import sys

import numpy as np
import torch
from tqdm import tqdm

from .. import device as D
from ..data import channels_first
from ..losses import reconstruction_nll
from ..model import VAE
from . import metrics as M


@torch.no_grad()
def fit_common_sigma(model: VAE, pixels: np.ndarray, g: torch.Generator, batch_size: int = 1000) -> float:
    """log σ of the common Gaussian likelihood: the σ that maximises the expected log-likelihood of the
    dequantised training images given one z ~ q(z|x) each (σ² = mean squared residual)."""
    total, count, device = 0.0, 0, D.of(model)
    for i in range(0, len(pixels), batch_size):
        x = M.dequantise(channels_first(torch.from_numpy(np.array(pixels[i:i + batch_size]))), g).to(device)
        mu, logvar = model.encode(x)
        mean = model.decode(VAE.reparameterize(mu, logvar, g))
        total += float((x - mean).pow(2).sum())
        count += x.numel()
    return M.fitted_log_sigma(total, count)


@torch.no_grad()
def log_weights(model: VAE, raw: torch.Tensor, likelihood: str, own_log_sigma, common_log_sigma: float,
                k: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """N×K importance log weights log p(x, z_k) − log q(z_k|x), z_k ~ q(z|x), for N×C×S×S uint8
    images: under the model's own likelihood (x = pixels/255, as trained) and under the common
    Gaussian likelihood (dequantised x), from the same z samples."""
    device = D.of(model)
    x, x_deq = (raw.float() / 255).to(device), M.dequantise(raw, g).to(device)
    b = len(x)
    mu, logvar = model.encode(x)
    eps = torch.randn((b, k, mu.shape[1]), generator=g).to(device)
    z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps
    log_prior_minus_q = M.log_standard_normal(z) - M.log_normal_diag(z, mu[:, None], logvar[:, None])
    logits = model.decode_logits(z.reshape(b * k, -1))
    nll_own, _ = reconstruction_nll(x.repeat_interleave(k, 0), logits, likelihood, own_log_sigma)
    nll_common = M.gaussian_nll_sum(x_deq.repeat_interleave(k, 0), torch.sigmoid(logits), common_log_sigma)
    return log_prior_minus_q - nll_own.reshape(b, k), log_prior_minus_q - nll_common.reshape(b, k)


def importance_weighted(model: VAE, pixels: np.ndarray, likelihood: str, own_log_sigma,
                        common_log_sigma: float,
                        k: int, g: torch.Generator, progress: bool = True, decodes_per_batch: int = 8000):
    """Per image: the K-sample IWAE bound under the model's own likelihood and under the common one,
    and the one-sample ELBO (the first sample's own log weight)."""
    per = max(1, decodes_per_batch // k)
    own, common, elbo = [], [], []
    for i in tqdm(range(0, len(pixels), per), desc=f"IWAE K={k}", disable=not progress, file=sys.stderr,
                  mininterval=0.5 if sys.stderr.isatty() else 30):
        raw = channels_first(torch.from_numpy(np.array(pixels[i:i + per])))
        lw_own, lw_common = log_weights(model, raw, likelihood, own_log_sigma, common_log_sigma, k, g)
        own.append(M.iwae_bound(lw_own).cpu())
        common.append(M.iwae_bound(lw_common).cpu())
        elbo.append(lw_own[:, 0].cpu())
    return torch.cat(own).numpy(), torch.cat(common).numpy(), torch.cat(elbo).numpy()
