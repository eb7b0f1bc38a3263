"""Synthetic data export: `python -m training generate` as .npz and as IDX files."""
import gzip

import numpy as np
import pytest

from conftest import ROOT, run_cli
from training import data as fmnist
from training.checkpoint import npz_bytes
from training.commands.generate import category_name_to_index
from training.labelled import idx_paths

ASSETS = ROOT / "assets"


def test_idx_files_read_back_with_the_projects_loader(tmp_path):
    r = run_cli("generate", "--checkpoint", ASSETS, "--all", "--n", "7", "--seed", "3", "--format", "idx",
                "--out", tmp_path / "synthetic" / "train")
    assert r.returncode == 0, r.stderr
    images = fmnist.read_idx_file(tmp_path / "synthetic" / "train-images-idx3-ubyte.gz")
    labels = fmnist.read_idx_file(tmp_path / "synthetic" / "train-labels-idx1-ubyte.gz")
    assert images.shape == (70, 28, 28) and images.dtype == np.uint8 and labels.shape == (70,)
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, 7))
    assert images.max() > 200 and images[:, 0, :].mean() < 40   # light items on a dark background
    # the header is the standard one: magic 2051 and 2049, big-endian counts
    raw = gzip.decompress((tmp_path / "synthetic" / "train-images-idx3-ubyte.gz").read_bytes())
    assert raw[:16] == bytes.fromhex("00000803") + (70).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    outs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        r = run_cli("generate", "--checkpoint", ASSETS, "--category", "ankle boot", "--n", "12", "--seed",
                    seed, "--out", tmp_path / f"{name}.npz")
        assert r.returncode == 0, r.stderr
        outs.append((tmp_path / f"{name}.npz").read_bytes())
    assert outs[0] == outs[1] and outs[0] != outs[2]
    with np.load(tmp_path / "a.npz") as f:
        assert f["images"].shape == (12, 28, 28) and f["images"].dtype == np.uint8
        assert set(f["labels"].tolist()) == {9} and f["z"].shape == (12, 128)


def test_mixture_sampler_draws_near_the_shipped_clusters(tmp_path):
    r = run_cli("generate", "--checkpoint", ASSETS, "--category", "Shirt", "--n", "40", "--sampler",
                "mixture", "--noise", "0", "--out", tmp_path / "m.npz")
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "m.npz") as f, np.load(ASSETS / "embeddings.npz") as e:
        z, labels, centres = f["z"], f["labels"], e["category_mixture_mean"][6]
    assert set(labels.tolist()) == {6}
    # at noise 0 every sample is one of the shirt clusters' centres, and several clusters are used
    distance = np.linalg.norm(z[:, None] - centres[None], axis=2).min(1)
    assert distance.max() < 1e-4 and len({tuple(np.round(v, 3)) for v in z}) > 1


def test_one_cluster_draws_only_that_style(tmp_path):
    r = run_cli("generate", "--checkpoint", ASSETS, "--category", "Shirt", "--n", "5",
                "--sampler", "mixture", "--cluster", "2", "--noise", "0", "--out", tmp_path / "c.npz")
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "c.npz") as f, np.load(ASSETS / "embeddings.npz") as e:
        z, weight, centres = f["z"], e["category_mixture_weight"][6], e["category_mixture_mean"][6]
    second = np.argsort(-weight, kind="stable")[1]                    # the second-heaviest shirt cluster
    np.testing.assert_allclose(z, np.repeat(centres[second][None], 5, 0), atol=1e-6)


def test_min_confidence_keeps_only_confident_samples_and_reports_it(tmp_path):
    r = run_cli("generate", "--checkpoint", ASSETS, "--all", "--n", "30", "--noise", "1.0",
                "--min-confidence", "0.8", "--out", tmp_path / "s.npz")
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "s.npz") as f:
        kept, conf, labels = len(f["labels"]), f["confidence"], f["labels"]
    assert f"kept {kept} of 300" in r.stdout and 0 < kept < 300
    assert conf.min() >= 0.8
    # confidence is the classifier's probability of the intended label: recompute it
    import torch

    from training.evaluation.classifier import load_classifier
    clf = load_classifier(ASSETS)
    with torch.no_grad(), np.load(tmp_path / "s.npz") as f:
        p = torch.softmax(clf(torch.from_numpy(f["images"]).float().unsqueeze(1) / 255), 1).numpy()
    assert np.all(p[np.arange(kept), labels] > 0.75)  # (uint8 rounding moves it a little)


def test_prior_sampler_labels_by_the_classifier(tmp_path):
    r = run_cli("generate", "--checkpoint", ASSETS, "--category", "Trouser", "--n", "5", "--sampler", "prior",
                "--out", tmp_path / "p.npz")
    assert r.returncode == 0, r.stderr
    import torch

    from training.evaluation.classifier import load_classifier
    clf = load_classifier(ASSETS)
    with torch.no_grad(), np.load(tmp_path / "p.npz") as f:
        assert f["labels"].tolist() == [1] * 5
        p = torch.softmax(clf(torch.from_numpy(f["images"]).float().unsqueeze(1) / 255), 1).numpy()
        # the prior knows no categories: each kept draw is one the classifier itself calls a trouser
        assert (p.argmax(1) == 1).all() and np.allclose(f["confidence"], p[:, 1], atol=0.05)


