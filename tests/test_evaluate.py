"""The evaluation: every metric on a small case with a known answer, and `evaluate --quick` on the
shipped model writing every key."""
import json
import math

import numpy as np
import pytest
import torch

from conftest import ROOT, run_cli
from training import load_model
from training.data import load
from training.evaluation import metrics as M
from training.evaluation.evaluate import map_quality
from training.evaluation.iwae import log_weights
from training.evaluation.judging import AGREEMENT_NOISE_SCALES
from training.evaluation.settings import QUICK
from training.evaluation.trials import stratified_subset
from training.model import VAE, VAEConfig
from training.precision import cpu_has_amx
from training.sampling import DEFAULT_NOISE, sample_categories

ASSETS = ROOT / "assets"


# --- Fréchet distance ----------------------------------------------------------------------------

def test_frechet_distance_of_a_set_to_itself_is_zero_and_to_a_shifted_copy_is_the_shift_squared():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2000, 16)) @ rng.standard_normal((16, 16))
    assert M.frechet_distance_of(a, a) == pytest.approx(0, abs=1e-6)
    shift = rng.standard_normal(16)
    assert M.frechet_distance_of(a, a + shift) == pytest.approx(float(shift @ shift), rel=1e-6)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    # tr(C1 + C2 − 2(C1 C2)^½) = Σ (√c1 − √c2)² when both are diagonal.
    c1, c2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    m1, m2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    expected = 5.0 + np.sum((np.sqrt(c1) - np.sqrt(c2)) ** 2)
    assert M.frechet_distance(m1, np.diag(c1), m2, np.diag(c2)) == pytest.approx(expected, rel=1e-9)
    # and it is symmetric for full covariances
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    C1, C2 = A @ A.T, B @ B.T
    assert M.frechet_distance(m1[:1].repeat(4), C1, np.ones(4), C2) == pytest.approx(
        M.frechet_distance(np.ones(4), C2, m1[:1].repeat(4), C1), rel=1e-7)


# --- latent space ---------------------------------------------------------------------------------

def test_active_units_of_a_model_whose_mean_ignores_the_input_is_zero(dataset):
    torch.manual_seed(0)
    model = VAE(VAEConfig()).eval()
    mu_layer = model.to_mu
    with torch.no_grad():
        mu_layer.weight.zero_()
        mu_layer.bias.normal_()          # a constant, non-zero mean
        x = torch.from_numpy(dataset.test_images[:200].copy()).float().unsqueeze(1) / 255
        mu, _ = model.encode(x)
    count, var = M.active_units(mu.numpy())
    assert count == 0 and var.max() < 1e-10
    # …and dims that do vary by more than 0.01 are counted
    varied = np.random.default_rng(0).standard_normal((500, 4)) * np.array([1.0, 0.5, 0.05, 0.0])
    assert M.active_units(varied)[0] == 2


def test_kl_per_dimension_closed_form():
    mu = np.array([[1.0, 0.0], [1.0, 0.0]])
    logvar = np.array([[0.0, math.log(4.0)], [0.0, math.log(4.0)]])
    # ½(σ² + μ² − 1 − log σ²): dim 0 → ½, dim 1 → ½(4 − 1 − log 4)
    assert np.allclose(M.kl_per_dimension(mu, logvar), [0.5, 0.5 * (3 - math.log(4))])


# --- likelihood bounds ----------------------------------------------------------------------------

def test_log_mean_exp_and_iwae_with_one_sample_is_the_log_weight():
    a = torch.tensor([[0.0, math.log(3.0)], [1000.0, 1000.0]])
    assert torch.allclose(M.log_mean_exp(a), torch.tensor([math.log(2.0), 1000.0]))
    lw = torch.randn(7, 1)
    assert torch.equal(M.iwae_bound(lw), lw[:, 0])


@pytest.fixture(scope="module")
def shipped():
    return load_model(ASSETS)


@pytest.fixture(scope="module")
def weights(shipped, dataset):
    """2000 importance log weights for each of 8 test images under the shipped model."""
    raw = torch.from_numpy(dataset.test_images[:8].copy()).unsqueeze(1)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        mu, logvar = shipped.encode(raw.float() / 255)
    own, common = log_weights(shipped, raw, shipped.info["likelihood"], shipped.info["log_sigma"],
                              math.log(0.1), 2000, g)
    return own.double(), common.double(), mu.double(), logvar.double()


@pytest.mark.slow
def test_one_sample_iwae_is_the_elbo_in_expectation(weights, shipped, dataset):
    own, _, mu, logvar = weights
    # E_q[log p(x|z)] − KL: the Monte Carlo mean of the K = 1 bounds, against the ELBO computed
    # with the closed-form KL and the same reconstruction samples, within 4 standard errors.
    k1 = own.mean(1)
    se = own.std(1) / math.sqrt(own.shape[1])
    x = torch.from_numpy(dataset.test_images[:8].copy()).float().unsqueeze(1) / 255
    g = torch.Generator().manual_seed(1)
    from training.losses import reconstruction_nll
    with torch.no_grad():
        eps = torch.randn((8, 2000, mu.shape[1]), generator=g)
        z = mu.float()[:, None] + torch.exp(0.5 * logvar.float())[:, None] * eps
        nll, _ = reconstruction_nll(x.repeat_interleave(2000, 0),
                                    shipped.decode_logits(z.reshape(-1, mu.shape[1])),
                                    "gaussian", shipped.info["log_sigma"])
    kl = 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(1)
    elbo = -nll.double().reshape(8, 2000).mean(1) - kl
    assert torch.all((k1 - elbo).abs() < 4 * se + 0.5), (k1, elbo, se)


