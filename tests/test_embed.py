"""embed on a small subset writes consistent arrays."""
import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from training import VAE, load_model
from training.category_latents import category_mixtures, category_statistics, stored_category_mixtures

N = 400


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    d = tmp_path_factory.mktemp("embed")
    torch.manual_seed(0)
    VAE().save_pretrained(d / "model", {"likelihood": "bernoulli"})
    r = run_cli("embed", "--checkpoint", d / "model", "--out", d / "out", "--limit", N,
                "--maps", "pca,tsne,pixel-tsne", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "map tsne" in r.stderr  # progress output
    return d


@pytest.mark.slow
def test_arrays_are_consistent(embedded, dataset):
    e = np.load(embedded / "out" / "embeddings.npz")
    info = json.loads((embedded / "out" / "embeddings.json").read_text())
    k = 128
    assert e["mu"].shape == e["logvar"].shape == (N, k)
    assert e["labels"].tolist() == dataset.test_labels[:N].tolist()
    assert e["index"].tolist() == list(range(N)) and not e["split"].any()
    for m in ("map_pca", "map_tsne", "map_pixel_tsne"):
        assert e[m].shape == (N, 2) and np.isfinite(e[m]).all()
    assert "map_umap" not in e
    assert e["category_mean"].shape == (10, k) and e["category_cov"].shape == (10, k, k)
    assert e["category_count"].sum() == N  # statistics over the first N training images
    assert e["kl_per_dim"].shape == (k,) and (e["kl_per_dim"] >= 0).all()
    weight, means, covs = e["category_mixture_weight"], e["category_mixture_mean"], e["category_mixture_cov"]
    assert weight.shape == (10, 8) and means.shape == (10, 8, k) and covs.shape == (10, 8, k, k)
    np.testing.assert_allclose(weight.sum(1), 1, atol=1e-5)
    assert info["mixture_components"] == 8 and "mixtures_s" in info["timings"]
    # the learned prior: one component for N images of 128 dimensions (fewer than 2 × 128 per component)
    from training.latent_prior import stored_learned_prior
    prior = stored_learned_prior(embedded / "out", load_model(embedded / "model"), training_images=N)
    assert prior.weight.tolist() == [1.0] and info["learned_prior_components"] == 1
    # fitted to one z ~ q(z|x) per image: the training μ's mean, give or take the mean of N draws of
    # σε (σ ≈ 1 for untrained weights: 0.05 per dimension)
    training_mean = (e["category_count"][:, None] * e["category_mean"]).sum(0) / N
    np.testing.assert_allclose(prior.mean[0], training_mean, atol=0.25)
    assert stored_learned_prior(embedded / "out", load_model(embedded / "model"), N + 1) is None
    assert info["points"] == N and info["float16_max_pixel_change"] < 0.5 / 255
    # the stored μ are the model's, to float16 precision
    model = load_model(embedded / "model")
    x = torch.from_numpy(dataset.test_images[:5].copy()).float().div(255).unsqueeze(1)
    with torch.no_grad():
        mu, _ = model.encode(x)
    np.testing.assert_allclose(e["mu"][:5].astype(np.float32), mu.numpy(), atol=2e-3, rtol=2e-3)
    # recon_mse is the per-image squared error of the reconstruction from μ
    with torch.no_grad():
        err = (model.decode(mu) - x).pow(2).flatten(1).mean(1).numpy()
    np.testing.assert_allclose(e["recon_mse"][:5].astype(np.float32), err, rtol=2e-3)
    # beside the maps, the decoder the app's pages run in the browser, made from these weights
    from training.synthesis.decoder_onnx import weights_of
    assert info["decoder"] == "decoder.onnx" and "decoder_onnx_s" in info["timings"]
    assert weights_of(embedded / "out" / "decoder.onnx") == model.info["weights_sha256"]


@pytest.mark.slow
def test_deterministic_for_a_seed(embedded):
    r = run_cli("embed", "--checkpoint", embedded / "model", "--out", embedded / "again", "--limit", N,
                "--maps", "pca,tsne", "--threads", "1")
    assert r.returncode == 0, r.stderr
    a, b = np.load(embedded / "out" / "embeddings.npz"), np.load(embedded / "again" / "embeddings.npz")
    for key in ("mu", "map_pca", "map_tsne", "category_cov"):
        assert np.array_equal(a[key], b[key]), key


def test_category_statistics_closed_form():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(3000, 3)).astype(np.float32) * [1, 2, 3] + [5, 0, -5]
    logvar = np.full((3000, 3), np.log(0.25), np.float32)
    labels = np.zeros(3000, int)
    mean, cov, lv, count = category_statistics(mu, logvar, labels)
    np.testing.assert_allclose(mean[0], [5, 0, -5], atol=0.15)
    # Cov(μ) + E[σ²]: the aggregate posterior's covariance
    np.testing.assert_allclose(np.diag(cov[0]), [1 + .25, 4 + .25, 9 + .25], rtol=0.08)
    assert count.tolist() == [3000] + [0] * 9 and np.allclose(lv[0], np.log(0.25))


