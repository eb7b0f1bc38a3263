"""The training loop on real data: it learns, checkpoints atomically, resumes exactly, stops on NaN."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, run_cli, run_process
from training import load_model
from training.fit import train as train_mod
from training.fit.presets import COMMON_DEFAULTS, PRESETS

QUICK = ["--limit", "512", "--eval-limit", "128", "--batch-size", "64", "--precision", "fp32",
         "--threads", "1", "--seed", "3", "--quiet"]
STEPS_PER_EPOCH = 512 // 64


def _args(**over):
    a = {"config": "default", **COMMON_DEFAULTS, **PRESETS["default"], "threads": 1}
    a.update(limit=1024, eval_limit=256, batch_size=64, precision="fp32", epochs=2)
    a.update(over)
    return a


@pytest.mark.slow
def test_short_training_lowers_the_loss_and_writes_a_checkpoint(tmp_path):
    out = train_mod.run(_args(epochs=3), tmp_path / "run", progress=False, command="test")
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    first, last = history[0]["test"], history[-1]["test"]
    assert last["neg_elbo"] < first["neg_elbo"] - 5
    assert last["recon_mse"] < first["recon_mse"]
    meta = json.loads((out / "model.json").read_text())
    assert meta["epoch"] == 3 and meta["likelihood"] == PRESETS["default"]["likelihood"]
    assert meta["command"] == "test"
    assert meta["training"]["lr"] == PRESETS["default"]["lr"] and len(meta["dataset"]["checksum"]) == 64
    assert meta["metrics"] == last
    # the checkpoint really is the trained model: its test metrics reproduce
    x_test = train_mod.fmnist.to_tensor(train_mod.fmnist.load(allow_download=False).test_images[:256])
    again = train_mod.test_metrics(load_model(out), x_test, meta["likelihood"], meta["log_sigma"], seed=3)
    assert again["recon_mse"] == pytest.approx(last["recon_mse"], rel=1e-4)
    # resume state loads without unpickling code
    state = torch.load(out / "resume.pt", weights_only=True)
    assert state["epoch"] == 3
    assert not list(out.glob(".*.tmp"))


def _weights(d):
    return load_file(str(d / "model.safetensors"))


# Runs the training CLI in its own process, which announces itself (a marker file) and hangs at a
# chosen point, so that the test can SIGKILL it exactly there: "step N", the N-th optimiser step, or
# a file name, just before the rename that writes that file for the second time (epoch 2).
_PAUSING_LAUNCHER = """
import os, sys, time
marker, where = os.environ["PAUSE_MARKER"], os.environ["PAUSE_AT"]
def pause():
    open(marker, "w").close()
    time.sleep(120)
if where.startswith("step "):
    import training.fit.train as t
    real_step, calls = t.train_step, [0]
    def step(*a, **k):
        calls[0] += 1
        if calls[0] == int(where.split()[1]):
            pause()
        return real_step(*a, **k)
    t.train_step = step
else:
    real_replace, seen = os.replace, {}
    def replace(src, dst, *a, **k):
        name = os.path.basename(str(dst))
        seen[name] = seen.get(name, 0) + 1
        if name == where and seen[name] == 2:
            pause()
        return real_replace(src, dst, *a, **k)
    os.replace = replace
from training.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _kill_training_at(pause_at: str, run, tmp_path) -> None:
    """Start `train --epochs 3` into ``run`` in a process of its own and SIGKILL it at ``pause_at``."""
    marker = tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PAUSE_AT": pause_at, "PAUSE_MARKER": str(marker)}
    argv = [sys.executable, "-c", _PAUSING_LAUNCHER, "train", "--out", str(run), "--epochs", "3", *QUICK]
    p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not marker.exists():
        assert p.poll() is None and time.time() < deadline, f"training never reached {pause_at}"
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()