@pytest.mark.slow
def test_more_importance_samples_never_lower_the_bound_on_average(weights):
    own, common, _, _ = weights
    for lw in (own, common):
        means = [M.log_mean_exp(lw.reshape(8, -1, k), dim=-1).mean().item() for k in (1, 10, 100, 1000)]
        assert all(b >= a - 1e-6 for a, b in zip(means, means[1:], strict=False)), means
        assert means[-1] > means[0]  # and with a real posterior gap it strictly helps


def test_dequantisation_stays_in_the_grey_level_bin():
    v = torch.arange(256, dtype=torch.uint8).repeat(200)
    x = M.dequantise(v, torch.Generator().manual_seed(0))
    assert torch.all(x >= v.float() / 256) and torch.all(x < (v.float() + 1) / 256)
    assert abs((x * 256 - v.float()).mean().item() - 0.5) < 0.01


def test_discrete_likelihood_and_bits_per_dim_closed_form():
    # A uniform density on [0, 1]^784 (NLL 0 nats) gives each 8-bit image probability 256^-784: 8 bits/dim.
    nll = M.discrete_nll_nats(0.0, 784)
    assert nll == pytest.approx(784 * math.log(256))
    assert M.bits_per_dim(nll, 784) == pytest.approx(8.0)


def test_fitted_sigma_and_psnr_closed_forms():
    residuals = np.random.default_rng(0).normal(0, 0.2, 200_000)
    log_sigma = M.fitted_log_sigma(float((residuals ** 2).sum()), residuals.size)
    assert math.exp(log_sigma) == pytest.approx(0.2, rel=0.01)
    assert M.psnr_db(0.01) == pytest.approx(20.0)
    assert M.psnr_db(1e-4) == pytest.approx(40.0)


def test_gaussian_nll_sum_closed_form():
    x = torch.zeros(2, 1, 2, 2)
    mean = torch.full_like(x, 0.1)
    # per pixel ½(0.1/σ)² + log σ + ½ log 2π with σ = 0.1 → ½ + log 0.1 + ½ log 2π, × 4 pixels
    expected = 4 * (0.5 + math.log(0.1) + 0.5 * math.log(2 * math.pi))
    assert torch.allclose(M.gaussian_nll_sum(x, mean, math.log(0.1)), torch.full((2,), expected))


# --- probes and maps -------------------------------------------------------------------------------

@pytest.mark.slow
def test_linear_probe_agrees_with_scikit_learn(dataset):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def flat(a):
        return a.reshape(len(a), -1).astype(np.float32) / 255

    x, y = flat(dataset.train_images[:1500]), dataset.train_labels[:1500]
    xt, yt = flat(dataset.test_images[:1000]), dataset.test_labels[:1000]
    ours = M.linear_probe(x, y, xt, yt)
    theirs = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x, y).score(xt, yt)
    assert abs(ours - theirs) <= 0.01 and ours > 0.7


def test_knn_accuracies_on_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 20
    labels = np.repeat(np.arange(3), 30)
    x = centres[labels] + rng.standard_normal((90, 3))
    assert M.leave_one_out_knn_accuracy(x, labels) == 1.0
    assert M.knn_accuracy(x, labels, x + 0.1, labels) == 1.0
    # a single point of category 1 inside category 0's cluster is outvoted by its neighbours
    labels_noisy = labels.copy()
    labels_noisy[0] = 1
    assert M.leave_one_out_knn_accuracy(x, labels_noisy) == pytest.approx(89 / 90)


def test_agreement_overall_and_per_category():
    overall, per = M.agreement(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), n_categories=4)
    assert overall == 0.75 and per[:3] == [1.0, 0.5, 1.0] and math.isnan(per[3])


def test_most_common_misreading_per_category():
    predicted, intended = np.array([0, 2, 2, 3, 1, 1, 1, 0]), np.array([0, 0, 0, 0, 1, 1, 1, 2])
    assert M.most_common_misreading(predicted, intended, n_categories=4) == [(2, 0.5), None, (0, 1.0), None]
    # a tie goes to the lower category
    assert M.most_common_misreading(np.array([3, 2]), np.array([0, 0]), n_categories=4)[0] == (2, 0.5)


def test_map_quality_of_a_map_that_is_the_space_itself(tmp_path):
    rng = np.random.default_rng(0)
    mu = rng.standard_normal((300, 2)).astype(np.float32)
    labels = (mu[:, 0] > 0).astype(np.int64)
    arrays = {"map_pca": mu.astype(np.float16), "map_tsne": rng.standard_normal((300, 2))}
    q = map_quality(arrays, "embeddings.npz", mu, np.zeros((300, 4), np.float32), labels, QUICK)
    assert q["pca"]["trustworthiness"] > 0.99
    assert q["tsne"]["trustworthiness"] < 0.7   # a random map keeps few neighbourhoods
    assert q["pca"]["knn_acc"] == pytest.approx(q["latent_knn_acc"], abs=0.02)


def test_stratified_subset_and_category_sampling(dataset):
    idx = stratified_subset(dataset.train_labels, 60, seed=3)
    assert len(idx) == 600 and len(set(idx.tolist())) == 600
    assert np.all(np.bincount(dataset.train_labels[idx], minlength=10) == 60)
    assert np.array_equal(idx, stratified_subset(dataset.train_labels, 60, seed=3))
    means = np.arange(30, dtype=float).reshape(3, 10)
    z, y = sample_categories(means, None, [2, 0, 5], 0.0, seed=1)
    assert z.shape == (7, 10) and y.tolist() == [0, 0, 2, 2, 2, 2, 2]
    assert np.allclose(z, means[y])  # noise 0 gives the means
    z1, _ = sample_categories(means, None, [2, 0, 5], 1.0, seed=1)
    z2, _ = sample_categories(means, None, [9, 3, 5], 1.0, seed=1)
    assert np.array_equal(z1[2:], z2[12:])  # a category's samples do not depend on the others' counts


