"""The training loop (what ``python -m training train`` runs): read top to bottom.

The whole dataset lives on the device (``--device``) as one float tensor; a batch is an index
slice of it. Each epoch's shuffling and reparameterisation noise come from CPU generators seeded by
(seed, epoch), so an epoch is a pure function of the weights and optimiser state at its start —
which is what makes a resumed run end with the same weights as an uninterrupted one (on the same
device and world size: other arithmetic gives other rounding).

Under ``torchrun`` each process is one rank of ``DistributedDataParallel``: every rank draws the
same permutation and takes its share of each batch (``--batch-size`` is the total over ranks), draws
its own noise, and averages the gradients and the logged losses with the others; rank 0 alone
prints and writes the checkpoints, which every rank resumes from.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import data as fmnist
from .. import device as D
from ..checkpoint import RESUME_FILE, save_resume_state
from ..losses import PAPER_SIGMA, vae_loss
from ..model import IMAGE_SIZE, VAE, VAEConfig
from ..precision import use_bfloat16
from . import TrainingError, distributed
from .distributed import SINGLE, Ranks, my_share, sum_over_ranks
from .held_out import test_metrics
from .presets import ARCHITECTURE_FLAGS, FOLDER_ARCHITECTURE, SCALED
from .resume import (
    METRICS_FILE,
    epoch_generator,
    match_state_layout,
    non_finite_error,
    resumed_run,
    write_log,
)


def noise_generator(seed: int, epoch: int, rank: int, shuffled: torch.Generator) -> torch.Generator:
    """Where a rank's reparameterisation noise comes from: rank 0 goes on drawing from the epoch's
    shuffling generator (so a single process draws what it always has), any other rank from a
    generator of its own."""
    if rank == 0:
        return shuffled
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1_009 + rank)


def learning_rate(args: dict, epoch: int) -> float:
    """Learning rate for a 0-based epoch: constant, or cosine decay to 1% of the initial value."""
    if args["schedule"] == "constant":
        return args["lr"]
    progress = epoch / max(1, args["epochs"] - 1)
    return args["lr"] * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def fixed_log_sigma(args: dict) -> float | None:
    if args["likelihood"] == "gaussian":
        return math.log(args["sigma"] if args["sigma"] else PAPER_SIGMA)
    return None


STEP_TERMS = ("loss", "recon", "kl", "mse")


def train_step(model, optimizer, xb, args, log_sigma, bf16: bool, generator=None,
               ranks: Ranks = SINGLE) -> dict | None:
    """One optimiser step on a batch. Returns the loss terms as floats (averaged over the ranks), or
    None if the loss is not finite on any rank (then every rank leaves the weights untouched)."""
    xb = xb.contiguous(memory_format=torch.channels_last)
    with D.autocast(xb.device, bf16):
        logits, mu, logvar = model(xb, generator=generator)
    t = vae_loss(xb, logits, mu, logvar, args["likelihood"], args["beta"], log_sigma)
    terms = torch.stack([t.loss, t.recon_nll, t.kl, t.mse]).detach().float()
    if ranks.distributed:
        terms = sum_over_ranks(terms, ranks) / ranks.world_size
    values = terms.tolist()  # one wait for the device per step
    if not math.isfinite(values[0]):
        return None
    optimizer.zero_grad(set_to_none=True)
    t.loss.backward()
    optimizer.step()
    return dict(zip(STEP_TERMS, values, strict=True))


def _checkpoint(out, model, optimizer, args, epoch, history, dataset, commands, log_sigma, seconds, ran_on):
    """model.safetensors + model.json (what a user loads), the resume state (what training goes on
    from) and the log, each written atomically, from CPU copies: no file names a device."""
    info = {
        "likelihood": args["likelihood"], "beta": args["beta"], "log_sigma": log_sigma,
        "epoch": epoch, "training": args, "command": commands[0], "resumed_with": commands[1:],
        "dataset": dataset, "metrics": history[-1]["test"], "train_seconds": round(seconds, 1),
        "ran_on": ran_on, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    model.save_pretrained(out, info)
    save_resume_state(out, {
        "model": D.to_cpu(model.state_dict()), "optimizer": D.to_cpu(optimizer.state_dict()), "epoch": epoch,
        "torch_rng": torch.get_rng_state(), "args_json": json.dumps(args),
        "history_json": json.dumps(history), "seconds": seconds, "commands_json": json.dumps(commands),
    })
    write_log(out / METRICS_FILE, history)


def folder_tensors(args: dict, resumed: bool, progress: bool):
    """A run on a folder of your own images (``args["data"]``): its training and test images as
    tensors, and what model.json records of them. Sets the run's image size and channels where they
    were not given (from the folder) and, at 32 or 64 pixels, the scaled architecture; a resumed run
    refuses a folder that changed since it started."""
    from .. import folder as F
    images = F.load(args["data"], args.get("image_size"), skip_bad=args.get("skip_bad", False),
                    seed=args.get("split_seed", 0), progress=progress)
    if resumed and args.get("data_checksum") not in (None, images.checksum):
        raise TrainingError(f"{args['data']}: the folder changed since this run started (its checksum was "
                            f"{args['data_checksum'][:16]}…, now {images.checksum[:16]}…); train anew")
    if not resumed:
        args["data_checksum"] = images.checksum
        args["image_size"] = images.size
        args["channels"] = args.get("channels") or images.channels
        if images.size != IMAGE_SIZE:
            args.update({name: list(value) for name, value in SCALED[images.size].items()})
    pixels = F.as_channels(images.images, args["channels"])
    train_rows, test_rows = np.flatnonzero(~images.is_test), np.flatnonzero(images.is_test)
    x_train = F.to_tensor(pixels[train_rows[: args["limit"]]])
    x_test = F.to_tensor(pixels[test_rows[: args["eval_limit"]]])
    if not resumed and args.get("min_steps"):
        preset = args["epochs"]
        args["epochs"] = epochs_for_steps(preset, args["min_steps"], len(x_train), args["batch_size"])
        if args["epochs"] > preset and progress:
            print(f"{len(x_train):,} training images: {args['epochs']} epochs make at least "
                  f"{args['min_steps']:,} steps (--epochs sets another number)")
    dataset = {"folder": args["data"], "checksum": images.checksum, "categories": list(images.categories),
               "split": images.split, "image_size": images.size, "channels": args["channels"],
               "train_images": len(x_train), "test_images": len(x_test), "left_out": len(images.bad)}
    return x_train, x_test, dataset


def epochs_for_steps(epochs: int, min_steps: int, n: int, batch_size: int) -> int:
    """``epochs``, or more where they make fewer than ``min_steps`` optimiser steps over ``n`` images."""
    return max(epochs, math.ceil(min_steps / steps_per_epoch(n, batch_size)))


def build_model(args: dict, device: torch.device | str = "cpu") -> VAE:
    """The seeded, untrained network of a run on ``device``, channels-last (bench/memory_format.py:
    1.1–1.2× faster steps in float32 too). The weights are drawn on the CPU: the same on every device."""
    torch.manual_seed(args["seed"])
    # a run saved before an architecture flag existed used the paper's value
    architecture = {name: args.get(name, getattr(VAEConfig, name))
                    for name in ARCHITECTURE_FLAGS + FOLDER_ARCHITECTURE}
    model = VAE(VAEConfig(latent_dim=args["latent_dim"], **architecture))
    return model.to(device=device, memory_format=torch.channels_last)


def steps_per_epoch(n: int, batch_size: int, world_size: int = 1) -> int:
    """Batches in an epoch; a last batch too small to give every rank an image is left out."""
    return n // batch_size if 0 < n % batch_size < world_size else math.ceil(n / batch_size)


def train_epoch(model, optimizer, x_train, args, epoch, log_sigma, bf16, progress, on_non_finite,
                ranks: Ranks = SINGLE) -> dict:
    """One pass over the training images in the epoch's seeded order: the summed loss terms.
    Each rank takes its share of every batch (all of it in a single process)."""
    g = epoch_generator(args["seed"], epoch)
    n, bs = len(x_train), args["batch_size"]
    steps = steps_per_epoch(n, bs, ranks.world_size)
    perm = torch.randperm(n, generator=g).to(x_train.device)
    noise = noise_generator(args["seed"], epoch, ranks.rank, g)
    model.train()
    totals = dict(loss=0.0, recon=0.0, kl=0.0, mse=0.0, steps=steps)
    bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{args['epochs']}", disable=not progress,
               leave=True, mininterval=0.5 if sys.stderr.isatty() else 15, file=sys.stderr)
    for step in bar:
        batch = perm[step * bs:(step + 1) * bs]
        t = train_step(model, optimizer, x_train[batch[my_share(len(batch), ranks)]], args, log_sigma, bf16,
                       noise, ranks)
        if t is None:
            raise on_non_finite(epoch, step)
        for key in STEP_TERMS:
            totals[key] += t[key]
        if step % 20 == 0:
            k = step + 1
            bar.set_postfix(nelbo=f"{(totals['recon'] + totals['kl']) / k:.1f}",
                            recon=f"{totals['recon'] / k:.1f}", kl=f"{totals['kl'] / k:.1f}", refresh=False)
    bar.close()
    return totals


def history_entry(epoch: int, lr: float, seconds: float, totals: dict, images: int, epoch_seconds: float,
                  test: dict) -> dict:
    steps = totals["steps"]
    return {"epoch": epoch + 1, "lr": lr, "seconds": round(seconds, 1),
            "train": {"neg_elbo": (totals["recon"] + totals["kl"]) / steps,
                      "recon_nll": totals["recon"] / steps,
                      "kl": totals["kl"] / steps, "mse": totals["mse"] / steps,
                      "images_per_s": round(images / epoch_seconds, 1)},
            "test": test}


def run(args: dict, out: str | os.PathLike, resume: bool = False, data_dir=None, command: str = "",
        progress: bool = True) -> Path:
    """Train (or resume) a model into ``out``. ``args`` holds every training argument, among them
    ``device`` (auto, cpu, cuda, mps) and ``compile``. Under torchrun this is one rank of the run."""
    ranks = distributed.from_environment()
    device = D.resolve(args.get("device"), ranks.local_rank)
    distributed.start(ranks, device)
    try:
        return _run(args, Path(out), resume, data_dir, command, progress, device, ranks)
    finally:
        distributed.stop(ranks)


def _run(args, out, resume, data_dir, command, progress, device, ranks) -> Path:
    start_epoch, history, seconds, commands, state = 0, [], 0.0, [command], None
    if resume:
        state, args, start_epoch, history, seconds, commands = resumed_run(out, args, command, ranks.main)
    elif (out / RESUME_FILE).exists():
        raise TrainingError(f"{out}: already holds a run; pass --resume to continue it or choose another "
                            "--out")
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
    args["threads"] = args.get("threads") or torch.get_num_threads()
    torch.set_num_threads(args["threads"])
    ran_on = {"device": D.describe(device), "processes": ranks.world_size, "threads": args["threads"]}

    if args.get("data"):
        x_train, x_test, dataset = folder_tensors(args, resumed=resume, progress=progress and ranks.main)
        x_train, x_test = x_train.to(device), x_test.to(device)
    else:
        data = fmnist.load(data_dir)
        x_train = fmnist.to_tensor(data.train_images[: args["limit"]]).to(device)
        x_test = fmnist.to_tensor(data.test_images[: args["eval_limit"]]).to(device)
        dataset = {"checksum": data.checksum, "train_images": len(x_train), "test_images": len(x_test)}

    model = build_model(args, device)
    # fused: one kernel per step where PyTorch has it (CPU, CUDA)
    optimizer = torch.optim.Adam(model.parameters(), lr=args["lr"], fused=device.type in ("cpu", "cuda"))
    if state is not None:
        model.load_state_dict(state["model"])  # copies values into the channels-last parameters
        optimizer.load_state_dict(state["optimizer"])  # moves the moments to the parameters' device
        match_state_layout(optimizer)
        torch.set_rng_state(state["torch_rng"])
    net = model  # what the steps call: the model, wrapped for several ranks and compiled on request
    if ranks.distributed:
        gpus = [device] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=gpus)
    if args.get("compile"):
        net = torch.compile(net)
    bf16, log_sigma = use_bfloat16(args["precision"], device), fixed_log_sigma(args)
    say = print if ranks.main else (lambda *a, **k: None)
    if start_epoch >= args["epochs"]:
        say(f"{out}: already trained for {start_epoch} epochs (--epochs {args['epochs']}); nothing to do")
        return out

    def stopped(epoch, step):
        return non_finite_error(out, history, epoch, step, "training", "Try a lower --lr.")

    for epoch in range(start_epoch, args["epochs"]):
        t0 = time.perf_counter()
        lr = learning_rate(args, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        totals = train_epoch(net, optimizer, x_train, args, epoch, log_sigma, bf16, progress and ranks.main,
                             stopped, ranks)
        if args["likelihood"] == "gaussian-learned":
            log_sigma = 0.5 * math.log(totals["mse"] / totals["steps"])  # the σ fitted on this epoch's images
        test = test_metrics(model, x_test, args["likelihood"], log_sigma, seed=args["seed"], ranks=ranks)
        seconds += time.perf_counter() - t0
        epoch_seconds = time.perf_counter() - t0
        history.append(history_entry(epoch, lr, seconds, totals, len(x_train), epoch_seconds, test))
        if ranks.main:
            _checkpoint(out, model, optimizer, args, epoch + 1, history, dataset, commands, log_sigma,
                        seconds, ran_on)
        say(f"epoch {epoch + 1}: test neg-ELBO {test['neg_elbo']:.2f} nats (recon {test['recon_nll']:.2f} "
            f"+ KL {test['kl']:.2f}), recon MSE {test['recon_mse']:.5f}, {seconds:.0f} s", flush=True)
    return out