@pytest.mark.slow
def test_kill_and_resume_equals_uninterrupted(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    r = run_cli("train", "--out", full, "--epochs", "3", *QUICK)
    assert r.returncode == 0, r.stderr
    _kill_training_at(f"step {STEPS_PER_EPOCH + 3}", killed, tmp_path)  # inside epoch 2
    assert json.loads((killed / "model.json").read_text())["epoch"] == 1
    assert load_model(killed) is not None  # the surviving checkpoint loads
    r = run_cli("train", "--out", killed, "--resume", "--epochs", "3", "--quiet")
    assert r.returncode == 0, r.stderr
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    meta = json.loads((killed / "model.json").read_text())
    assert meta["epoch"] == 3 and "--resume" not in meta["command"] and "--resume" in meta["resumed_with"][0]
    assert len((killed / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.slow
@pytest.mark.parametrize("pause_at, surviving_epoch", [("model.safetensors", 1), ("model.json", 2)])
def test_sigkill_during_a_checkpoint_write_leaves_a_loadable_checkpoint(tmp_path, pause_at, surviving_epoch):
    run = tmp_path / "run"
    _kill_training_at(pause_at, run, tmp_path)
    # Killed before the new weights replaced the old ones: epoch 1 survives. Killed after, but
    # before the new config replaced the old one: the pending config matches the new weights.
    model = load_model(run)
    assert model.info["epoch"] == surviving_epoch
    torch.testing.assert_close(model.state_dict()["to_mu.weight"], _weights(run)["to_mu.weight"])
    r = run_cli("train", "--out", run, "--resume", "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "model.json").read_text())["epoch"] == 3 and load_model(run).info["epoch"] == 3
    assert not (run / "model.json.next").exists() and not list(run.glob(".*.tmp"))


@pytest.mark.slow
def test_resume_from_moments_saved_in_the_other_memory_layout(tmp_path):
    # Runs checkpointed before training went channels-last saved Adam's moments in the default
    # layout; the fused kernel pairs elements by memory position, so they must be re-laid out.
    from training.checkpoint import load_resume_state, save_resume_state
    a = _args(epochs=2, limit=512)
    train_mod.run(dict(a), tmp_path / "full", progress=False)
    train_mod.run(dict(a, epochs=1), tmp_path / "old", progress=False)
    state = load_resume_state(tmp_path / "old")
    moments = [v for st in state["optimizer"]["state"].values() for v in st.values() if v.dim() == 4]
    assert moments and all(v.is_contiguous(memory_format=torch.channels_last) for v in moments)
    for st in state["optimizer"]["state"].values():
        for k, v in st.items():
            st[k] = v.contiguous()  # as an older checkpoint holds them
    save_resume_state(tmp_path / "old", state)
    train_mod.run(dict(a), tmp_path / "old", resume=True, progress=False)
    x, y = _weights(tmp_path / "full"), _weights(tmp_path / "old")
    assert all(torch.equal(x[k], y[k]) for k in x)


@pytest.mark.slow
def test_resume_can_extend_but_not_change_arguments(tmp_path):
    out = tmp_path / "run"
    train_mod.run(_args(epochs=1), out, progress=False)
    r = run_cli("train", "--out", out, "--resume", "--lr", "0.5")
    assert r.returncode == 1 and "--lr" in r.stderr and "keeps its own arguments" in r.stderr
    r = run_cli("train", "--out", out, "--epochs", "1")
    assert r.returncode == 1 and "already holds a run" in r.stderr
    r = run_cli("train", "--out", out, "--resume", "--quiet")  # no --epochs: the run's own 1 epoch, done
    assert r.returncode == 0 and "already trained for 1 epochs" in r.stdout, r.stdout + r.stderr
    train_mod.run(_args(epochs=2), out, resume=True, progress=False)
    assert json.loads((out / "model.json").read_text())["epoch"] == 2


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = train_mod.vae_loss

    def poisoned(*a, **k):
        t = real(*a, **k)
        calls["n"] += 1
        if calls["n"] > 1024 // 64 + 3:  # a few batches into epoch 2
            t.loss = t.loss * float("nan")
        return t

    monkeypatch.setattr(train_mod, "vae_loss", poisoned)
    out = tmp_path / "run"
    with pytest.raises(train_mod.TrainingError) as e:
        train_mod.run(_args(epochs=3), out, progress=False)
    msg = str(e.value)
    assert "non-finite" in msg and "epoch 2" in msg and "epoch 1) is kept" in msg
    assert json.loads((out / "model.json").read_text())["epoch"] == 1
    load_model(out)


@pytest.mark.parametrize("argv, needle", [
    (["train", "--out", "x", "--epochs", "0"], "--epochs: '0' must be a finite number > 0"),
    (["train", "--out", "x", "--lr", "fast"], "--lr: 'fast' is not a number"),
    (["train", "--out", "x", "--likelihood", "poisson"], "invalid choice: 'poisson'"),
    (["train", "--out", "x", "--beta", "-1"], "must be a finite number ≥ 0"),
    (["train"], "--out"),
    (["train", "--out", "x", "--sigma", "nan"], "--sigma: 'nan' must be a finite number > 0"),
    (["train", "--out", "x", "--decoder-channels", "256,128"],
     "--decoder-channels: '256,128': expected 3 positive integers like 256,128,64"),
    (["train", "--out", "x", "--encoder-kernels", "3,3"],
     "--encoder-kernels: '3,3': expected 4 positive integers"),
    (["train", "--out", "x", "--encoder-head", "512,0"],
     "--encoder-head: '512,0': expected positive integers like 512 or 512,512, or none"),
    (["train", "--out", "x", "--encoder-head", "wide"], "--encoder-head: 'wide': expected positive integers"),
    (["train", "--out", "x", "--weight-decay", "0.05"], "unrecognized arguments: --weight-decay 0.05"),
    (["embed", "--checkpoint", "x", "--out", "y", "--split", "val"], "invalid choice: 'val'"),
])
def test_cli_rejects_bad_arguments(argv, needle):
    code, _, err = run_cli(*argv)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_architecture_flags_reach_the_saved_run(tmp_path):
    r = run_cli("train", "--out", tmp_path / "r", "--epochs", "1", "--decoder-channels", "32,16,8",
                "--encoder-kernels", "4,3,4,2", "--decoder-kernels", "2,3,4,6", "--encoder-head", "24,12",
                *QUICK)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "r" / "model.json").read_text())
    arch = meta["architecture"]
    assert arch["decoder_channels"] == [32, 16, 8] and meta["training"]["decoder_channels"] == [32, 16, 8]
    assert arch["encoder_kernels"] == [4, 3, 4, 2] and arch["decoder_kernels"] == [2, 3, 4, 6]
    assert arch["encoder_head"] == [24, 12] and meta["training"]["encoder_head"] == [24, 12]
    assert meta["command"].startswith("python -m training train --out ")
    assert "--encoder-head 24,12" in meta["command"]
    model = load_model(tmp_path / "r")
    assert model.decoder[-1].in_channels == 8 and model.head_to_mu.in_features == 12


def test_encoder_head_flag_overrides_the_preset():
    from training.cli import build_parser
    from training.commands.train import training_args
    parse = lambda *argv: training_args(build_parser().parse_args(["train", "--out", "x", *argv]))  # noqa: E731
    assert parse()["encoder_head"] == (512, 512)
    assert parse("--config", "paper")["encoder_head"] == ()
    assert parse("--encoder-head",
                 "none")["encoder_head"] == []  # the paper's linear heads under --config default
    assert parse("--config", "paper", "--encoder-head", "256")["encoder_head"] == [256]


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory):
    """A run of one epoch on 128 images, to resume."""
    return train_mod.run(_args(epochs=1, limit=128, eval_limit=64), tmp_path_factory.mktemp("one") / "run",
                         progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("option, value, flag", [
    ("weight_decay", 0.05, "--weight-decay"), ("hflip", True, "--hflip"), ("kl_warmup", 10, "--kl-warmup"),
    ("free_bits", 0.5, "--free-bits"), ("ema_decay", 0.999, "--ema-decay"),
    ("decoder_refine", 16, "--decoder-refine"), ("decoder_head", [512], "--decoder-head")])
def test_a_run_with_a_retired_option_is_refused_neutral_values_resume(one_epoch, tmp_path, option, value,
                                                                       flag):
    from training.checkpoint import load_resume_state, save_resume_state
    from training.model import RETIRED_IN
    out = tmp_path / "run"
    shutil.copytree(one_epoch, out)
    state = load_resume_state(out)
    saved = json.loads(state["args_json"])
    neutral = {"weight_decay": 0.0, "hflip": False, "kl_warmup": 0, "free_bits": 0.0, "ema_decay": 0.0,
               "decoder_refine": 0, "decoder_head": [], "encoder_head_residual": True}
    save_resume_state(out, {**state, "args_json": json.dumps({**saved, **neutral, option: value})})
    with pytest.raises(train_mod.TrainingError) as e:
        train_mod.run(_args(epochs=2), out, resume=True, progress=False)
    assert str(e.value) == (f"{out}: trained with {flag}, an experiment that was not adopted; "
                            f"commit {RETIRED_IN} still has its code")
    # as runs of that commit saved them: every retired option at its neutral value
    save_resume_state(out, {**state, "args_json": json.dumps({**saved, **neutral})})
    train_mod.run(_args(epochs=2), out, resume=True, progress=False)
    assert load_model(out).info["epoch"] == 2


def test_cli_reports_missing_data_and_model(tmp_path):
    code, _, err = run_cli("train", "--out", tmp_path / "r", "--data-dir", tmp_path / "nowhere", "--epochs",
                           1)
    assert code == 1 and "file not found" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("embed", "--checkpoint", tmp_path, "--out", tmp_path / "e")
    assert code == 1 and "model.json: not found" in err
    r = run_process("train", "--out", tmp_path / "r2", "--resume")  # the process itself: exit code, one line
    assert r.returncode == 1 and "no resume state" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_help_for_every_command():
    from training.cli import COMMANDS
    for command in COMMANDS:
        code, out, _ = run_cli(command.name, "--help")
        assert code == 0 and command.description[:30] in " ".join(out.split())
        assert "--out" in out or command.name in ("encode", "data")   # these two write no directory
    code, out, _ = run_cli("train", "--help")
    for retired in ("--decoder-refine", "--decoder-head", "--weight-decay", "--hflip", "--kl-warmup",
                    "--ema-decay", "--free-bits", "--no-encoder-head-residual"):
        assert retired not in out