# --- the command --------------------------------------------------------------------------------

EXPECTED_KEYS = {
    "neg_elbo_nats", "recon_nll_nats", "kl_nats", "iwae_nats", "iwae_k", "iwae_subset", "nll_common_nats",
    "bits_per_dim", "recon_mse", "recon_psnr_db", "active_units", "kl_per_dim", "linear_probe_acc", "knn_acc",
    "raw_pixel_linear_probe_acc", "raw_pixel_knn_acc", "category_agreement",
    "category_agreement_per_category",
    "category_misread_as", "category_agreement_by_noise", "category_mean_judge_prob",
    "fid_classifier_prior", "fid_classifier_category", "cas_acc", "cas_real_acc", "augmentation",
    "map_trustworthiness", "seconds", "category_agreement_mixture", "category_agreement_mixture_per_category",
    "fid_classifier_mixture", "cas_acc_mixture", "mixture_sampler", "mixture_clusters"}


@pytest.fixture(scope="module")
def quick_evaluated(tmp_path_factory, data_dir):
    """A copy of the shipped model directory, evaluated with --quick into its own metrics.json."""
    import shutil
    d = tmp_path_factory.mktemp("shipped")
    for name in ("model.safetensors", "model.json", "embeddings.npz", "embeddings.json"):
        shutil.copy(ASSETS / name, d / name)
    r = run_cli("evaluate", "--checkpoint", d, "--quick", "--quiet", "--data-dir", data_dir,
                "--reference-cache", d / "references.json")
    assert r.returncode == 0, r.stderr
    return d


@pytest.mark.slow
def test_evaluate_quick_on_the_shipped_model_writes_every_key(quick_evaluated, data_dir):
    m = json.loads((quick_evaluated / "metrics.json").read_text())
    assert EXPECTED_KEYS <= set(m), EXPECTED_KEYS - set(m)
    assert m["quick"] is True and m["iwae_k"] == QUICK.iwae_k and len(m["kl_per_dim"]) == 128
    assert m["iwae_nats"] <= m["iwae_subset_neg_elbo_nats"] + 1e-3   # the IWAE bound is tighter
    assert m["nll_common_nats"] > 0 and 0 < m["bits_per_dim"] < 8
    assert 0 <= m["active_units"] <= 128 and abs(sum(m["kl_per_dim"]) - m["kl_nats"]) < 2.0
    for key in ("linear_probe_acc", "knn_acc", "category_agreement", "cas_acc", "cas_real_acc"):
        assert 0.0 <= m[key] <= 1.0
    assert m["cas_epochs"] == QUICK.cas_epochs and m["cas_images"] == 10 * QUICK.cas_per_category
    assert m["linear_probe_acc"] > 0.7 and m["knn_acc"] > 0.7       # far above chance (0.1)
    assert m["fid_classifier_real_train"] < m["fid_classifier_prior"]  # real images are closer to real ones
    for category, miss in m["category_misread_as"].items():  # consistent with the agreement it explains
        recognised = m["category_agreement_per_category"][category]
        assert miss is None or (miss["category"] != category and miss["share"] <= 1 - recognised + 1e-9)
    by_noise, p_mean = m["category_agreement_by_noise"], m["category_mean_judge_prob"]
    assert by_noise["noise"] == list(AGREEMENT_NOISE_SCALES)
    # the default noise's entry is category_agreement itself: the same sampler, seed and judge
    assert by_noise["overall"][by_noise["noise"].index(DEFAULT_NOISE)] == m["category_agreement"]
    assert by_noise["per_category"]["Coat"][by_noise["noise"].index(DEFAULT_NOISE)] == \
        m["category_agreement_per_category"]["Coat"]
    for category, p in p_mean.items():
        at_mean = by_noise["per_category"][category][0]  # noise 0: every sample is the decoded mean
        assert at_mean in (0.0, 1.0) and 0.0 <= p <= 1.0
        assert p <= 0.5 or at_mean == 1.0                  # a majority probability is the judge's choice
    # the clusters sampler, measured the same way
    assert 0 <= m["category_agreement_mixture"] <= 1 and 0 <= m["cas_acc_mixture"] <= 1
    assert m["mixture_sampler"] == {"noise": DEFAULT_NOISE, "components": QUICK.mixture_components,
                                    "samples": m["category_sampler"]["samples"],
                                    "fitted_from": f"{QUICK.train_images} training images, now"}
    per = m["category_agreement_mixture_per_category"]
    assert set(per) == set(m["category_agreement_per_category"]) and m["fid_classifier_mixture"] > 0
    independent = m["independent_judge"]   # the same draws, judged by the second judge (assets/)
    assert (independent["architecture"], independent["seed"]) == ("residual", 1)
    assert independent["samples"] == m["category_sampler"]["samples"] and independent["real_recall"] > 0.8
    for name in ("real_recall", "reconstruction_agreement", "category_agreement", "clusters_agreement"):
        assert list(independent[f"{name}_per_category"]) == list(m["category_agreement_per_category"])
        assert 0 <= independent[name] <= 1
    assert independent["fid_category"] < independent["fid_prior"]
    clusters = m["mixture_clusters"]   # each cluster alone: its samples, and the real test items it owns
    assert clusters["noise"] == DEFAULT_NOISE and clusters["samples_per_cluster"] == QUICK.cluster_samples
    test_counts = np.bincount(load(data_dir, allow_download=False).test_labels[:QUICK.test_images],
                              minlength=10)
    for c, rows in enumerate(clusters["per_category"].values()):
        weights = [r["weight"] for r in rows]
        assert weights == sorted(weights, reverse=True) and abs(sum(weights) - 1) < 1e-5
        assert 1 <= len(rows) <= QUICK.mixture_components
        assert sum(r["test_images"] for r in rows) == test_counts[c]
        for r in rows:
            recognised = r["sample_agreement"] * QUICK.cluster_samples  # a whole number of samples
            assert 0 <= r["sample_agreement"] <= 1 and abs(recognised - round(recognised)) < 1e-9
            assert (r["test_acc"] is None) == (r["reconstruction_acc"] is None) == (r["test_images"] == 0)
    maps = m["map_trustworthiness"]
    assert set(maps) >= {"tsne", "umap", "pca", "pixel-tsne"} and maps["tsne"]["trustworthiness"] > 0.8
    aug = m["augmentation"]
    assert len(aug["real_only_acc"]) == len(aug["with_synthetic_acc"]) == QUICK.augmentation_seeds
    assert m["classifier_bfloat16"] == cpu_has_amx()  # CAS/augmentation classifiers: no emulated bfloat16


