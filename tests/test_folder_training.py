"""Training on a folder of your own images (train --data): the architecture scaled to 32 and 64 pixels
and to RGB, what model.json records, an exact resume, and Fashion-MNIST's defaults left as they were."""
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import run_cli
from training import load_model
from training.fit.presets import SCALED
from training.model import VAE, VAEConfig

QUICK = ["--epochs", "1", "--batch-size", "8", "--precision", "fp32", "--threads", "1", "--quiet"]


def _colour_folder(root, size=40, per_category=12):
    """Two categories of colour images: red discs and blue squares of random sizes and places."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    for name, colour in (("discs", (220, 40, 30)), ("squares", (30, 60, 230))):
        (root / name).mkdir(parents=True)
        for i in range(per_category):
            r, cy, cx = rng.integers(5, 12), rng.integers(12, size - 12), rng.integers(12, size - 12)
            mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r) if name == "discs" else \
                ((abs(yy - cy) < r) & (abs(xx - cx) < r))
            image = np.zeros((size, size, 3), np.uint8)
            image[mask] = colour
            Image.fromarray(image).save(root / name / f"{i:02d}.png")
    return root


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize("size, channels", [(32, 3), (64, 3), (64, 1)])
def test_the_scaled_architectures_see_and_paint_every_pixel(size, channels):
    config = VAEConfig(image_size=size, channels=channels, encoder_head=(512, 512), **SCALED[size])
    assert config.encoder_view() == config.decoder_painted() == size
    model = VAE(config)
    mu, logvar = model.encode(torch.rand(2, channels, size, size))
    assert mu.shape == logvar.shape == (2, 128)
    assert model.decode(mu).shape == (2, channels, size, size)


def test_fashion_mnist_models_record_what_they_did_before():
    assert "image_size" not in VAEConfig().to_dict() and "channels" not in VAEConfig().to_dict()
    assert VAEConfig.from_dict(VAEConfig(image_size=32, channels=3, **SCALED[32]).to_dict()).channels == 3
    with pytest.raises(ValueError, match="channels must be 1 .grey. or 3 .RGB., got 2"):
        VAEConfig(channels=2)
    with pytest.raises(ValueError, match="cannot reach 32×32"):
        VAE(VAEConfig(image_size=32))   # Fashion-MNIST's kernels do not reach 32


def test_training_on_a_colour_folder_records_it_and_resumes_exactly(tmp_path):
    folder = _colour_folder(tmp_path / "shapes")
    r = run_cli("train", "--data", folder, "--out", tmp_path / "two", *QUICK[:-1], "--epochs", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "two" / "model.json").read_text())
    assert meta["architecture"]["image_size"] == 32 and meta["architecture"]["channels"] == 3
    assert meta["architecture"]["encoder_kernels"] == list(SCALED[32]["encoder_kernels"])
    dataset = meta["dataset"]
    assert dataset["categories"] == ["discs", "squares"] and dataset["split"]["source"] == "seeded"
    assert (dataset["train_images"], dataset["test_images"]) == (20, 4)   # 2 of each 12 for testing
    assert meta["training"]["data"] == str(folder.resolve())
    model = load_model(tmp_path / "two")
    assert model.decode(torch.zeros(1, 128)).shape == (1, 3, 32, 32)
    # one epoch, then --resume to two: the same weights as two at once
    assert run_cli("train", "--data", folder, "--out", tmp_path / "one", *QUICK).returncode == 0
    r = run_cli("train", "--out", tmp_path / "one", "--resume", "--epochs", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    a, b = (load_file(tmp_path / run / "model.safetensors") for run in ("two", "one"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a folder that changed since the run began is refused
    Image.fromarray(np.full((40, 40, 3), 9, np.uint8)).save(folder / "discs" / "new.png")
    r = run_cli("train", "--out", tmp_path / "one", "--resume", "--epochs", "3", "--quiet")
    assert r.returncode == 1 and "the folder changed since this run started" in r.stderr
    assert r.stderr.count("\n") == 1


def test_grey_folders_train_at_28_and_flags_need_a_folder(tmp_path):
    root = tmp_path / "digits"
    for c in range(3):
        (root / str(c)).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8), 40 * c + 5 * i, np.uint8)).save(root / str(c) / f"{i}.png")
    r = run_cli("train", "--data", root, "--out", tmp_path / "run", *QUICK)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert "image_size" not in meta["architecture"] and meta["dataset"]["channels"] == 1
    assert meta["dataset"]["image_size"] == 28
    r = run_cli("train", "--data", root, "--out", tmp_path / "rgb", "--channels", "3", *QUICK)
    assert r.returncode == 0 and json.loads((tmp_path / "rgb" / "model.json").read_text())[
        "architecture"]["channels"] == 3
    r = run_cli("train", "--out", tmp_path / "x", "--image-size", "32", *QUICK)
    assert r.returncode == 1 and "--image-size: only with --data DIR" in r.stderr


def test_embed_follows_the_models_folder(tmp_path):
    import onnxruntime

    from training.inference import decode_pixels
    folder = _colour_folder(tmp_path / "shapes")
    run = tmp_path / "run"
    assert run_cli("train", "--data", folder, "--out", run, *QUICK).returncode == 0
    r = run_cli("embed", "--checkpoint", run, "--out", run, "--maps", "pca", "--threads", "1")
    assert r.returncode == 0, r.stderr
    e = np.load(run / "embeddings.npz")
    info = json.loads((run / "embeddings.json").read_text())
    assert info["categories"] == ["discs", "squares"] and info["folder"] == str(folder.resolve())
    assert e["mu"].shape == (4, 128) and sorted(e["labels"].tolist()) == [0, 0, 1, 1]   # the 4 test images
    assert e["category_mean"].shape == (2, 128) and e["category_count"].tolist() == [10, 10]
    model = load_model(run)
    pictures = decode_pixels(model, e["category_mean"])
    assert pictures.shape == (2, 32, 32, 3)   # colour images, channels last, as the app shows them
    session = onnxruntime.InferenceSession(str(run / "decoder.onnx"))
    browser = session.run(None, {"z": e["category_mean"].astype(np.float32)})[0]
    assert browser.shape == (2, 3, 32, 32)
    assert np.abs(browser.transpose(0, 2, 3, 1) - pictures).max() < 1e-4
    # generate draws the folder's categories, by its names
    r = run_cli("generate", "--checkpoint", run, "--all", "--n", "3", "--out", tmp_path / "all.npz")
    assert r.returncode == 0, r.stderr
    drawn = np.load(tmp_path / "all.npz")
    assert drawn["images"].shape == (6, 32, 32, 3) and drawn["labels"].tolist() == [0, 0, 0, 1, 1, 1]
    r = run_cli("generate", "--checkpoint", run, "--category", "squa", "--n", "2",
                "--out", tmp_path / "s.npz")
    assert r.returncode == 0 and np.load(tmp_path / "s.npz")["labels"].tolist() == [1, 1]
    r = run_cli("generate", "--checkpoint", run, "--category", "Sneaker", "--n", "2",
                "--out", tmp_path / "x.npz")
    assert r.returncode == 1 and "expected one of discs, squares" in r.stderr
    r = run_cli("generate", "--checkpoint", run, "--all", "--n", "2", "--sampler", "prior", "--out",
                tmp_path / "p.npz")
    assert r.returncode == 1 and "no classifier to judge this model" in r.stderr
    assert "classifier --data" in r.stderr
    # the sample sheet: one column per category, in colour; ten rows with the clusters embed stored
    assert run_cli("figure", "--checkpoint", run, "--out", tmp_path / "sheet.png").returncode == 0
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.mode == "RGB" and sheet.size == (170 + 3 * (2 * 34 + 2), 10 * 3 * 36)
    # the folder changed: embedding it again is refused in one line
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(folder / "squares" / "extra.png")
    r = run_cli("embed", "--checkpoint", run, "--out", run, "--maps", "pca")
    assert r.returncode == 1 and "the folder changed since the model was trained" in r.stderr


def test_a_small_folder_trains_for_at_least_five_thousand_steps_unless_epochs_are_given(tmp_path):
    """The preset's 50 epochs are 600 steps on 1,540 digits, too few (notes, step 39); a folder as
    large as Fashion-MNIST, or a run given --epochs, keeps its number."""
    from training.cli import build_parser
    from training.commands.train import training_args
    from training.fit.train import epochs_for_steps, folder_tensors
    folder = _colour_folder(tmp_path / "shapes", per_category=12)   # 10 training images a category

    def resolved(*flags):
        ns = build_parser(only="train").parse_args(["train", "--data", str(folder), "--out", "x", *flags])
        args = training_args(ns)
        x_train, _, _ = folder_tensors(args, resumed=False, progress=False)
        return len(x_train), args["epochs"]

    n, epochs = resolved()
    assert n == 20 and epochs == math.ceil(5000 / 1) == 5000          # one batch of 128 an epoch
    assert resolved("--batch-size", "8") == (20, math.ceil(5000 / 3))  # 3 batches of 8 an epoch
    assert resolved("--epochs", "7") == (20, 7)
    assert epochs_for_steps(50, 5000, 60_000, 128) == 50              # 469 steps an epoch: as before
    assert epochs_for_steps(50, 5000, 1540, 128) == 385
    ns = build_parser(only="train").parse_args(["train", "--out", "x"])
    assert "min_steps" not in training_args(ns)                       # Fashion-MNIST records as before
