"""Loss terms against closed forms and torch.distributions."""
import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from training.losses import (
    LIKELIHOODS,
    PAPER_SIGMA,
    bernoulli_nll,
    gaussian_nll,
    kl_standard_normal,
    optimal_log_sigma,
    vae_loss,
)


def _batch(seed=0, n=8, k=16):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    logits = torch.randn(n, 1, 28, 28, generator=g)
    mu, logvar = torch.randn(n, k, generator=g), torch.randn(n, k, generator=g)
    return x, logits, mu, logvar


def test_kl_matches_torch_distributions():
    _, _, mu, logvar = _batch()
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)),
                             Normal(torch.zeros_like(mu), torch.ones_like(mu)))
    torch.testing.assert_close(kl_standard_normal(mu, logvar), expected, rtol=1e-5, atol=1e-6)


def test_kl_is_zero_at_the_prior():
    assert kl_standard_normal(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max() == 0


def test_gaussian_nll_matches_normal_log_prob():
    x, logits, _, _ = _batch()
    mean = torch.sigmoid(logits)
    expected = -Normal(mean, 0.3).log_prob(x)
    torch.testing.assert_close(gaussian_nll(x, mean, math.log(0.3)), expected, rtol=1e-5, atol=1e-5)


def test_paper_sigma_is_squared_error_plus_constant():
    x, logits, mu, logvar = _batch()
    t = vae_loss(x, logits, mu, logvar, "gaussian")
    sq = (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1).mean()
    const = 784 * (math.log(PAPER_SIGMA) + 0.5 * math.log(2 * math.pi))
    torch.testing.assert_close(t.recon_nll, sq + const)


def test_bernoulli_nll_matches_distribution_on_binary_data():
    _, logits, _, _ = _batch()
    x = (torch.rand(logits.shape) > 0.5).float()
    torch.testing.assert_close(bernoulli_nll(x, logits), -Bernoulli(logits=logits).log_prob(x))


def test_learned_sigma_is_the_batch_optimum():
    x, logits, mu, logvar = _batch()
    mean = torch.sigmoid(logits)
    best = optimal_log_sigma(x, mean)
    torch.testing.assert_close(torch.exp(2 * best), (x - mean).pow(2).mean())

    def at(s):
        return gaussian_nll(x, mean, s).sum()

    assert at(best) < at(best + 0.05) and at(best) < at(best - 0.05)


@pytest.mark.parametrize("likelihood", ["gaussian", "gaussian-learned", "bernoulli"])
def test_elbo_is_per_image_and_beta_weights_kl(likelihood):
    x, logits, mu, logvar = _batch()
    t1 = vae_loss(x, logits, mu, logvar, likelihood, beta=1.0)
    t4 = vae_loss(x, logits, mu, logvar, likelihood, beta=4.0)
    per_image_kl = kl_standard_normal(mu, logvar).sum(1).mean()
    torch.testing.assert_close(t1.kl, per_image_kl)
    torch.testing.assert_close(t1.loss, t1.recon_nll + t1.kl)
    torch.testing.assert_close(t4.loss, t4.recon_nll + 4 * t4.kl)
    torch.testing.assert_close(t1.neg_elbo, t4.neg_elbo)  # the ELBO itself has β = 1
    # averaged over the batch: duplicating the batch changes nothing
    t2 = vae_loss(torch.cat([x, x]), torch.cat([logits, logits]), torch.cat([mu, mu]),
                  torch.cat([logvar, logvar]), likelihood)
    torch.testing.assert_close(t2.neg_elbo, t1.neg_elbo)



def test_seed_code_loss_reproduces_published_formula():
    x, logits, mu, logvar = _batch(n=4, k=128)
    t = vae_loss(x, logits, mu, logvar, "seed-code")
    sq_sum = ((torch.sigmoid(logits) - x) ** 2).sum()
    kl_mean = (0.5 * (logvar.exp() + mu ** 2 - 1 - logvar)).mean()
    torch.testing.assert_close(t.loss, sq_sum + 10 * kl_mean)
    assert set(LIKELIHOODS) == {"gaussian", "gaussian-learned", "bernoulli", "seed-code"}


def test_unknown_likelihood_is_rejected():
    x, logits, mu, logvar = _batch()
    with pytest.raises(ValueError, match="unknown likelihood"):
        vae_loss(x, logits, mu, logvar, "laplace")