def test_the_learned_prior_draws_without_a_category_and_labels_by_the_classifier_with_one(tmp_path):
    from training.sampling import LearnedPrior
    prior = LearnedPrior.from_arrays(np.load(ASSETS / "embeddings.npz"))
    outs = []
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):   # no category: the learned prior, unlabelled
        r = run_cli("generate", "--checkpoint", ASSETS, "--n", "24", "--seed", seed,
                    "--out", tmp_path / f"{name}.npz")
        assert r.returncode == 0, r.stderr
        outs.append((tmp_path / f"{name}.npz").read_bytes())
    assert outs[0] == outs[1] and outs[0] != outs[2]
    with np.load(tmp_path / "a.npz") as f:
        assert sorted(f.files) == ["images", "z"] and f["images"].shape == (24, 28, 28)
        # the draws are the stored prior's at noise 1, in the generator's first stream
        np.testing.assert_allclose(f["z"], prior.sample(24, 1.0, np.random.default_rng(4))[0], atol=1e-5)
    r = run_cli("generate", "--checkpoint", ASSETS, "--category", "Bag", "--n", "4", "--sampler", "learned",
                "--out", tmp_path / "bags.npz")
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "bags.npz") as f:   # kept where the classifier calls the draw a bag
        assert f["labels"].tolist() == [8] * 4 and (f["confidence"] > 0.1).all()


@pytest.mark.parametrize("args, message", [
    (["--n", "3", "--out", "x.npz", "--sampler", "mixture"], "--sampler mixture: draws from a category"),
    (["--n", "3", "--out", "x.d", "--format", "idx"], "--format idx: needs labels"),
    (["--n", "3", "--out", "x.npz", "--min-confidence", "0.5"], "--min-confidence: needs labels"),
    (["--category", "shoe", "--n", "3", "--out", "x.npz"], "expected one of T-shirt/top"),
    (["--all", "--n", "3", "--out", "x.txt"], "expected a .npz"),
    (["--all", "--n", "3", "--out", "x.npz", "--min-confidence", "1.5"], "between 0 and 1"),
    (["--all", "--n", "0", "--out", "x.npz"], "must be a finite number > 0"),
    (["--all", "--n", "3", "--out", "x.npz", "--sampler", "covariance", "--cluster", "1"],
     "with --sampler mixture"),
    (["--category", "Bag", "--n", "3", "--out", "x.npz", "--sampler", "mixture", "--cluster", "9"],
     "--cluster 9: Bag has fewer clusters"),
])
def test_bad_arguments_are_one_line(tmp_path, args, message):
    r = run_cli("generate", "--checkpoint", ASSETS,
                *[str(tmp_path / a) if a.startswith("x.") else a for a in args])
    assert r.returncode != 0 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_names_and_paths():
    names = fmnist.CATEGORIES
    assert category_name_to_index("sneaker", names) == 7 and category_name_to_index("T-shirt", names) == 0
    assert category_name_to_index("Ankle boot", names) == 9
    assert category_name_to_index("squa", ("discs", "squares")) == 1   # a folder model's own names
    from pathlib import Path
    assert idx_paths(Path("out/train")) == (Path("out/train-images-idx3-ubyte.gz"),
                                            Path("out/train-labels-idx1-ubyte.gz"))
    # a trailing slash names a directory, which need not exist yet
    assert idx_paths("new-dir/") == (Path("new-dir/train-images-idx3-ubyte.gz"),
                                     Path("new-dir/train-labels-idx1-ubyte.gz"))
    a = npz_bytes({"x": np.arange(5)})
    assert a == npz_bytes({"x": np.arange(5)})


def test_sample_sheet_adds_two_rows_of_cluster_samples_where_embed_stored_them(dataset):
    from training import load_model
    from training.category_latents import stored_category_mixtures
    from training.synthesis.sample_sheets import sample_sheet
    model = load_model(ASSETS)
    with np.load(ASSETS / "embeddings.npz") as e:
        stats = e["category_mean"].astype(np.float64), e["category_cov"].astype(np.float64)
    plain = np.asarray(sample_sheet(model, dataset, stats=stats))
    mixtures = stored_category_mixtures(ASSETS, model)
    with_clusters = np.asarray(sample_sheet(model, dataset, stats=stats, mixtures=mixtures))
    row = plain.shape[0] // 8                                   # eight rows of 28×28 images without clusters
    assert with_clusters.shape[0] == plain.shape[0] + 2 * row and with_clusters.shape[1] == plain.shape[1]
    # the rows before the clusters' are the same images; the cluster rows are new ones
    assert np.array_equal(with_clusters[:7 * row], plain[:7 * row])
    assert not np.array_equal(with_clusters[7 * row:8 * row], plain[5 * row:6 * row])
    # with the learned prior, the fourth row is its samples, the rest unchanged
    from training.latent_prior import stored_learned_prior
    prior = stored_learned_prior(ASSETS, model)
    learned = np.asarray(sample_sheet(model, dataset, stats=stats, learned_prior=prior))
    assert np.array_equal(learned[:3 * row], plain[:3 * row])
    assert np.array_equal(learned[4 * row:], plain[4 * row:])
    assert not np.array_equal(learned[3 * row:4 * row], plain[3 * row:4 * row])


def test_the_default_sampler_is_the_categories_clusters(tmp_path):
    """The sampler whose samples the classifier recognises as often as real photos is the default;
    the paper's sampler around the mean is one flag away."""
    for name, extra in (("default", []), ("mixture", ["--sampler", "mixture"]),
                        ("paper", ["--sampler", "covariance"])):
        r = run_cli("generate", "--checkpoint", ASSETS, "--category", "Shirt", "--n", "8", "--out",
                    tmp_path / f"{name}.npz", *extra)
        assert r.returncode == 0, r.stderr
    default, mixture, paper = ((tmp_path / f"{n}.npz").read_bytes() for n in ("default", "mixture", "paper"))
    assert default == mixture and default != paper
