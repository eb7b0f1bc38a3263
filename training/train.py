"""The training loop (``python -m training train``): read top to bottom.

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

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from . import arguments as A
from . import data as fmnist
from . import device as D
from . import distributed
from .checkpoint import (
    RESUME_FILE,
    atomic_write_text,
    complete_interrupted_write,
    load_resume_state,
    remove_stale_temporaries,
    save_resume_state,
)
from .distributed import SINGLE, Ranks, my_share, sum_over_ranks
from .losses import LIKELIHOODS, PAPER_SIGMA, vae_loss
from .model import CONFIG_FILE, RETIRED_ARCHITECTURE, VAE, WEIGHTS_FILE, VAEConfig, retired
from .precision import use_bfloat16
from .presets import ARCHITECTURE_FLAGS, COMMON_DEFAULTS, PRESETS

METRICS_FILE = "metrics.jsonl"
# Training options of measured experiments that were not adopted (see model.RETIRED_ARCHITECTURE):
# a run that used one cannot be resumed by this code.
RETIRED_TRAINING = {"weight_decay": "--weight-decay", "hflip": "--hflip", "kl_warmup": "--kl-warmup",
                    "free_bits": "--free-bits", "ema_decay": "--ema-decay"}


class TrainingError(Exception):
    """Training cannot go on; the message is one line and says what was kept."""


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


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


@torch.no_grad()
def test_metrics(model: VAE, x: torch.Tensor, likelihood: str, log_sigma: float | None,
                 seed: int = 0, batch_size: int = 1000, ranks: Ranks = SINGLE) -> dict:
    """Negative ELBO (one sample of z), reconstruction MSE from μ, and KL, per image, in float32, on
    the model's device. Under torchrun each rank measures its share of ``x`` and the sums are added."""
    model.eval()
    g = torch.Generator().manual_seed(seed + 1_000_003 * ranks.rank)
    x = x[my_share(len(x), ranks)]
    device = D.of(model)
    sums = dict(neg_elbo=0.0, recon_nll=0.0, kl=0.0, recon_mse=0.0)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        logits, mu, logvar = model(xb, generator=g)
        t = vae_loss(xb, logits, mu, logvar, likelihood, log_sigma=log_sigma)
        n = len(xb)
        sums["neg_elbo"] += t.neg_elbo.item() * n
        sums["recon_nll"] += t.recon_nll.item() * n
        sums["kl"] += t.kl.item() * n
        sums["recon_mse"] += (model.decode(mu) - xb).pow(2).mean().item() * n
    if not ranks.distributed:
        return {k: v / len(x) for k, v in sums.items()}
    total = sum_over_ranks(torch.tensor([*sums.values(), len(x)], dtype=torch.float64), ranks).tolist()
    return {k: v / total[-1] for k, v in zip(sums, total[:-1], strict=True)}