def test_category_mixtures_find_two_clusters_and_add_the_posterior_variance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3000, 2)) * [1.0, 0.5] + [6, 0]    # 3/4 of category 0
    b = rng.normal(size=(1000, 2)) * [0.5, 1.0] + [-6, 0]   # 1/4 of category 0
    mu = np.concatenate([a, b, rng.normal(size=(1, 2))]).astype(np.float32)
    logvar = np.full((len(mu), 2), np.log(0.25), np.float32)
    labels = np.array([0] * 4000 + [1])                     # category 1: one image, fewer than the components
    mix = category_mixtures(mu, logvar, labels, components=2, n_categories=3)
    order = np.argsort(-mix.weight[0])
    np.testing.assert_allclose(mix.weight[0][order], [0.75, 0.25], atol=0.01)
    np.testing.assert_allclose(mix.mean[0][order], [[6, 0], [-6, 0]], atol=0.06)
    # each component: Cov(μ) of its members + their mean σ²
    np.testing.assert_allclose(np.diag(mix.cov[0][order[0]]), [1 + .25, .25 + .25], rtol=0.08)
    np.testing.assert_allclose(np.diag(mix.cov[0][order[1]]), [.25 + .25, 1 + .25], rtol=0.1)
    assert mix.components(0).tolist() == order.tolist()
    assert (mix.weight[1] > 0).sum() == 1 and np.allclose(mix.mean[1][0], mu[-1], atol=1e-5)
    assert not mix.weight[2].any()                                      # category 2 has no images


@pytest.mark.slow
def test_stored_mixtures_are_used_only_for_the_weights_and_settings_they_were_fitted_with(embedded):
    from conftest import ROOT
    shipped = load_model(ROOT / "assets")
    mix = stored_category_mixtures(ROOT / "assets", shipped, components=8, training_images=60_000)
    with np.load(ROOT / "assets" / "embeddings.npz") as e:
        assert np.array_equal(mix.cov, e["category_mixture_cov"])
        assert np.array_equal(mix.weight, e["category_mixture_weight"])
    assert stored_category_mixtures(ROOT / "assets", shipped, components=4) is None
    assert stored_category_mixtures(ROOT / "assets", shipped, training_images=3000) is None
    assert stored_category_mixtures(ROOT / "assets",
                                    load_model(embedded / "model")) is None     # other weights
    # the small embedding was fitted to N training images
    small = load_model(embedded / "model")
    assert stored_category_mixtures(embedded / "out", small, training_images=N).weight.shape == (10, 8)
    assert stored_category_mixtures(embedded / "out", small).weight.shape == (10, 8)   # any K, any count
    assert stored_category_mixtures(embedded / "nowhere", small, training_images=N) is None


