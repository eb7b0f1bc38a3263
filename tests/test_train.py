"""The training loop on real data: it learns, checkpoints atomically, resumes exactly, stops on NaN."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, run_cli
from training import load_model
from training import train as train_mod
from training.presets import COMMON_DEFAULTS, PRESETS

QUICK = ["--limit", "2048", "--eval-limit", "256", "--batch-size", "64", "--precision", "fp32",
         "--threads", "1", "--seed", "3", "--quiet"]


def _args(**over):
    a = {"config": "default", **COMMON_DEFAULTS, **PRESETS["default"], "threads": 1}
    a.update(limit=1024, eval_limit=256, batch_size=64, precision="fp32", epochs=2)
    a.update(over)
    return a


def test_short_training_lowers_the_loss_and_writes_a_checkpoint(tmp_path):
    out = train_mod.run(_args(epochs=3), tmp_path / "run", progress=False, command="test")
    history = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    first, last = history[0]["test"], history[-1]["test"]
    assert last["neg_elbo"] < first["neg_elbo"] - 5
    assert last["recon_mse"] < first["recon_mse"]
    meta = json.loads((out / "model.json").read_text())
    assert meta["epoch"] == 3 and meta["likelihood"] == PRESETS["default"]["likelihood"] and meta["command"] == "test"
    assert meta["training"]["lr"] == PRESETS["default"]["lr"] and len(meta["dataset"]["checksum"]) == 64
    assert meta["metrics"] == last
    # the checkpoint really is the trained model: its test metrics reproduce
    again = train_mod.test_metrics(load_model(out), train_mod.fmnist.to_tensor(
        train_mod.fmnist.load(allow_download=False).test_images[:256]), meta["likelihood"], meta["log_sigma"], seed=3)
    assert again["recon_mse"] == pytest.approx(last["recon_mse"], rel=1e-4)
    # resume state loads without unpickling code
    state = torch.load(out / "resume.pt", weights_only=True)
    assert state["epoch"] == 3
    assert not list(out.glob(".*.tmp"))


def _weights(d):
    return load_file(str(d / "model.safetensors"))


def test_kill_and_resume_equals_uninterrupted(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    r = run_cli("train", "--out", full, "--epochs", "3", *QUICK)
    assert r.returncode == 0, r.stderr
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "training", "train", "--out", str(killed), "--epochs", "3", *QUICK],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert "epoch 1:" in p.stdout.readline()  # epoch 1 is checkpointed before this line is printed
    time.sleep(0.8)                          # now somewhere inside epoch 2
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert json.loads((killed / "model.json").read_text())["epoch"] == 1, "kill came too late to test resume"
    assert load_model(killed) is not None  # the surviving checkpoint loads
    r = run_cli("train", "--out", killed, "--resume", "--epochs", "3", "--quiet")
    assert r.returncode == 0, r.stderr
    a, b = _weights(full), _weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    meta = json.loads((killed / "model.json").read_text())
    assert meta["epoch"] == 3 and "--resume" not in meta["command"] and "--resume" in meta["resumed_with"][0]
    assert len((killed / "metrics.jsonl").read_text().splitlines()) == 3


# Runs the training CLI with os.replace wrapped: at the chosen rename of epoch 2's checkpoint the
# process announces itself and hangs, so the test can SIGKILL it exactly mid-write.
_PAUSING_LAUNCHER = """
import os, sys, time
real_replace, seen = os.replace, {}
def replace(src, dst, *a, **k):
    name = os.path.basename(str(dst))
    seen[name] = seen.get(name, 0) + 1
    if name == os.environ["PAUSE_AT"] and seen[name] == 2:  # the second epoch's write of that file
        open(os.environ["PAUSE_MARKER"], "w").close()
        time.sleep(120)
    return real_replace(src, dst, *a, **k)
