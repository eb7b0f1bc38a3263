"""The training loop: read top to bottom.

The whole dataset lives in memory as one float tensor; a batch is an index slice of it. Each
epoch's shuffling and reparameterisation noise come from a generator seeded by (seed, epoch), so
an epoch is a pure function of the weights and optimiser state at its start — which is what
makes a resumed run end with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import copy
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from . import data as fmnist
from .data import random_hflip
from .checkpoint import (atomic_write_text, complete_interrupted_write, load_resume_state, remove_stale_temporaries,
                         save_resume_state, RESUME_FILE)
from .losses import PAPER_SIGMA, vae_loss
from .model import CONFIG_FILE, VAE, VAEConfig, WEIGHTS_FILE
from .precision import use_bfloat16
from .presets import ARCHITECTURE_FLAGS

METRICS_FILE = "metrics.jsonl"


class TrainingError(Exception):
    """Training cannot go on; the message is one line and says what was kept."""


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def learning_rate(args: dict, epoch: int) -> float:
    """Learning rate for a 0-based epoch: constant, or cosine decay to 1% of the initial value."""
    if args["schedule"] == "constant":
        return args["lr"]
    progress = epoch / max(1, args["epochs"] - 1)
    return args["lr"] * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def kl_weight(args: dict, epoch: int, step: int, steps: int) -> float:
    """β for optimiser step ``step`` (0-based) of ``steps`` in 0-based ``epoch``: with a KL warm-up of
    W epochs it rises linearly from β/(W·steps) to β over the first W epochs (Bowman et al. 2016,
    Sønderby et al. 2016), so the latent is used before the KL term starts pruning it; else β."""
    warmup = args.get("kl_warmup") or 0  # runs from before the flag existed had none
    if warmup <= 0:
        return args["beta"]
    return args["beta"] * min(1.0, (epoch * steps + step + 1) / (warmup * steps))


def average_weight(decay: float, updates: int) -> float:
    """Weight of the newest weights in the exponential moving average after ``updates`` earlier
    optimiser steps: 1 − min(decay, (1 + updates) / (10 + updates)). The ramp (TensorFlow's
    ``ExponentialMovingAverage`` with ``num_updates``) keeps the random initial weights from
    dominating the average while it has seen few steps; the first update copies the weights."""
    return 1.0 - min(decay, (1 + updates) / (10 + updates)) if updates else 1.0


@torch.no_grad()
def update_average(averaged: torch.nn.Module, model: torch.nn.Module, weight: float) -> None:
    """averaged ← averaged + weight · (model − averaged), parameter by parameter (buffers copied)."""
    torch._foreach_lerp_(list(averaged.parameters()), list(model.parameters()), weight)
    for a, b in zip(averaged.buffers(), model.buffers()):
        a.copy_(b)


def fixed_log_sigma(args: dict) -> float | None:
    if args["likelihood"] == "gaussian":
        return math.log(args["sigma"] if args["sigma"] else PAPER_SIGMA)
    return None


@torch.no_grad()
def test_metrics(model: VAE, x: torch.Tensor, likelihood: str, log_sigma: float | None,
                 seed: int = 0, batch_size: int = 1000) -> dict:
    """Negative ELBO (one sample of z), reconstruction MSE from μ, and KL, per image, in float32."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    sums = dict(neg_elbo=0.0, recon_nll=0.0, kl=0.0, recon_mse=0.0)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        logits, mu, logvar = model(xb, generator=g)
        t = vae_loss(xb, logits, mu, logvar, likelihood, log_sigma=log_sigma)
        n = len(xb)
        sums["neg_elbo"] += t.neg_elbo.item() * n
        sums["recon_nll"] += t.recon_nll.item() * n
        sums["kl"] += t.kl.item() * n
        sums["recon_mse"] += (model.decode(mu) - xb).pow(2).mean().item() * n
    return {k: v / len(x) for k, v in sums.items()}


def make_optimizer(params, args: dict) -> torch.optim.Optimizer:
    """Adam, or AdamW when ``weight_decay`` > 0 (decoupled: each step shrinks every weight by
    lr × weight_decay, whatever its gradient). Runs from before the flag existed used Adam."""
    decay = args.get("weight_decay") or 0.0
    if decay:
        return torch.optim.AdamW(params, lr=args["lr"], weight_decay=decay, fused=True)
    return torch.optim.Adam(params, lr=args["lr"], fused=True)  # fused: one kernel per step


