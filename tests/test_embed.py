"""embed on a small subset writes consistent arrays."""
import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from training import VAE, load_model
from training.embed import category_statistics

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


def test_unknown_map_is_rejected(embedded):
    r = run_cli("embed", "--checkpoint", embedded / "model", "--out", embedded / "x", "--maps", "isomap")
    assert r.returncode == 1 and "unknown map(s) isomap" in r.stderr


def test_split_all_maps_test_and_training_images(embedded, dataset):
    r = run_cli("embed", "--checkpoint", embedded / "model", "--out", embedded / "all", "--limit", 150,
                "--split", "all", "--maps", "pca", "--threads", "1")
    assert r.returncode == 0, r.stderr
    e = np.load(embedded / "all" / "embeddings_all.npz")
    assert e["mu"].shape == (300, 128) and e["map_pca"].shape == (300, 2)
    assert e["split"].tolist() == [0] * 150 + [1] * 150
    assert e["labels"][150:].tolist() == dataset.train_labels[:150].tolist()
    assert json.loads((embedded / "all" / "embeddings_all.json").read_text())["split"] == "all"