os.replace = replace
from training.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("pause_at, surviving_epoch", [("model.safetensors", 1), ("model.json", 2)])
def test_sigkill_during_a_checkpoint_write_leaves_a_loadable_checkpoint(tmp_path, pause_at, surviving_epoch):
    run, marker = tmp_path / "run", tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PAUSE_AT": pause_at, "PAUSE_MARKER": str(marker)}
    p = subprocess.Popen([sys.executable, "-c", _PAUSING_LAUNCHER, "train", "--out", str(run), "--epochs", "3", *QUICK],
                         cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not marker.exists():
        assert p.poll() is None and time.time() < deadline, "training never reached epoch 2's checkpoint"
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # Killed before the new weights replaced the old ones: epoch 1 survives. Killed after, but
    # before the new config replaced the old one: the pending config matches the new weights.
    model = load_model(run)
    assert model.info["epoch"] == surviving_epoch
    torch.testing.assert_close(model.state_dict()["to_mu.weight"], _weights(run)["to_mu.weight"])
    r = run_cli("train", "--out", run, "--resume", "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "model.json").read_text())["epoch"] == 3 and load_model(run).info["epoch"] == 3
    assert not (run / "model.json.next").exists() and not list(run.glob(".*.tmp"))


def test_random_hflip_mirrors_about_half_the_images_and_nothing_else():
    x = torch.rand(2000, 1, 28, 28)  # random images are never their own mirror
    y = train_mod.random_hflip(x, torch.Generator().manual_seed(0))
    same = (y == x).flatten(1).all(1)
    mirrored = (y == x.flip(-1)).flatten(1).all(1)
    assert bool((same ^ mirrored).all()), "each image is either kept or mirrored, exactly"
    assert 0.45 < mirrored.float().mean().item() < 0.55
    again = train_mod.random_hflip(x, torch.Generator().manual_seed(0))
    assert torch.equal(y, again), "the flips are a function of the generator"


@pytest.mark.parametrize("decay", [0.0, 0.05])
def test_weight_decay_shrinks_weights_by_lr_times_decay(decay):
    # With a zero gradient Adam's step is 0, so only the decoupled decay moves the weight:
    # w ← w (1 − lr·λ) exactly; λ = 0 is plain Adam, which leaves it alone.
    w = torch.nn.Parameter(torch.full((4,), 2.0))
    opt = train_mod.make_optimizer([w], {"lr": 0.01, "weight_decay": decay})
    assert isinstance(opt, torch.optim.AdamW) == (decay > 0)
    w.grad = torch.zeros_like(w)
    opt.step()
    torch.testing.assert_close(w.detach(), torch.full((4,), 2.0 * (1 - 0.01 * decay)))


@pytest.mark.parametrize("warmup", [0, 2])
def test_kl_weight_rises_linearly_over_the_warmup_then_stays_at_beta(warmup):
    steps = 4
    a = {"beta": 0.5, "kl_warmup": warmup}
    got = [train_mod.kl_weight(a, e, s, steps) for e in range(4) for s in range(steps)]
    want = [0.5 * min(1.0, (i + 1) / (warmup * steps)) if warmup else 0.5 for i in range(4 * steps)]
    assert got == pytest.approx(want)
    assert train_mod.kl_weight({"beta": 1.0}, 0, 0, steps) == 1.0, "runs saved before the flag have no warm-up"


def test_training_steps_use_the_warmed_up_kl_weight(tmp_path, monkeypatch):
    seen, real = [], train_mod.train_step
    monkeypatch.setattr(train_mod, "train_step", lambda *a: seen.append(a[-1]) or real(*a))
    out = train_mod.run(_args(epochs=2, limit=256, kl_warmup=1), tmp_path / "run", progress=False)
    assert seen == pytest.approx([0.25, 0.5, 0.75, 1.0] + [1.0] * 4)  # 256 images in batches of 64
    assert json.loads((out / "model.json").read_text())["training"]["kl_warmup"] == 1


def test_resume_with_flips_weight_decay_and_warmup_equals_uninterrupted(tmp_path):
    # constant rate: a cosine schedule stretches with --epochs, so a shorter first leg would differ
    a = _args(epochs=3, limit=512, hflip=True, weight_decay=0.05, kl_warmup=1, schedule="constant")
    train_mod.run(dict(a), tmp_path / "full", progress=False)
    train_mod.run(dict(a, epochs=2), tmp_path / "split", progress=False)
    train_mod.run(dict(a), tmp_path / "split", resume=True, progress=False)
    x, y = _weights(tmp_path / "full"), _weights(tmp_path / "split")
    assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    plain = _args(epochs=3, limit=512, schedule="constant")
    train_mod.run(dict(plain), tmp_path / "plain", progress=False)
    z = _weights(tmp_path / "plain")
    assert not torch.equal(x["to_mu.weight"], z["to_mu.weight"]), "the flags changed nothing"


def test_average_weight_copies_first_then_ramps_up_to_the_decay():
    assert train_mod.average_weight(0.999, 0) == 1.0  # the first update copies the weights
    assert train_mod.average_weight(0.999, 1) == pytest.approx(1 - 2 / 11)
    assert train_mod.average_weight(0.999, 90) == pytest.approx(1 - 91 / 100)
    assert train_mod.average_weight(0.999, 10**6) == pytest.approx(0.001)
    assert train_mod.average_weight(0.5, 20) == pytest.approx(0.5)  # the ramp stops at the decay


def test_ema_saves_the_moving_average_of_the_weights_and_resumes_exactly(tmp_path, monkeypatch):
    a = _args(epochs=2, limit=256, schedule="constant", ema_decay=0.9)
    steps, real = [], train_mod.train_step
    monkeypatch.setattr(train_mod, "train_step",
                        lambda *args: (real(*args), steps.append(args[0].to_mu.weight.detach().clone()))[0])
    out = train_mod.run(dict(a), tmp_path / "full", progress=False)
    expected = steps[0]
    for k, w in enumerate(steps[1:], 1):  # the average by hand, from the weights after every step
        expected = expected + train_mod.average_weight(0.9, k) * (w - expected)
    saved, state = _weights(out), torch.load(out / "resume.pt", weights_only=True)
    assert len(steps) == 8
    torch.testing.assert_close(saved["to_mu.weight"], expected)
    assert torch.equal(state["model"]["to_mu.weight"], steps[-1]) and not torch.equal(expected, steps[-1])
    assert torch.equal(state["averaged"]["to_mu.weight"], saved["to_mu.weight"])
    meta = json.loads((out / "model.json").read_text())
    assert meta["training"]["ema_decay"] == 0.9
    again = train_mod.test_metrics(load_model(out), train_mod.fmnist.to_tensor(
        train_mod.fmnist.load(allow_download=False).test_images[:256]), meta["likelihood"], meta["log_sigma"], seed=3)
    assert again["recon_mse"] == pytest.approx(meta["metrics"]["recon_mse"], rel=1e-4)  # the logged metrics are the average's
    train_mod.run(dict(a, epochs=1), tmp_path / "split", progress=False)
    train_mod.run(dict(a), tmp_path / "split", resume=True, progress=False)
    split = _weights(tmp_path / "split")
    assert all(torch.equal(saved[k], split[k]) for k in saved)


def test_resume_from_moments_saved_in_the_other_memory_layout(tmp_path):
    # Runs checkpointed before training went channels-last saved Adam's moments in the default
    # layout; the fused kernel pairs elements by memory position, so they must be re-laid out.
    from training.checkpoint import load_resume_state, save_resume_state
    a = _args(epochs=2, limit=512, weight_decay=0.05)
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
    (["train", "--out", "x", "--decoder-channels", "256,128"], "--decoder-channels: '256,128': expected 3 positive integers like 256,128,64"),
    (["train", "--out", "x", "--decoder-refine", "-4"], "--decoder-refine: '-4' must be a finite number ≥ 0"),
    (["train", "--out", "x", "--weight-decay", "-0.1"], "--weight-decay: '-0.1' must be a finite number ≥ 0"),
    (["train", "--out", "x", "--weight-decay", "nan"], "--weight-decay: 'nan' must be a finite number ≥ 0"),
    (["train", "--out", "x", "--encoder-kernels", "3,3"], "--encoder-kernels: '3,3': expected 4 positive integers"),
    (["train", "--out", "x", "--encoder-head", "512,0"], "--encoder-head: '512,0': expected positive integers like 512 or 512,512, or none"),
    (["train", "--out", "x", "--encoder-head", "wide"], "--encoder-head: 'wide': expected positive integers"),
    (["train", "--out", "x", "--decoder-head", "0"], "--decoder-head: '0': expected positive integers like 512 or 512,512, or none"),
    (["train", "--out", "x", "--kl-warmup", "1.5"], "--kl-warmup: '1.5' is not"),
    (["train", "--out", "x", "--free-bits", "-0.5"], "--free-bits: '-0.5' must be a finite number ≥ 0"),
    (["train", "--out", "x", "--ema-decay", "1"], "--ema-decay: '1' must be below 1 (e.g. 0.999; 0 = no average)"),
    (["train", "--out", "x", "--ema-decay", "-0.9"], "--ema-decay: '-0.9' must be a finite number ≥ 0"),
    (["embed", "--checkpoint", "x", "--out", "y", "--split", "val"], "invalid choice: 'val'"),
])
def test_cli_rejects_bad_arguments(argv, needle):
    r = run_cli(*argv)
    assert r.returncode == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_cli_capacity_and_regularisation_flags_reach_the_saved_run(tmp_path):
    r = run_cli("train", "--out", tmp_path / "r", "--epochs", "1", "--decoder-channels", "32,16,8",
                "--decoder-refine", "8", "--weight-decay", "0.01", "--hflip",
                "--encoder-kernels", "4,3,4,2", "--decoder-kernels", "2,3,4,6", "--encoder-head", "24,12",
                "--decoder-head", "20", "--ema-decay", "0.5", *QUICK)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "r" / "model.json").read_text())
    assert meta["architecture"]["decoder_channels"] == [32, 16, 8] and meta["architecture"]["decoder_refine"] == 8
    assert meta["training"]["weight_decay"] == 0.01 and meta["training"]["hflip"] is True and meta["training"]["ema_decay"] == 0.5
    assert meta["architecture"]["encoder_kernels"] == [4, 3, 4, 2] and meta["architecture"]["decoder_kernels"] == [2, 3, 4, 6]
    assert meta["architecture"]["encoder_head"] == [24, 12] and meta["training"]["encoder_head"] == [24, 12]
    assert meta["architecture"]["encoder_head_residual"] is True  # --config default's, which the flag left alone
    assert meta["architecture"]["decoder_head"] == [20] and meta["training"]["decoder_head"] == [20]
    assert "--decoder-refine 8" in meta["command"] and "--hflip" in meta["command"]
    model = load_model(tmp_path / "r")
    assert model.decoder[-1].in_channels == 8 and model.head_to_mu.in_features == 12
    assert (model.head_to_features.in_features, model.head_to_features.out_features) == (20, 512)