@pytest.mark.slow
def test_model_independent_references_are_computed_once_and_reused(quick_evaluated, tmp_path, data_dir):
    first = json.loads((quick_evaluated / "metrics.json").read_text())
    assert sorted(first["references"]["computed"]) == ["augmentation_real_only", "cas_real",
                                                        "raw_pixel_probes"]
    assert first["references"]["reused"] == [] and first["references"]["seconds"] > 0
    cache = quick_evaluated / "references.json"
    entries = json.loads(cache.read_text())["entries"]
    assert {e["name"] for e in entries} == {"raw_pixel_probes", "augmentation_real_only", "cas_real"}
    assert all(e["key"]["dataset"] and e["key"]["code"] and e["key"]["torch"] for e in entries)
    assert all(e["key"]["threads"] >= 1 for e in entries if e["name"] != "raw_pixel_probes")
    assert all(e["machine"] for e in entries)   # where it was computed, for readers of the file
    out = tmp_path / "again.json"
    r = run_cli("evaluate", "--checkpoint", quick_evaluated, "--quick", "--quiet", "--parts",
                "probes,cas,augmentation", "--out", out, "--data-dir", data_dir, "--reference-cache", cache)
    assert r.returncode == 0, r.stderr
    again = json.loads(out.read_text())
    assert sorted(again["references"]["reused"]) == ["augmentation_real_only", "cas_real", "raw_pixel_probes"]
    assert again["references"]["computed"] == [] and again["references"]["seconds"] == 0
    for key in ("raw_pixel_linear_probe_acc", "raw_pixel_knn_acc", "linear_probe_acc", "knn_acc",
                "cas_real_acc", "cas_acc"):
        assert again[key] == first[key], key
    assert again["augmentation"] == first["augmentation"]  # the VAE's arm is recomputed, same seed
    assert cache.read_text() == json.dumps({"format": "fashion-vae-reference-metrics", "entries": entries},
                                           indent=1, ensure_ascii=False) + "\n"  # nothing added


def test_reference_store_keys_on_everything_and_recomputes_on_request(tmp_path):
    from training.evaluation.references import ReferenceStore
    calls = []
    def compute(v):
        return lambda: calls.append(v) or v
    store = ReferenceStore(tmp_path / "c.json", shipped=None)
    assert store.get("x", {"n": 1}, compute(1.5)) == 1.5 and calls == [1.5]
    assert store.get("x", {"n": 1}, compute(9.0)) == 1.5 and calls == [1.5]        # reused
    assert store.get("x", {"n": 2}, compute(2.5)) == 2.5 and store.get("y", {"n": 1}, compute(3.5)) == 3.5
    assert calls == [1.5, 2.5, 3.5] and store.log == {"reused": ["x"], "computed": ["x", "x", "y"]}
    fresh = ReferenceStore(tmp_path / "c.json", shipped=None)                        # persisted
    assert fresh.get("x", {"n": 2}, compute(7.0)) == 2.5 and calls == [1.5, 2.5, 3.5]
    redo = ReferenceStore(tmp_path / "c.json", shipped=None, recompute=True)
    assert redo.get("x", {"n": 2}, compute(7.0)) == 7.0
    replaced = ReferenceStore(tmp_path / "c.json", shipped=None)
    assert replaced.get("x", {"n": 2}, compute(0.0)) == 7.0
    assert len(json.loads((tmp_path / "c.json").read_text())["entries"]) == 3
    # a shipped file is read, never written
    shipped = tmp_path / "shipped.json"
    shipped.write_text((tmp_path / "c.json").read_text())
    before = shipped.read_text()
    other = ReferenceStore(tmp_path / "other.json", shipped=shipped)
    assert other.get("y", {"n": 1}, compute(0.0)) == 3.5 and other.get("z", {}, compute(4.0)) == 4.0
    assert shipped.read_text() == before and (tmp_path / "other.json").is_file()
    # a cache that cannot be written costs a warning, not the value
    (tmp_path / "a-file").write_text("x")
    stuck = ReferenceStore(tmp_path / "a-file" / "c.json", shipped=None)
    assert stuck.get("x", {"n": 1}, compute(5.0)) == 5.0 and stuck.log["computed"] == ["x"]