def match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give every per-parameter state tensor (Adam's moments) its parameter's memory layout.

    A loaded state keeps the strides it was saved with, and the fused Adam kernels pair elements by
    memory position, not by index: moments saved in one layout (e.g. bfloat16 training on another
    machine) and applied to parameters in the other would be scrambled."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    optimizer.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


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


def write_log(path: Path, history: list) -> None:
    """One JSON line per completed epoch, written atomically."""
    atomic_write_text(path, "".join(json.dumps(h) + "\n" for h in history))


def without_retired_options(args: dict, out: Path) -> dict:
    """A saved run's arguments without the retired options it records at their neutral values;
    a run that used one is refused with the flag's name."""
    args = dict(args)
    for name, flag in RETIRED_TRAINING.items():
        if args.pop(name, None):
            raise TrainingError(f"{out}: {retired(flag)}")
    for name, (flag, neutral) in RETIRED_ARCHITECTURE.items():
        if name in args and not neutral(args.pop(name), args):
            raise TrainingError(f"{out}: {retired(flag)}")
    return args


def resumed_run(out: Path, args: dict, command: str,
                tidy: bool = True) -> tuple[dict, dict, int, list, float, list]:
    """The resume state of the run in ``out`` and what goes on from it: its own arguments (only
    --epochs, and where it runs: --threads, --device, --compile, may change), the epochs done, the
    history, the seconds spent and the commands so far plus ``command``. Leftovers of a write a kill
    interrupted are cleared first (``tidy``: by one process only)."""
    state = load_resume_state(out)
    saved = without_retired_options(json.loads(state["args_json"]), out)
    if args.get("epochs"):
        saved["epochs"] = args["epochs"]  # the one thing about the result a resumed run may change
    saved["threads"] = args.get("threads") or saved.get("threads")  # same threads, same arithmetic
    saved["device"], saved["compile"] = args.get("device", "auto"), args.get("compile", False)
    commands = json.loads(state.get("commands_json", "[]")) + [command]
    if tidy:
        remove_stale_temporaries(out)
        complete_interrupted_write(out / WEIGHTS_FILE, out / CONFIG_FILE)
    return state, saved, state["epoch"], json.loads(state["history_json"]), state["seconds"], commands


def non_finite_error(out: Path, history: list, epoch: int, step: int, what: str, hint: str) -> TrainingError:
    """The one-line error for a loss that became non-finite, saying which checkpoint survives."""
    kept = (f"the last good checkpoint (epoch {history[-1]['epoch']}) is kept in {out}"
            if history else "no checkpoint had been written yet")
    return TrainingError(f"loss became non-finite at epoch {epoch + 1}, batch {step + 1}: {what} stopped; "
                         f"{kept}. {hint}")


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


def build_model(args: dict, device: torch.device | str = "cpu") -> VAE:
    """The seeded, untrained network of a run on ``device``, channels-last (bench/memory_format.py:
    1.1–1.2× faster steps in float32 too). The weights are drawn on the CPU: the same on every device."""
    torch.manual_seed(args["seed"])
    # a run saved before an architecture flag existed used the paper's value
    architecture = {name: args.get(name, getattr(VAEConfig, name)) for name in ARCHITECTURE_FLAGS}
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


# --- the command line --------------------------------------------------------------------------
# Flags that override the preset; a resumed run refuses all of them but --epochs.
TRAIN_FLAGS = ("epochs", "batch_size", "lr", "schedule", "latent_dim", "likelihood", "beta", "sigma", "seed",
               "limit", "eval_limit", "precision", "decoder_channels", "encoder_kernels", "decoder_kernels",
               "encoder_head")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", choices=sorted(PRESETS), default="default",
                   help="preset of likelihood, β, architecture and optimiser settings (default: %(default)s)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last completed epoch with its own arguments; "
                        "--epochs may raise the total (a cosine schedule then stretches to the new total)")
    p.add_argument("--epochs", type=A.positive_int)
    p.add_argument("--batch-size", type=A.positive_int)
    p.add_argument("--lr", type=A.positive_float, help="Adam's learning rate")
    p.add_argument("--schedule", choices=("constant", "cosine"), help="cosine: decay to 1%% of --lr")
    p.add_argument("--latent-dim", type=A.positive_int)
    p.add_argument("--likelihood", choices=LIKELIHOODS)
    p.add_argument("--beta", type=A.non_negative_float, help="weight of the KL term (1 = the ELBO)")
    p.add_argument("--sigma", type=A.positive_float, help="σ of the fixed 'gaussian' likelihood (default √½)")
    p.add_argument("--decoder-channels", type=A.int_list(3, "256,128,64"), metavar="C1,C2,C3",
                   help="widths of the decoder's three hidden transposed convs (default 256,128,64)")
    p.add_argument("--encoder-kernels", type=A.int_list(4, "4,3,4,2"), metavar="K1,K2,K3,K4",
                   help="kernel sizes of the encoder's four stride-2 convs (--config default: 4,3,4,2, "
                        "which see all 28×28 pixels; paper, seed-code: 3,3,3,2, which never see rows and "
                        "columns 23-27)")
    p.add_argument("--decoder-kernels", type=A.int_list(4, "2,3,4,6"), metavar="K1,K2,K3,K4",
                   help="kernel sizes of the decoder's four stride-2 transposed convs (--config default: "
                        "2,3,4,6, which paint all 28×28; paper, seed-code: 2,3,4,5, whose last row and "
                        "column are one constant)")
    p.add_argument("--encoder-head", type=A.widths, metavar="W1[,W2…]|none",
                   help="widths of ReLU layers beside the linear μ, log σ² heads, added through maps that "
                        "start at zero (--config default: 512,512; paper, seed-code: none, the paper's "
                        "linear heads)")
    p.add_argument("--seed", type=int)
    A.add_limits(p)
    A.add_precision(p)
    A.add_threads(p)
    D.add_device(p)
    A.add_compile(p)
    A.add_data_dir(p)
    A.add_quiet(p)


def training_args(ns: argparse.Namespace) -> dict:
    """Preset values, overridden by the flags given on the command line."""
    args = {"config": ns.config, **COMMON_DEFAULTS, **PRESETS[ns.config]}
    args.update({name: getattr(ns, name) for name in TRAIN_FLAGS if getattr(ns, name) is not None})
    args.update(threads=ns.threads, device=ns.device, compile=ns.compile)
    return args


def run_command(ns: argparse.Namespace) -> None:
    args = training_args(ns)
    if ns.resume:
        A.refuse_changes_on_resume(ns, TRAIN_FLAGS, TrainingError)
        args["epochs"] = ns.epochs  # None: keep the run's own
    run(args, ns.out, resume=ns.resume, data_dir=ns.data_dir, command=ns.command_line, progress=not ns.quiet)
