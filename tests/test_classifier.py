"""The classifier that judges generated images: it learns, round-trips, and refuses bad files."""
import json

import pytest
import torch

from conftest import run_cli
from training import ModelLoadError
from training.checkpoint import save_weights_and_config
from training.evaluation.classifier import FEATURE_DIM, augment, load_classifier, train_classifier
from training.precision import cpu_has_amx, use_bfloat16


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("clf")
    last = train_classifier(out, epochs=2, limit=3000, eval_limit=1000, threads=2, progress=False,
                            command="test")
    return out, last


@pytest.mark.slow
def test_short_training_learns_and_writes_files(trained):
    out, last = trained
    assert last["test_accuracy"] > 0.6  # 10 categories: chance is 0.1
    meta = json.loads((out / "classifier.json").read_text())
    assert meta["epoch"] == 2 and meta["command"] == "test" and len(meta["history"]) == 2
    assert meta["test_images"] == 1000
    assert meta["training"]["bfloat16"] == cpu_has_amx()  # emulated bfloat16 is ~10× slower


def test_precision_choice(monkeypatch):
    """"auto" is bfloat16 where AMX runs it: on this CPU's word, unless oneDNN is capped below AMX
    (then bfloat16 would be emulated, ~10× slower, as on a machine without AMX)."""
    amx = "amx_bf16" in open("/proc/cpuinfo").read()
    for cap, usable in ((None, amx), ("ALL", amx), ("avx512_core_amx", amx), ("AVX2", False),
                        ("AVX512_CORE", False)):
        for variable in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
            monkeypatch.delenv(variable, raising=False)
        if cap:
            monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        cpu_has_amx.cache_clear()
        assert cpu_has_amx() == usable and use_bfloat16("auto") == usable, cap
    cpu_has_amx.cache_clear()   # read again, under the environment the suite runs in
    assert use_bfloat16("bf16") and not use_bfloat16("fp32")
    with pytest.raises(ValueError, match="'fp16'.*auto, bf16, fp32"):
        use_bfloat16("fp16")


@pytest.mark.slow
def test_round_trip_and_features(trained, dataset):
    out, last = trained
    model = load_classifier(out)
    x = torch.from_numpy(dataset.test_images[:8].copy()).float().div(255).unsqueeze(1)
    with torch.no_grad():
        assert model.features(x).shape == (8, FEATURE_DIM)
        assert model(x).shape == (8, 10)
        assert torch.equal(model(x), load_classifier(out)(x))
    assert model.info["test_accuracy"] == last["test_accuracy"]


@pytest.mark.slow
def test_corrupt_or_missing_classifier_is_refused(trained, tmp_path):
    with pytest.raises(ModelLoadError, match="no classifier"):
        load_classifier(tmp_path)
    out, _ = trained
    for f in ("classifier.json", "classifier.safetensors"):
        (tmp_path / f).write_bytes((out / f).read_bytes())
    (tmp_path / "classifier.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(ModelLoadError, match="does not match"):
        load_classifier(tmp_path)


def test_augmentation_keeps_shape_and_range():
    x = torch.rand(16, 1, 28, 28)
    y = augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert not torch.equal(x, y)


def test_cli_help_and_bad_arguments():
    assert run_cli("classifier", "--help").returncode == 0
    r = run_cli("classifier", "--out", "x", "--epochs", "0")
    assert r.returncode == 2 and "--epochs" in r.stderr
    r = run_cli("classifier", "--out", "x", "--architecture", "vgg")
    assert r.returncode == 2 and "--architecture: invalid choice: 'vgg'" in r.stderr


@pytest.mark.slow
def test_the_independent_judge_has_its_own_architecture_and_round_trips(tmp_path, dataset):
    """The residual judge: another network than the first (pooled, not flattened, features of
    another width; no dropout), recorded as such, loaded as such; a classifier.json naming no known
    architecture is refused in one line."""
    from torch import nn

    from training.evaluation.classifier import build_classifier, feature_dim
    first, second = build_classifier("conv3"), build_classifier("residual")
    assert (feature_dim(first), feature_dim(second)) == (256, 128)
    kinds = [{type(m) for m in net.modules()} for net in (first, second)]
    assert nn.AdaptiveAvgPool2d in kinds[1] - kinds[0] and nn.Dropout in kinds[0] - kinds[1]
    last = train_classifier(tmp_path, epochs=2, limit=3000, eval_limit=500, threads=2, progress=False,
                            seed=1, architecture="residual")
    assert last["test_accuracy"] > 0.5
    meta = json.loads((tmp_path / "classifier.json").read_text())
    assert (meta["architecture"], meta["feature_dim"]) == ("residual", 128)
    model = load_classifier(tmp_path)
    x = torch.from_numpy(dataset.test_images[:8].copy()).float().div(255).unsqueeze(1)
    with torch.no_grad():
        assert model.features(x).shape == (8, 128) and feature_dim(model) == 128
        assert torch.equal(model(x), load_classifier(tmp_path)(x))
    meta["architecture"] = "transformer"   # the edited config, signed again
    save_weights_and_config(model, tmp_path / "classifier.safetensors", tmp_path / "classifier.json", meta)
    with pytest.raises(ModelLoadError, match=r"classifier.json: classifier architecture 'transformer': "
                                             r"expected one of conv3, residual"):
        load_classifier(tmp_path)
