"""``python -m training augment``: its file contract, its errors, and that the variants of an image
are variants of that image."""
import numpy as np
import pytest

from conftest import ROOT, run_cli
from training import data as fmnist
from training.labelled import read as read_labelled

ASSETS = ROOT / "assets"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, dataset):
    """Five real training images of each category."""
    idx = np.concatenate([np.flatnonzero(dataset.train_labels == c)[:5] for c in range(10)])
    path = tmp_path_factory.mktemp("labelled") / "labelled.npz"
    np.savez(path, images=dataset.train_images[idx], labels=dataset.train_labels[idx])
    return path


def _augment(*args):
    return run_cli("augment", "--checkpoint", ASSETS, *args)


def test_writes_k_labelled_variants_of_each_image_and_the_same_bytes_for_a_seed(labelled, tmp_path):
    def unfiltered(*args):
        return _augment(*args, "--min-confidence", 0)
    r = unfiltered("--input", labelled, "--per-image", 3, "--out", tmp_path / "a.npz")
    assert r.returncode == 0, r.stderr
    assert "wrote 150 variants of 50 images" in r.stdout and "recognised" not in r.stdout
    out, source = np.load(tmp_path / "a.npz"), np.load(labelled)
    assert set(out.files) == {"images", "labels", "source"}
    assert out["images"].dtype == np.uint8 and out["images"].shape == (150, 28, 28)
    assert out["source"].tolist() == np.repeat(np.arange(50), 3).tolist()
    assert (out["labels"] == source["labels"][out["source"]]).all()
    assert unfiltered("--input", labelled, "--per-image", 3, "--out", tmp_path / "b.npz").returncode == 0
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert unfiltered("--input", labelled, "--per-image", 3, "--seed", 1, "--out",
                      tmp_path / "c.npz").returncode == 0
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "c.npz").read_bytes()


def test_variants_stay_closer_to_their_image_than_to_other_images_of_its_category(labelled, tmp_path):
    r = _augment("--input", labelled, "--per-image", 4, "--out", tmp_path / "v.npz")
    assert r.returncode == 0, r.stderr
    out, inputs = np.load(tmp_path / "v.npz"), np.load(labelled)
    variants, images = out["images"].astype(np.float32) / 255, inputs["images"].astype(np.float32) / 255
    labels = inputs["labels"]
    to_source, to_others = [], []
    for v, s in zip(variants, out["source"], strict=True):
        others = np.flatnonzero((labels == labels[s]) & (np.arange(len(labels)) != s))
        to_source.append(((v - images[s]) ** 2).mean())
        to_others.append(((v[None] - images[others]) ** 2).mean(axis=(1, 2)).mean())
    assert np.mean(to_source) < 0.5 * np.mean(to_others)
    assert np.mean(np.array(to_source) < np.array(to_others)) > 0.9   # for nearly every variant


def test_the_classifier_filter_keeps_confident_variants_at_most_k_per_image(labelled, tmp_path):
    r = _augment("--input", labelled, "--per-image", 2, "--min-confidence", 0.9, "--out", tmp_path / "f.npz")
    assert r.returncode == 0, r.stderr
    out = np.load(tmp_path / "f.npz")
    assert set(out.files) == {"images", "labels", "source", "confidence"}
    assert (out["confidence"] >= 0.9).all() and np.bincount(out["source"], minlength=50).max() <= 2
    assert len(out["labels"]) > 50   # most images have confident variants


def test_the_default_keeps_labels_as_often_as_real_photos_by_the_independent_judge(dataset, tmp_path):
    """The default (T = 4, the classifier's filter at 0.5) on 50 real test images of each category:
    the independent judge, which never saw the filter, recognises the variants as their source's
    category at least as often as the real images, within 3 points, and every category within 10 on
    this small subset (the full test set: within 5; docs/augmentation.md)."""
    from training.evaluation.classifier import INDEPENDENT_JUDGE, load_classifier, probabilities
    idx = np.concatenate([np.flatnonzero(dataset.test_labels == c)[:50] for c in range(10)])
    images, labels = dataset.test_images[idx], dataset.test_labels[idx]
    np.savez(tmp_path / "test.npz", images=images, labels=labels)
    r = _augment("--input", tmp_path / "test.npz", "--per-image", 1, "--out", tmp_path / "v.npz")
    assert r.returncode == 0, r.stderr
    assert "each recognised by the classifier with probability ≥ 0.5" in r.stdout
    out = np.load(tmp_path / "v.npz")
    assert (out["confidence"] >= 0.5).all()
    assert len(out["labels"]) >= 0.85 * len(idx)   # most images keep a variant; the rest are counted
    missing = np.bincount(labels[np.setdiff1d(np.arange(len(idx)), out["source"])], minlength=10)
    if missing.any():
        assert "without a variant: " in r.stdout and f"{fmnist.CATEGORIES[missing.argmax()]} " in r.stdout
    judge = load_classifier(INDEPENDENT_JUDGE)
    real = probabilities(judge, images / 255).argmax(1) == labels
    kept = probabilities(judge, out["images"] / 255).argmax(1) == out["labels"]
    assert kept.mean() >= real.mean() - 0.03
    for c in range(10):
        assert kept[out["labels"] == c].mean() >= real[labels == c].mean() - 0.10, fmnist.CATEGORIES[c]