def test_every_shipped_reference_can_still_be_read_by_the_full_evaluation():
    """Editing the code behind a reference, a library bump or a change of the full settings silently
    makes a shipped entry unreadable (the key no longer matches) and costs every evaluation minutes:
    a stale entry must be refreshed or dropped, not shipped."""
    import sklearn

    from training.evaluation.references import SHIPPED, environment_key
    from training.evaluation.settings import FULL
    from training.evaluation.trials import reference_codes
    entries = json.loads(SHIPPED.read_text())["entries"]
    codes = reference_codes()
    assert {e["name"] for e in entries} == set(codes)
    settings = {"cas_real": {"per_category": FULL.cas_per_category, "epochs": FULL.cas_epochs, "seed": 0},
                "augmentation_real_only": {"per_category": FULL.augmentation_per_category,
                                           "steps": FULL.augmentation_steps, "batch_size": 64},
                "raw_pixel_probes": {}}
    for i, e in enumerate(entries):
        where = f"assets/reference-metrics.json entry {i} ({e['name']}, {e['created']})"
        k = e["key"]
        assert k["code"] == codes[e["name"]], f"{where}: computed by code that has since changed"
        assert (k["torch"], k["sklearn"]) == (torch.__version__, sklearn.__version__), where
        assert {f: k[f] for f in settings[e["name"]]} == settings[e["name"]], where
        assert (k["train_images"], k["test_images"]) == (60_000, 10_000), where
        assert k["cpu_capability"] in ("AVX2", "AVX512") and set(environment_key()) <= set(k), where
    real_only = [e["key"] for e in entries if e["name"] == "augmentation_real_only"]
    for kind in {(k["cpu_capability"], k["bfloat16"]) for k in real_only}:  # every seed, per machine
        seeds = sorted(k["seed"] for k in real_only if (k["cpu_capability"], k["bfloat16"]) == kind)
        assert seeds == list(range(FULL.augmentation_seeds)), kind


def test_reference_keys_hash_the_code_as_imported_not_as_edited_since(monkeypatch):
    """A long evaluation must not key its references on source edited while it runs: inspect reads
    the file lazily, so the hashes are taken at import."""
    import inspect

    from training.evaluation import trials as E
    before = E.reference_codes()
    monkeypatch.setattr(inspect, "getsource", lambda obj: "edited since")
    assert E.reference_codes() == before
    key = E.classifier_key(E.cas_real_reference, "checksum", "fp32", seed=0)
    assert key["code"] == before["cas_real"] and key["bfloat16"] is False


def test_a_file_that_is_not_a_reference_cache_is_refused_and_left_alone(tmp_path):
    precious = tmp_path / "metrics.json"
    precious.write_text('{"linear_probe_acc": 0.9}')
    r = run_cli("evaluate", "--checkpoint", ASSETS, "--quick", "--reference-cache", precious, "--out",
                tmp_path / "m.json")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "metrics.json: not a reference-metrics file" in r.stderr
    assert precious.read_text() == '{"linear_probe_acc": 0.9}' and not (tmp_path / "m.json").exists()