def test_cli_rejects_a_warmup_that_never_reaches_the_elbo(tmp_path):
    r = run_cli("train", "--out", tmp_path / "w", "--epochs", "3", "--kl-warmup", "3", *QUICK)
    assert r.returncode == 1 and not (tmp_path / "w").exists()
    assert r.stderr.strip().splitlines()[-1].endswith(
        "--kl-warmup 3: expected fewer epochs than --epochs 3, so that training ends on the ELBO itself"), r.stderr


def test_encoder_head_flags_override_the_preset():
    from training.cli import build_parser, training_args
    parse = lambda *argv: training_args(build_parser().parse_args(["train", "--out", "x", *argv]))
    assert (parse()["encoder_head"], parse()["encoder_head_residual"]) == ((512, 512), True)
    assert (parse("--config", "paper")["encoder_head"], parse("--config", "paper")["encoder_head_residual"]) == ((), False)
    plain = parse("--encoder-head", "512", "--no-encoder-head-residual")
    assert (plain["encoder_head"], plain["encoder_head_residual"]) == ([512], False)
    none = parse("--encoder-head", "none")  # the paper's linear heads under --config default
    assert (none["encoder_head"], none["encoder_head_residual"]) == ([], False)
    assert parse()["decoder_head"] == () and parse("--decoder-head", "512,256")["decoder_head"] == [512, 256]
    assert parse("--decoder-head", "none")["decoder_head"] == []