def test_a_model_without_a_classifier_is_augmented_unfiltered_with_a_note(colour_folder_model, tmp_path):
    import shutil
    model, folder = tmp_path / "model", colour_folder_model.parent / "images"
    model.mkdir()
    for name in ("model.safetensors", "model.json"):   # the folder model without its judge
        shutil.copyfile(colour_folder_model / name, model / name)
    r = run_cli("augment", "--checkpoint", model, "--input", folder, "--per-image", 1,
                "--out", tmp_path / "v.npz")
    assert r.returncode == 0, r.stderr
    assert "note: unfiltered: " in r.stderr and "wrote 72 variants of 72 images" in r.stdout
    # asked for by name, the filter that cannot run is an error, and nothing is written
    r = run_cli("augment", "--checkpoint", model, "--input", folder, "--per-image", 1,
                "--min-confidence", 0.5, "--out", tmp_path / "w.npz")
    assert r.returncode == 1 and "no classifier" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "w.npz").exists()
    r = run_cli("augment", "--checkpoint", colour_folder_model, "--input", folder, "--per-image", 1,
                "--out", tmp_path / "x.npz")   # with its judge: filtered by default
    assert r.returncode == 0 and "recognised by the classifier with probability ≥ 0.5" in r.stdout, r.stderr


def test_idx_in_and_out(labelled, tmp_path):
    arrays = np.load(labelled)
    (tmp_path / "in").mkdir()
    for name, a in (("train-images-idx3-ubyte.gz", arrays["images"]), ("train-labels-idx1-ubyte.gz",
                                                                        arrays["labels"].astype(np.uint8))):
        (tmp_path / "in" / name).write_bytes(fmnist.gzip_bytes(fmnist.encode_idx(a)))
    images, labels = read_labelled(tmp_path / "in")
    assert (images == arrays["images"]).all() and (labels == arrays["labels"]).all()
    r = _augment("--input", tmp_path / "in", "--per-image", 1, "--format", "idx", "--out",
                 str(tmp_path / "out") + "/", "--min-confidence", 0)
    assert r.returncode == 0, r.stderr
    variants = fmnist.read_idx_file(tmp_path / "out" / "train-images-idx3-ubyte.gz")
    assert variants.shape == (50, 28, 28)
    assert np.load(tmp_path / "out" / "train-extra.npz")["source"].tolist() == list(range(50))


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((3, 28, 28), np.uint8)}, "no 'labels' array"),
    ({"images": np.zeros((3, 28, 28), np.float32), "labels": np.zeros(3, np.int64)},
     "expected uint8 N×28×28"),
    ({"images": np.zeros((3, 32, 32), np.uint8), "labels": np.zeros(3, np.int64)}, "expected uint8 N×28×28"),
    ({"images": np.zeros((3, 28, 28), np.uint8), "labels": np.zeros(2, np.int64)}, "expected 3 integers"),
    ({"images": np.zeros((3, 28, 28), np.uint8), "labels": np.array([0, 10, 1])}, "label 10 is outside 0–9"),
    ({"images": np.zeros((0, 28, 28), np.uint8), "labels": np.zeros(0, np.int64)}, "holds no images"),
])
def test_bad_input_is_one_line(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    r = _augment("--input", tmp_path / "bad.npz", "--per-image", 2, "--out", tmp_path / "o.npz")
    assert r.returncode == 1 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "o.npz").exists()


def test_bad_arguments_are_one_line(labelled, tmp_path):
    for args, code, message in ((["--per-image", 0], 2, "--per-image: '0' must be a finite number > 0"),
                                (["--per-image", 2, "--min-confidence", 2], 2, "between 0 and 1"),
                                (["--per-image", 2, "--out", tmp_path / "o.txt"], 1, "expected a .npz")):
        out = [] if "--out" in args else ["--out", tmp_path / "o.npz"]
        r = _augment("--input", labelled, *args, *out)
        assert r.returncode == code and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    r = _augment("--input", tmp_path / "missing.npz", "--per-image", 2, "--out", tmp_path / "o.npz")
    assert r.returncode == 1 and "missing.npz" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_label_budget_benchmark_runs_every_arm_in_quick_mode(tmp_path, monkeypatch):
    import importlib.util
    import json
    import sys
    monkeypatch.syspath_prepend(str(ROOT / "bench"))   # as when it runs as a script: its small_classifier
    spec = importlib.util.spec_from_file_location("bench_augmentation", ROOT / "bench" / "augmentation.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, "argv",
                        ["augmentation.py", "--quick", "--threads", "1", "--out", str(tmp_path / "a.json")])
    bench.main()
    result = json.loads((tmp_path / "a.json").read_text())
    arms = result["accuracy"]["100"]
    assert list(arms) == list(bench.ARMS) and all(len(v) == 1 for v in arms.values())
    assert all(0.3 < v[0] <= 1 for v in arms.values())   # every arm learns (chance is 0.1)
