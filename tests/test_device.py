"""--device: the choice is resolved and refused clearly, files never name a device, and (where a CUDA
GPU is present: these tests are skipped elsewhere) every command runs on it and its runs resume on
the CPU. ``bash bench/gpu.sh`` times the GPU; these tests only check that the path works."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, run_cli
from training import device as D
from training import load_model
from training.precision import use_bfloat16

QUICK = ["--limit", "512", "--eval-limit", "128", "--batch-size", "64", "--seed", "3", "--quiet"]
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def test_auto_picks_the_accelerator_pytorch_sees():
    expected = torch.accelerator.current_accelerator(check_available=True)
    kind = expected.type if expected is not None and expected.type in ("cuda", "mps") else "cpu"
    assert D.resolve("auto").type == kind
    assert D.resolve("cpu") == torch.device("cpu")
    with pytest.raises(D.DeviceError, match="expected one of auto, cpu, cuda, mps"):
        D.resolve("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_a_missing_gpu_is_one_line_and_exit_1(tmp_path):
    r = run_cli("train", "--out", tmp_path / "run", "--epochs", "1", "--device", "cuda", *QUICK)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0
    assert "--device cuda: PyTorch" in r.stderr and "sees no CUDA GPU" in r.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_bfloat16_auto_follows_the_device():
    assert use_bfloat16("fp32", torch.device("cuda")) is False
    assert use_bfloat16("bf16", "cpu") is True
    assert use_bfloat16("auto", "mps") is False


def test_saved_states_hold_cpu_tensors_only():
    state = {"a": torch.ones(2), "b": [torch.zeros(1), (torch.ones(1), 3)], "c": "text"}
    moved = D.to_cpu(state)
    assert moved["c"] == "text" and isinstance(moved["b"][1], tuple) and moved["b"][1][1] == 3
    assert all(t.device.type == "cpu" for t in (moved["a"], moved["b"][0], moved["b"][1][0]))


def test_a_cpu_run_records_where_it_ran(tmp_path):
    r = run_cli("train", "--out", tmp_path / "run", "--epochs", "1", "--device", "cpu", "--threads", "1",
                *QUICK)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "run" / "model.json").read_text())
    assert meta["ran_on"] == {"device": "cpu", "processes": 1, "threads": 1}
    assert meta["training"]["device"] == "cpu"


@cuda
def test_a_gpu_run_loads_on_the_cpu_and_resumes_there(tmp_path):
    run = tmp_path / "run"
    r = run_cli("train", "--out", run, "--epochs", "2", "--device", "cuda", *QUICK)
    assert r.returncode == 0, r.stderr
    meta = json.loads((run / "model.json").read_text())
    assert meta["ran_on"]["device"].startswith("cuda")
    weights = load_file(run / "model.safetensors")
    assert all(t.device.type == "cpu" for t in weights.values())
    resume = torch.load(run / "resume.pt", weights_only=True)  # no map_location: nothing names the GPU
    assert all(t.device.type == "cpu" for t in resume["model"].values())
    model = load_model(run)  # the app's loader, on the CPU
    x = torch.rand(4, 1, 28, 28)
    assert model(x)[0].shape == (4, 1, 28, 28)
    r = run_cli("train", "--out", run, "--resume", "--epochs", "3", "--device", "cpu", "--quiet")
    assert r.returncode == 0, r.stderr
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in log] == [1, 2, 3]
    assert json.loads((run / "model.json").read_text())["ran_on"]["device"] == "cpu"


@cuda
def test_the_same_seed_trains_alike_on_gpu_and_cpu(tmp_path):
    """Same draws (CPU generators) on both; only the arithmetic differs, so the losses agree closely."""
    nelbo = {}
    for where in ("cpu", "cuda"):
        r = run_cli("train", "--out", tmp_path / where, "--epochs", "2", "--device", where,
                    "--precision", "fp32", *QUICK)
        assert r.returncode == 0, r.stderr
        nelbo[where] = json.loads((tmp_path / where / "model.json").read_text())["metrics"]["neg_elbo"]
    assert abs(nelbo["cuda"] - nelbo["cpu"]) / nelbo["cpu"] < 0.01, nelbo


@cuda
def test_every_command_runs_on_the_gpu(tmp_path):
    """finetune-decoder, embed, evaluate, generate, augment, classifier and encode with --device cuda."""
    run = tmp_path / "run"
    assert run_cli("train", "--out", run, "--epochs", "1", "--device", "cuda", *QUICK).returncode == 0
    t = tmp_path
    steps = [
        ("finetune-decoder", "--checkpoint", run, "--out", t / "sharp", "--epochs", "1", "--limit", 256,
         "--eval-limit", 128, "--quiet"),
        ("embed", "--checkpoint", run, "--out", run, "--limit", 300, "--maps", "pca",
         "--mixture-components", 2),
        ("classifier", "--out", t / "judge", "--epochs", 1, "--limit", 2000, "--eval-limit", 500, "--quiet"),
        ("evaluate", "--checkpoint", run, "--quick", "--classifier", t / "judge", "--parts",
         "iwae,samples,cas", "--quiet", "--out", t / "metrics.json"),
        ("generate", "--checkpoint", run, "--all", "--n", 5, "--sampler", "covariance", "--out", t / "g.npz"),
        ("augment", "--checkpoint", run, "--input", t / "g.npz", "--per-image", 2, "--out", t / "a.npz"),
        ("encode", ROOT / "docs" / "example-sneaker.png", "--checkpoint", "assets", "--out", t),
    ]
    for command, *args in steps:
        r = run_cli(command, *args, "--device", "cuda", cwd=ROOT)
        assert r.returncode == 0, f"{command}: {r.stderr[-1500:]}"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["device"].startswith("cuda") and np.isfinite(metrics["neg_elbo_nats"])
    with np.load(tmp_path / "a.npz") as a:
        assert a["images"].shape == (100, 28, 28)
