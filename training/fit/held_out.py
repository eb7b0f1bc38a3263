"""The ELBO on held-out images, per image: measured after every training epoch and by ``evaluate``."""
from __future__ import annotations

import torch

from .. import device as D
from ..losses import vae_loss
from ..model import VAE
from .distributed import SINGLE, Ranks, my_share, sum_over_ranks


@torch.no_grad()
def test_metrics(model: VAE, x: torch.Tensor, likelihood: str, log_sigma: float | None,
                 seed: int = 0, batch_size: int = 1000, ranks: Ranks = SINGLE) -> dict:
    """Negative ELBO (one sample of z), reconstruction MSE from μ, and KL, per image, in float32, on
    the model's device. Under torchrun each rank measures its share of ``x`` and the sums are added."""
    model.eval()
    g = torch.Generator().manual_seed(seed + 1_000_003 * ranks.rank)
    x = x[my_share(len(x), ranks)]
    device = D.of(model)
    sums = dict(neg_elbo=0.0, recon_nll=0.0, kl=0.0, recon_mse=0.0)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        logits, mu, logvar = model(xb, generator=g)
        t = vae_loss(xb, logits, mu, logvar, likelihood, log_sigma=log_sigma)
        n = len(xb)
        sums["neg_elbo"] += t.neg_elbo.item() * n
        sums["recon_nll"] += t.recon_nll.item() * n
        sums["kl"] += t.kl.item() * n
        sums["recon_mse"] += (model.decode(mu) - xb).pow(2).mean().item() * n
    if not ranks.distributed:
        return {k: v / len(x) for k, v in sums.items()}
    total = sum_over_ranks(torch.tensor([*sums.values(), len(x)], dtype=torch.float64), ranks).tolist()
    return {k: v / total[-1] for k, v in zip(sums, total[:-1], strict=True)}
