"""A run directory that goes on where it stopped.

Each epoch's random draws come from generators seeded by (seed, epoch), the resume state holds the
weights, the optimiser, the arguments and the history, and every file is written atomically after
each epoch: a run killed at any moment resumes from its last completed epoch and ends with the
weights an uninterrupted run ends with. Runs made with options that were measured and not adopted
are refused by name.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..checkpoint import (
    atomic_write_text,
    complete_interrupted_write,
    load_resume_state,
    remove_stale_temporaries,
)
from ..model import CONFIG_FILE, RETIRED_ARCHITECTURE, WEIGHTS_FILE, retired
from . import TrainingError

METRICS_FILE = "metrics.jsonl"
# Training options of measured experiments that were not adopted (see model.RETIRED_ARCHITECTURE):
# a run that used one cannot be resumed by this code.
RETIRED_TRAINING = {"weight_decay": "--weight-decay", "hflip": "--hflip", "kl_warmup": "--kl-warmup",
                    "free_bits": "--free-bits", "ema_decay": "--ema-decay"}


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


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