def test_evaluate_bad_input_is_one_line(tmp_path):
    r = run_cli("evaluate", "--checkpoint", tmp_path / "nowhere")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "nowhere" in r.stderr
    r = run_cli("evaluate", "--checkpoint", ASSETS, "--out", tmp_path / "m.txt")
    assert r.returncode == 1 and "expected a .json" in r.stderr
    r = run_cli("evaluate", "--checkpoint", ASSETS, "--parts", "iwae,speed", "--out", tmp_path / "m.json")
    assert r.returncode == 1 and "--parts speed: unknown" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_evaluate_parts_runs_only_the_chosen_stages(tmp_path, data_dir):
    out = tmp_path / "m.json"
    r = run_cli("evaluate", "--checkpoint", ASSETS, "--quick", "--quiet", "--parts", "maps", "--out", out,
                "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    m = json.loads(out.read_text())
    assert m["parts"] == ["maps"] and set(m["timings"]) == {"elbo_and_latents", "maps"}
    assert m["map_trustworthiness"]["tsne"]["trustworthiness"] > 0.8
    assert "kl_nats" in m and "active_units" in m
    assert not {"iwae_nats", "linear_probe_acc", "category_agreement", "cas_acc", "augmentation"} & set(m)


@pytest.mark.slow
def test_report_compares_models_and_links_the_notes(quick_evaluated, tmp_path, data_dir):
    notes = tmp_path / "notes.md"
    notes.write_text("The default wins on every sample-quality number.")
    out = tmp_path / "report" / "benchmark.md"
    r = run_cli("report", "--model", f"default={quick_evaluated}", "--model", f"again={quick_evaluated}",
                "--out", out, "--notes", notes, "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "| metric | default | again | better | target |" in text and "Category agreement" in text
    quick = json.loads((quick_evaluated / "metrics.json").read_text())
    probe = next(line for line in text.splitlines() if line.startswith("| Linear probe accuracy |"))
    assert probe.endswith("| higher | ≥ 0.87: "
                          f"{'met' if quick['linear_probe_acc'] >= 0.87 else '**missed**'} |")
    fid = next(line for line in text.splitlines() if line.startswith("| FID, prior samples |"))
    assert fid.endswith("| lower | better than seed-code |")   # no seed-code model here: not judged
    assert "[../notes.md](../notes.md)" in text and "--quick" in text
    assert "The default wins" not in text  # linked, not pasted
    from PIL import Image
    sheet = Image.open(out.parent / "grids" / "default.png")
    assert sheet.height > 8 * 28 * 3  # eight rows of 3× upscaled images
    # redraw for one model, keeping the other's numbers and sheet from the report just written
    before = json.loads(out.with_suffix(".json").read_text())
    (out.parent / "grids" / "again.png").write_bytes(b"kept")
    r = run_cli("report", "--model", f"default={quick_evaluated}", "--keep", "again", "--out", out,
                "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    after = json.loads(out.with_suffix(".json").read_text())
    assert after["models"]["again"] == before["models"]["again"]
    assert after["infos"]["again"] == before["infos"]["again"]
    assert "| metric | default | again | better | target |" in out.read_text()
    # the header regenerates every model from its directory, the kept one included
    models = f"--model default={quick_evaluated} --model again={quick_evaluated}"
    assert f"python -m training report {models} --out {out}\n" in out.read_text()
    assert (out.parent / "grids" / "again.png").read_bytes() == b"kept"
    assert "Warning" not in out.read_text() and "for 1 pass over 1,000 generated images" in out.read_text()
    # a kept model evaluated under another protocol is flagged, not silently compared
    older = json.loads(out.with_suffix(".json").read_text())
    older["models"]["again"]["settings"]["cas_epochs"] = 3
    out.with_suffix(".json").write_text(json.dumps(older))
    r = run_cli("report", "--model", f"default={quick_evaluated}", "--keep", "again", "--out", out,
                "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    assert "**Warning: the models were evaluated with different settings (cas_epochs)" in out.read_text()
    # a setting the kept model's evaluation predates governs rows it does not have: no warning
    older["models"]["again"]["settings"]["cas_epochs"] = QUICK.cas_epochs
    del older["models"]["again"]["settings"]["mixture_components"]
    out.with_suffix(".json").write_text(json.dumps(older))
    r = run_cli("report", "--model", f"default={quick_evaluated}", "--keep", "again", "--out", out,
                "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in out.read_text()
    r = run_cli("report", "--model", f"default={quick_evaluated}", "--keep", "paper", "--out", out,
                "--data-dir", data_dir)
    assert r.returncode == 1 and "--keep paper: not in" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    summary = json.loads(out.with_suffix(".json").read_text())
    assert set(summary["models"]) == {"default", "again"} and "kl_per_dim" not in summary["models"]["default"]
    r = run_cli("report", "--model", "nonsense", "--out", tmp_path / "x.md")
    assert r.returncode == 1 and "NAME=DIRECTORY" in r.stderr
    r = run_cli("report", "--model", f"x={tmp_path}", "--out", tmp_path / "x.md")
    assert r.returncode == 1 and "evaluate --checkpoint" in r.stderr


def test_report_shows_the_one_off_reference_time_apart():
    from training.evaluation.catalogue import plural
    from training.evaluation.report import evaluation_cell
    cold = {"seconds": 1000.0, "threads": 2, "references": {"computed": ["cas_real"], "seconds": 300.0}}
    assert evaluation_cell(cold) == "full, 11.7 min on 2 threads (+5.0 min computing references once)"
    assert evaluation_cell({"seconds": 600.0, "threads": 1}) == "full, 10.0 min on 1 thread"  # older files
    assert plural(1, "pass") == "1 pass" and plural(3, "pass") == "3 passes"
    assert plural(2, "thread") == "2 threads"
    warm = {"seconds": 600.0, "threads": 2, "references": {"seconds": 0.0}}
    assert evaluation_cell(warm) == "full, 10.0 min on 2 threads"
    assert "--quick" in evaluation_cell({"quick": True, "seconds": 20.0})


def test_report_names_each_models_encoder_head_and_decoder():
    from training.evaluation.report import model_table
    deep = {"encoder_head": [512, 256], "decoder_kernels": [2, 3, 4, 6]}
    infos = {"deep": {"beta": 1.0, "architecture": deep},
             "older": {"beta": 0.5, "architecture": {}}}  # saved before the encoder head existed
    rows = model_table({name: {"quick": True} for name in infos}, infos)
    assert ("| encoder head | paper's linear heads on 512 conv features + ReLU → 512 → ReLU → 256 → ReLU → "
            "heads that start at 0 | paper's (linear heads on 512 conv features) |") in rows
    assert "| decoder | 256×128×64 channels, kernels 2,3,4,6 | paper's (256×128×64) |" in rows
    assert "| β | 1.0 | 0.5 |" in rows


def test_agreement_table_says_what_unrecognised_samples_are_read_as():
    from training.evaluation.catalogue import per_category_table
    from training.evaluation.report import agreement_table
    new = {"category_agreement_per_category": {"Coat": 0.4, "Bag": 1.0},
           "category_misread_as": {"Coat": {"category": "Pullover", "share": 0.35}, "Bag": None}}
    old = {"category_agreement_per_category": {"Coat": 0.5, "Bag": 0.9}}  # evaluated before the key existed
    rows = agreement_table({"new": new, "old": old})
    assert rows[0] == "| category | new: samples | old: samples | new: samples most often misread as |"
    assert rows[1] == "|---|---:|---:|---|"
    assert rows[2:4] == ["| Coat | 0.400 | 0.500 | Pullover (0.350) |", "| Bag | 1.000 | 0.900 | — |"]
    card = per_category_table(new).splitlines()
    assert card[0] == ("| category | samples around its mean (the paper's) | the paper's samples most often "
                       "misread as (share) |")
    assert card[1:] == ["|---|---:|---|", "| Coat | 0.40 | Pullover (0.350) |", "| Bag | 1.00 | — |"]
    with_mean = {**old, "category_mean_judge_prob": {"Coat": 0.82, "Bag": 0.97}}
    assert per_category_table(with_mean).splitlines()[0] == (
        "| category | samples around its mean (the paper's) | the decoded mean: judge's probability of the "
        "category |")
    assert per_category_table(with_mean).splitlines()[2] == "| Coat | 0.50 | 0.82 |"
    assert per_category_table(old).splitlines() == [
        "| category | samples around its mean (the paper's) |", "|---|---:|", "| Coat | 0.50 |",
        "| Bag | 0.90 |"]
    clusters = {"Coat": [{"weight": 0.6, "sample_agreement": 0.95, "test_acc": 0.97},   # within 10 points
                         {"weight": 0.3, "sample_agreement": 0.55, "test_acc": 0.80},   # trails by 25
                         {"weight": 0.1, "sample_agreement": 0.10,
                          "test_acc": None}],  # no real image to compare
                "Bag": [{"weight": 1.0, "sample_agreement": 1.0, "test_acc": 1.0}]}
    card = per_category_table({**new, "mixture_clusters": {"per_category": clusters}}).splitlines()
    assert card[0].endswith("| clusters trailing their real images by > 10 points (share) |")
    assert card[1:] == ["|---|---:|---|---|", "| Coat | 0.40 | Pullover (0.350) | 1 of 3 (30%) |",
                        "| Bag | 1.00 | — | 0 of 1 |"]
    broken = {**old, "mixture_clusters": {"per_category": {"Coat": [{"weight": 1.0}]}}}
    assert per_category_table(broken) == per_category_table(old)


def test_cluster_recognition_is_read_only_for_the_clusters_that_were_measured():
    from training.evaluation.catalogue import cluster_recognition
    rows = [{"weight": 0.7, "sample_agreement": 0.95, "test_acc": 0.9},
            {"weight": 0.3, "sample_agreement": 0.5, "test_acc": None}]
    m = {"mixture_clusters": {"per_category": {"Shirt": rows}}}
    assert cluster_recognition(m, "Shirt", [0.7, 0.3]) == [(0.95, 0.9), (0.5, None)]
    assert cluster_recognition(m, "Shirt", [0.6, 0.4]) is None          # other clusters than the app's
    assert cluster_recognition(m, "Shirt", [0.7, 0.2, 0.1]) is None
    assert cluster_recognition(m, "Coat", [0.7, 0.3]) is None
    assert cluster_recognition({}, "Shirt",
                               [1.0]) is None and cluster_recognition(None, "Shirt", [1.0]) is None
    assert cluster_recognition({"mixture_clusters": {"per_category": {"Shirt": [{"weight": "x"}]}}},
                               "Shirt", [1.0]) is None


def test_cluster_note_quotes_one_measured_cluster():
    from training.evaluation.catalogue import cluster_note
    rows = [{"weight": 0.7, "sample_agreement": 0.95, "test_acc": 0.9},
            {"weight": 0.3, "sample_agreement": 0.5, "test_acc": None}]
    m = {"mixture_clusters": {"noise": 0.5, "per_category": {"Coat": rows}}}
    assert cluster_note(m, "Coat", [0.7, 0.3], 0, 0.5) == (
        "The evaluation's classifier recognised 95% of samples from this cluster alone at noise 0.5 "
        "(90% of the real Coat test images in it).")
    assert cluster_note(m, "Coat", [0.7, 0.3], 1, 1.0) == (
        "The evaluation's classifier recognised 50% of samples from this cluster alone at noise 0.5, the "
        "only noise measured for clusters (the cluster holds no test image).")
    assert cluster_note(m, "Coat", [0.7, 0.3], 2,
                        0.5) is None and cluster_note(m, "Coat", [0.6, 0.4], 0, 0.5) is None
    assert cluster_note({"mixture_clusters": {"per_category": {"Coat": rows}}}, "Coat", [0.7, 0.3], 0,
                        0.5) is None


def test_targets_are_judged_against_their_bar_and_the_reference():
    from training.evaluation import catalogue as L
    by_key = {m.key: m for m in L.ALL}
    agreement, fid = by_key["category_agreement"], by_key["fid_classifier_prior"]
    probe = by_key["linear_probe_acc"]
    assert L.target_text(agreement) == "better than seed-code"
    assert L.target_text(fid) == "better than seed-code" and L.target_text(probe) == "≥ 0.87"
    assert L.target_text(by_key["kl_nats"]) == ""
    assert L.target_cell({"kl_nats": 3.0}, None, by_key["kl_nats"]) == ""
    seed = {"category_agreement": 0.77, "fid_classifier_prior": 59.2}
    assert L.target_met({"category_agreement": 0.911}, seed, agreement) is True
    assert L.target_met({"category_agreement": 0.76}, seed, agreement) is False
    assert L.target_met({"category_agreement": 0.96}, None, agreement) is None         # nothing to beat
    assert L.target_met({"fid_classifier_prior": 21.4}, seed, fid) is True             # lower is better
    assert L.target_met({"fid_classifier_prior": 60.0}, seed, fid) is False
    assert L.target_met({"linear_probe_acc": 0.87}, None, probe) is True               # the bar itself counts
    assert L.target_met({"linear_probe_acc": 0.8699}, None, probe) is False
    assert L.target_met({}, seed, probe) is None
    assert L.target_cell({"category_agreement": 0.76}, seed, agreement) == "better than seed-code: **missed**"
    assert L.target_cell({"linear_probe_acc": 0.8724}, None, probe) == "≥ 0.87: met"
    assert L.target_cell({"category_agreement": 0.96}, None, agreement) == "better than seed-code"


def test_the_default_sampler_is_judged_against_the_real_photos_overall_and_per_category():
    from training.evaluation import catalogue as L
    default = next(m for m in L.ALL if m.key == "category_agreement_mixture")
    real = {"classifier_test_acc": 0.90, "classifier_recall_per_category": {"Coat": 0.90, "Shirt": 0.80}}
    as_often = {**real, "category_agreement_mixture": 0.90,
                "category_agreement_mixture_per_category": {"Coat": 0.95, "Shirt": 0.75}}  # Shirt −5: allowed
    assert L.target_met(as_often, None, default) is True
    met = L.target_cell(as_often, None, default)
    assert met == "as often as real photos, each category within 5 points: met"
    rarer = {**as_often, "category_agreement_mixture": 0.899}
    assert L.target_met(rarer, None, default) is False
    one_short = {**as_often, "category_agreement_mixture_per_category": {"Coat": 0.99, "Shirt": 0.73}}
    assert L.target_met(one_short, None, default) is False
    assert L.target_cell(one_short, None, default).endswith(": **missed** (Shirt −7)")
    assert L.target_met({"category_agreement_mixture": 0.95}, None, default) is None  # no real photos


def test_recognised_note_quotes_the_nearest_measured_noise():
    from training.evaluation.catalogue import recognised_note
    m = {"category_agreement_by_noise": {"noise": [0.0, 0.5, 1.0], "overall": [1.0, 0.9, 0.8],
                                         "per_category": {"Coat": [1.0, 0.83, 0.6]}}}
    assert recognised_note(m, "Coat", 0.5) == ("The evaluation's classifier recognised 83% of Coat samples "
                                               "at noise 0.5 (90% over all categories); the model card plots "
                                               "it against the noise.")
    assert "60% of Coat samples at noise 1, the nearest measured (80% over" in recognised_note(m, "Coat", 1.9)
    assert recognised_note(m, "Bag", 0.5) is None and recognised_note({}, "Coat", 0.5) is None
    assert recognised_note(None, "Coat", 0.5) is None
    mixture = {"category_agreement_mixture": 0.936, "mixture_sampler": {"noise": 0.5},
               "category_agreement_mixture_per_category": {"Shirt": 0.87}}
    assert recognised_note(mixture, "Shirt", 0.5, "mixture") == (
        "The evaluation's classifier recognised 87% of Shirt samples drawn from the clusters at noise 0.5 "
        "(94% over all categories).")
    note = recognised_note(mixture, "Shirt", 1, "mixture")
    assert "at noise 0.5, the only noise measured for clusters" in note
    assert recognised_note(mixture, "Coat", 0.5, "mixture") is None
    # the default sampler's note also quotes the clusters, where they were measured
    both = {**m, **mixture, "category_agreement_mixture_per_category": {"Coat": 0.93}}
    assert recognised_note(both, "Coat", 0.5).endswith(
        "against the noise. From the category's clusters: 93% at noise 0.5.")
    assert recognised_note(m, "Coat", 0.5, "mixture") is None
    for broken in ({"noise": [0.0, 0.5], "overall": [1.0], "per_category": {}},          # lengths differ
                   {"noise": [0.0], "overall": ["1.0"], "per_category": {}},              # not numbers
                   {"noise": [0.0], "overall": [1.0]}, [], "x",
                   {"noise": [], "overall": [], "per_category": {}}):
        assert recognised_note({"category_agreement_by_noise": broken}, "Coat", 0.5) is None


def test_a_folder_keeps_the_cas_batches_of_fashion_mnist_and_the_few_label_benchmark_within_its_size():
    """One pass over 1,490 digits is 12 batches and left even the real-image CAS at chance (0.10):
    a folder's CAS trains for the batches the settings give on Fashion-MNIST."""
    from training.evaluation.settings import CAS_BATCH, FULL, for_folder
    labels = np.repeat(np.arange(10), 149)
    s = for_folder(FULL, labels)
    assert s.cas_per_category == 149
    fashion_batches = math.ceil(10 * FULL.cas_per_category / CAS_BATCH) * FULL.cas_epochs
    folder_batches = s.cas_epochs * math.ceil(1490 / CAS_BATCH)
    assert fashion_batches == 469 and 469 <= folder_batches < 469 + 12
    assert (s.augmentation_per_category, s.augmentation_synthetic_per_category) == (2, 20)
    big = for_folder(FULL, np.repeat(np.arange(10), 30_000))    # as large as Fashion-MNIST: as on it
    assert (big.cas_per_category, big.cas_epochs, big.augmentation_per_category) == (6000, 1, 60)
    assert for_folder(FULL, np.repeat(np.arange(3), 30_000)).cas_epochs == 4    # 141 batches a pass
    assert for_folder(QUICK, labels).cas_epochs == 1     # 100 a category: QUICK's own 8 batches


@pytest.mark.slow
def test_without_the_independent_judge_its_stage_says_how_to_train_it(tmp_path, monkeypatch, data_dir):
    from training.evaluation import evaluate as E
    monkeypatch.setattr(E, "INDEPENDENT_JUDGE", tmp_path / "none")
    m = E.evaluate(ASSETS, out=tmp_path / "m.json", quick=True, parts=("independent",), data_dir=data_dir,
                   threads=2, progress=False, reference_cache=tmp_path / "refs.json")
    assert "independent_judge" not in m
    assert m["independent_judge_skipped"] == (f"{tmp_path / 'none'}: no independent judge; train it with "
                                              "`python -m training classifier --architecture residual "
                                              "--seed 1 --out assets/independent-judge`")