def test_cli_rejects_a_residual_encoder_head_without_widths(tmp_path):
    r = run_cli("train", "--out", tmp_path / "r", "--epochs", "1", "--encoder-head-residual", "--config", "paper", *QUICK)
    assert r.returncode == 1 and not (tmp_path / "r").exists()
    assert r.stderr.strip().splitlines()[-1].endswith(
        "--encoder-head-residual: adds the --encoder-head layers to the linear heads; "
        "expected --encoder-head widths with it"), r.stderr


def test_free_bits_reach_the_training_step_and_the_saved_run(tmp_path, monkeypatch):
    import training.losses as losses
    seen, real = [], losses.vae_loss
    # the training step passes the floor as the 8th argument; the test metrics never pass one
    monkeypatch.setattr(train_mod, "vae_loss", lambda *a, **k: seen.extend(a[7:]) or real(*a, **k))
    r = run_cli("train", "--out", tmp_path / "fb", "--epochs", "1", "--free-bits", "0.5", *QUICK)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "fb" / "model.json").read_text())["training"]["free_bits"] == 0.5
    train_mod.run(_args(epochs=1, limit=128, free_bits=0.25), tmp_path / "run", progress=False)
    assert seen == [0.25, 0.25]  # 128 images in batches of 64
    r = run_cli("train", "--out", tmp_path / "s", "--config", "seed-code", "--free-bits", "0.5", *QUICK)
    assert r.returncode == 1 and not (tmp_path / "s").exists()
    assert r.stderr.strip().splitlines()[-1].endswith("expected --free-bits 0 with it"), r.stderr


def test_cli_reports_missing_data_and_model(tmp_path):
    r = run_cli("train", "--out", tmp_path / "r", "--data-dir", tmp_path / "empty", "--epochs", "1")
    assert r.returncode == 1 and "file not found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("embed", "--checkpoint", tmp_path, "--out", tmp_path / "e")
    assert r.returncode == 1 and "model.json: not found" in r.stderr
    r = run_cli("train", "--out", tmp_path / "r2", "--resume")
    assert r.returncode == 1 and "no resume state" in r.stderr


def test_help_for_every_command():
    for cmd in ("train", "embed", "figure", "classifier"):
        r = run_cli(cmd, "--help")
        assert r.returncode == 0 and "--out" in r.stdout