@pytest.mark.slow
def test_unknown_map_is_rejected(embedded):
    r = run_cli("embed", "--checkpoint", embedded / "model", "--out", embedded / "x", "--maps", "isomap")
    assert r.returncode == 1 and "unknown map(s) isomap" in r.stderr


@pytest.mark.slow
def test_split_all_maps_test_and_training_images(embedded, dataset):
    r = run_cli("embed", "--checkpoint", embedded / "model", "--out", embedded / "all", "--limit", 150,
                "--split", "all", "--maps", "pca", "--threads", "1")
    assert r.returncode == 0, r.stderr
    e = np.load(embedded / "all" / "embeddings_all.npz")
    assert e["mu"].shape == (300, 128) and e["map_pca"].shape == (300, 2)
    assert e["split"].tolist() == [0] * 150 + [1] * 150
    assert e["labels"][150:].tolist() == dataset.train_labels[:150].tolist()
    assert json.loads((embedded / "all" / "embeddings_all.json").read_text())["split"] == "all"


@pytest.mark.slow
def test_a_fine_tuned_decoder_borrows_its_sources_latents_and_nothing_else(tmp_path):
    from explorer.assets import load_bundle
    from training import stored_embeddings as S
    from training.fit.finetune import decoder_parameters
    from training.latent_prior import stored_learned_prior
    torch.manual_seed(0)
    src, ft = tmp_path / "src", tmp_path / "src" / "ft"
    VAE().save_pretrained(src, {"likelihood": "bernoulli"})
    assert run_cli("embed", "--checkpoint", src, "--out", src, "--limit", N, "--maps", "pca",
                   "--threads", "1").returncode == 0
    model = load_model(src)
    with torch.no_grad():   # the same encoder, another decoder: what finetune-decoder makes
        for p in decoder_parameters(model):
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(ft, {"likelihood": "bernoulli"})
    r = run_cli("embed", "--checkpoint", ft, "--out", ft, "--latents-from", src, "--threads", "1")
    assert r.returncode == 0, r.stderr
    info = json.loads((ft / "embeddings.json").read_text())
    assert info["latents_from"] == ".." and info["max_latent_difference"] <= 2e-3   # float16 μ
    with np.load(ft / "embeddings.npz") as own:
        assert own.files == ["recon_mse"]        # all it stores: its own decoder's errors
    lender, borrower = S.load(src, load_model(src)), S.load(ft, load_model(ft))
    assert set(borrower.arrays) == set(lender.arrays)
    assert np.array_equal(borrower.arrays["mu"], lender.arrays["mu"])
    assert not np.array_equal(borrower.arrays["recon_mse"], lender.arrays["recon_mse"])
    assert borrower.info["model_weights_sha256"] == load_model(ft).info["weights_sha256"]
    assert borrower.info["category_statistics_from"] == lender.info["category_statistics_from"]
    b = load_bundle(ft)   # the app opens it like any model
    assert np.array_equal(b.maps["pca"], load_bundle(src).maps["pca"])
    assert np.array_equal(b.recon_mse, borrower.arrays["recon_mse"].astype(np.float32))
    assert stored_learned_prior(ft, load_model(ft), N) is not None
    # refused: a model with another encoder, the lender's settings, a lender whose record is not its encoder's
    other = tmp_path / "other"
    VAE().save_pretrained(other, {"likelihood": "bernoulli"})
    r = run_cli("embed", "--checkpoint", other, "--out", other, "--latents-from", src)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "encoder differs" in r.stderr
    r = run_cli("embed", "--checkpoint", ft, "--out", ft, "--latents-from", src, "--maps", "pca")
    assert r.returncode == 1 and "--maps: --latents-from takes these from the lender" in r.stderr
    lender_info = json.loads((src / "embeddings.json").read_text())
    (src / "embeddings.json").write_text(json.dumps({**lender_info, "encoder_sha256": "0" * 64}))
    with pytest.raises(S.EmbeddingsError, match="made by another encoder"):
        S.load(ft, load_model(ft))
    assert S.stored(ft, load_model(ft)) is None