def match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give every per-parameter state tensor (Adam's moments) its parameter's memory layout.

    A loaded state keeps the strides it was saved with, and the fused Adam kernels pair elements by
    memory position, not by index: moments saved in one layout (a run checkpointed before
    channels-last, or with bfloat16 on another machine) and applied to parameters in the other
    would be scrambled."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    optimizer.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def train_step(model, optimizer, xb, args, log_sigma, bf16: bool, generator=None, beta: float | None = None):
    """One optimiser step on a batch, with KL weight ``beta`` (default: ``args["beta"]``). Returns
    the loss terms, or None if the loss is not finite (then the weights are left untouched)."""
    xb = xb.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits, mu, logvar = model(xb, generator=generator)
    beta = args["beta"] if beta is None else beta
    # runs from before --free-bits existed had no floor
    t = vae_loss(xb, logits, mu, logvar, args["likelihood"], beta, log_sigma, args.get("free_bits") or 0.0)
    if not torch.isfinite(t.loss):
        return None
    optimizer.zero_grad(set_to_none=True)
    t.loss.backward()
    optimizer.step()
    return t


def write_log(path: Path, history: list) -> None:
    """One JSON line per completed epoch, written atomically."""
    atomic_write_text(path, "".join(json.dumps(h) + "\n" for h in history))


def resumed_run(out: Path, args: dict, command: str) -> tuple[dict, dict, int, list, float, list]:
    """The resume state of the run in ``out`` and what goes on from it: its own arguments (only
    --epochs and --threads may change), the epochs done, the history, the seconds spent and the
    commands so far plus ``command``. Leftovers of a write a kill interrupted are cleared first."""
    state = load_resume_state(out)
    saved = json.loads(state["args_json"])
    if args.get("epochs"):
        saved["epochs"] = args["epochs"]  # the one thing a resumed run may change
    saved["threads"] = args.get("threads") or saved.get("threads")  # same threads, same arithmetic
    commands = json.loads(state.get("commands_json", "[]")) + [command]
    remove_stale_temporaries(out)
    complete_interrupted_write(out / WEIGHTS_FILE, out / CONFIG_FILE)
    return state, saved, state["epoch"], json.loads(state["history_json"]), state["seconds"], commands


def non_finite_error(out: Path, history: list, epoch: int, step: int, what: str, hint: str) -> TrainingError:
    """The one-line error for a loss that became non-finite, saying which checkpoint survives."""
    kept = (f"the last good checkpoint (epoch {history[-1]['epoch']}) is kept in {out}"
            if history else "no checkpoint had been written yet")
    return TrainingError(f"loss became non-finite at epoch {epoch + 1}, batch {step + 1}: {what} stopped; "
                         f"{kept}. {hint}")


def _checkpoint(out, model, optimizer, args, epoch, history, dataset, commands, log_sigma, seconds, averaged=None):
    """model.safetensors holds the weights a user gets (the moving average with --ema-decay); the
    resume state holds what training goes on from (the optimised weights, their average, Adam)."""
    info = {
        "likelihood": args["likelihood"], "beta": args["beta"], "log_sigma": log_sigma,
        "epoch": epoch, "training": args, "command": commands[0], "resumed_with": commands[1:],
        "dataset": dataset, "metrics": history[-1]["test"], "train_seconds": round(seconds, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (averaged if averaged is not None else model).save_pretrained(out, info)
    save_resume_state(out, {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
        **({"averaged": averaged.state_dict()} if averaged is not None else {}),
        "torch_rng": torch.get_rng_state(), "args_json": json.dumps(args),
        "history_json": json.dumps(history), "seconds": seconds, "commands_json": json.dumps(commands),
    })
    write_log(out / METRICS_FILE, history)


def run(args: dict, out: str | os.PathLike, resume: bool = False, data_dir=None,
        command: str | None = None, progress: bool = True) -> Path:
    """Train (or resume) a model into ``out``. ``args`` holds every training argument."""
    out = Path(out)
    command = command or "python -m training train " + " ".join(map(shlex.quote, sys.argv[1:]))

    start_epoch, history, seconds = 0, [], 0.0
    commands = [command]  # the original command first, then any that resumed it
    state = None
    if resume:
        state, args, start_epoch, history, seconds, commands = resumed_run(out, args, command)
    elif (out / RESUME_FILE).exists():
        raise TrainingError(f"{out}: already holds a run; pass --resume to continue it or choose another --out")
    warmup = args.get("kl_warmup")  # runs from before the flag existed had none
    if warmup and warmup >= args["epochs"]:
        raise TrainingError(f"--kl-warmup {warmup}: expected fewer epochs than --epochs {args['epochs']}, "
                            "so that training ends on the ELBO itself")
    if args.get("free_bits") and args["likelihood"] == "seed-code":
        raise TrainingError(f"--free-bits {args['free_bits']}: the seed-code likelihood reproduces the published "
                            "loss as it was; expected --free-bits 0 with it")
    if args.get("encoder_head_residual") and not args.get("encoder_head"):
        raise TrainingError("--encoder-head-residual: adds the --encoder-head layers to the linear heads; "
                            "expected --encoder-head widths with it")
    decay = args.get("ema_decay") or 0.0  # runs from before the flag existed kept no average
    if not 0 <= decay < 1:
        raise TrainingError(f"--ema-decay {decay}: expected a number in [0, 1), e.g. 0.999 (0 = no average)")
    out.mkdir(parents=True, exist_ok=True)
    args["threads"] = args.get("threads") or torch.get_num_threads()
    torch.set_num_threads(args["threads"])

    data = fmnist.load(data_dir)
    x_train = fmnist.to_tensor(data.train_images[: args["limit"]])
    x_test = fmnist.to_tensor(data.test_images[: args["eval_limit"]])
    dataset = {"checksum": data.checksum, "train_images": len(x_train), "test_images": len(x_test)}

    torch.manual_seed(args["seed"])
    # runs resumed from before these flags existed used the defaults
    architecture = {name: args.get(name, getattr(VAEConfig, name)) for name in ARCHITECTURE_FLAGS}
    model = VAE(VAEConfig(latent_dim=args["latent_dim"], **architecture))
    model = model.to(memory_format=torch.channels_last)  # bench/memory_format.py: 1.1–1.2× in float32 too
    optimizer = make_optimizer(model.parameters(), args)
    averaged = copy.deepcopy(model) if decay else None
    served = averaged if averaged is not None else model  # the weights model.safetensors gets
    if state is not None:
        model.load_state_dict(state["model"])  # copies values into the channels-last parameters
        if averaged is not None:
            averaged.load_state_dict(state["averaged"])
        optimizer.load_state_dict(state["optimizer"])
        match_state_layout(optimizer)
        torch.set_rng_state(state["torch_rng"])
    bf16 = use_bfloat16(args["precision"])
    log_sigma = fixed_log_sigma(args)
    if start_epoch >= args["epochs"]:
        print(f"{out}: already trained for {start_epoch} epochs (--epochs {args['epochs']}); nothing to do")
        return out

    n, bs = len(x_train), args["batch_size"]
    steps = math.ceil(n / bs)
    for epoch in range(start_epoch, args["epochs"]):
        t0 = time.perf_counter()
        lr = learning_rate(args, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        g = epoch_generator(args["seed"], epoch)
        perm = torch.randperm(n, generator=g)
        model.train()
        totals = dict(loss=0.0, recon=0.0, kl=0.0, mse=0.0)
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{args['epochs']}", disable=not progress,
                   leave=True, mininterval=0.5 if sys.stderr.isatty() else 15, file=sys.stderr)
        for step in bar:
            xb = x_train[perm[step * bs:(step + 1) * bs]]
            if args.get("hflip"):  # drawn from the epoch's generator, so resuming stays exact
                xb = random_hflip(xb, g)
            t = train_step(model, optimizer, xb, args, log_sigma, bf16, g, kl_weight(args, epoch, step, steps))
            if t is None:
                raise non_finite_error(out, history, epoch, step, "training", "Try a lower --lr.")
            if averaged is not None:
                update_average(averaged, model, average_weight(decay, epoch * steps + step))
            totals["loss"] += t.loss.item(); totals["recon"] += t.recon_nll.item()
            totals["kl"] += t.kl.item(); totals["mse"] += t.mse.item()
            if step % 20 == 0:
                k = step + 1
                bar.set_postfix(nelbo=f"{(totals['recon'] + totals['kl']) / k:.1f}",
                                recon=f"{totals['recon'] / k:.1f}", kl=f"{totals['kl'] / k:.1f}", refresh=False)
        bar.close()
        train_mse = totals["mse"] / steps
        if args["likelihood"] == "gaussian-learned":
            log_sigma = 0.5 * math.log(train_mse)  # the σ fitted on this epoch's training data
        test = test_metrics(served, x_test, args["likelihood"], log_sigma, seed=args["seed"])
        seconds += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "lr": lr, "seconds": round(seconds, 1),
                        "train": {"neg_elbo": (totals["recon"] + totals["kl"]) / steps,
                                  "recon_nll": totals["recon"] / steps, "kl": totals["kl"] / steps,
                                  "mse": train_mse, "images_per_s": round(n / (time.perf_counter() - t0), 1)},
                        "test": test})
        _checkpoint(out, model, optimizer, args, epoch + 1, history, dataset, commands, log_sigma, seconds, averaged)
        print(f"epoch {epoch + 1}: test neg-ELBO {test['neg_elbo']:.2f} nats "
              f"(recon {test['recon_nll']:.2f} + KL {test['kl']:.2f}), recon MSE {test['recon_mse']:.5f}, "
              f"{seconds:.0f} s", flush=True)
    return out
