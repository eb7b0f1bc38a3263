"""The per-image negative ELBO, term by term.

    -ELBO(x) = -E_q[log p(x|z)] + β · KL(q(z|x) || N(0, I))

The expectation is estimated with one reparameterised sample; both terms are summed over pixels
and latent dimensions respectively and averaged over the batch, so the number is nats per image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LIKELIHOODS = ("gaussian", "gaussian-learned", "bernoulli", "seed-code")
PAPER_SIGMA = math.sqrt(0.5)   # σ² = ½ turns the Gaussian NLL into squared error (+ a constant)
MIN_LOG_SIGMA = -6.0           # keeps the learned σ from collapsing to 0 on a perfect batch
SEED_CODE_KL_WEIGHT = 10.0
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, e^logvar) || N(0, 1)) per latent dimension: ½(e^Σ + μ² − 1 − Σ) (appendix 6.2)."""
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor | float) -> torch.Tensor:
    """−log N(x; mean, σ²) per pixel."""
    log_sigma = torch.as_tensor(log_sigma, dtype=mean.dtype, device=mean.device)
    return 0.5 * ((x - mean) * torch.exp(-log_sigma)).pow(2) + log_sigma + HALF_LOG_2PI


def bernoulli_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """−log Bernoulli(x; sigmoid(logits)) per pixel (cross-entropy, stable in logits)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def optimal_log_sigma(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """The single σ that maximises the Gaussian likelihood of a batch: σ² = MSE (Rybkin et al. 2021)."""
    return (0.5 * (x - mean).pow(2).mean().log()).clamp(min=MIN_LOG_SIGMA)


@dataclass
class LossTerms:
    loss: torch.Tensor       # what the optimiser minimises
    neg_elbo: torch.Tensor   # nats per image, β = 1, under the model's likelihood
    recon_nll: torch.Tensor  # nats per image
    kl: torch.Tensor         # nats per image
    mse: torch.Tensor        # mean squared error per pixel of the decoded mean
    log_sigma: torch.Tensor | None = None  # the Gaussian σ used, where there is one


def reconstruction_nll(x, logits, likelihood: str,
                       log_sigma=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-image reconstruction NLL (summed over pixels) and the log σ it used."""
    if likelihood == "bernoulli":
        return bernoulli_nll(x, logits).flatten(1).sum(1), None
    mean = torch.sigmoid(logits)
    if likelihood in ("gaussian", "seed-code"):
        log_sigma = torch.tensor(math.log(PAPER_SIGMA)) if log_sigma is None else torch.as_tensor(log_sigma)
    elif likelihood == "gaussian-learned":
        log_sigma = optimal_log_sigma(x, mean) if log_sigma is None else torch.as_tensor(log_sigma)
    else:
        raise ValueError(f"unknown likelihood {likelihood!r}; expected one of {', '.join(LIKELIHOODS)}")
    return gaussian_nll(x, mean, log_sigma).flatten(1).sum(1), log_sigma


def vae_loss(x, logits, mu, logvar, likelihood: str = "bernoulli", beta: float = 1.0,
             log_sigma: float | torch.Tensor | None = None) -> LossTerms:
    """All loss terms for one batch. ``log_sigma`` fixes the Gaussian σ (default: σ² = ½ for
    ``gaussian``, the batch optimum for ``gaussian-learned``). The reported −ELBO is always the
    true one (β = 1); ``beta`` weighs the KL in the optimised loss only."""
    x, logits, mu, logvar = x.float(), logits.float(), mu.float(), logvar.float()
    recon, log_sigma = reconstruction_nll(x, logits, likelihood, log_sigma)
    kl_dims = kl_standard_normal(mu, logvar)
    kl = kl_dims.sum(1)
    with torch.no_grad():
        mse = (torch.sigmoid(logits) - x).pow(2).mean()
    if likelihood == "seed-code":
        # The published objective: squared error summed over the whole batch plus 10 × the KL
        # averaged over batch *and* latent dims, i.e. a KL weight of ~10/(B·k) per image.
        loss = (torch.sigmoid(logits) - x).pow(2).sum() + SEED_CODE_KL_WEIGHT * kl_dims.mean()
    else:
        loss = (recon + beta * kl).mean()
    return LossTerms(loss=loss, neg_elbo=(recon + kl).mean(), recon_nll=recon.mean(), kl=kl.mean(),
                     mse=mse, log_sigma=log_sigma)
