"""Where the model runs (``--device``) and the few rules that keep every device giving the same run.

- ``auto`` picks the accelerator PyTorch sees (CUDA, else MPS), else the CPU.
- Random draws (shuffling, reparameterisation noise, augmentation) come from CPU generators and are
  moved to the device, so a seed means the same draws on every device; only the arithmetic differs.
- Models and optimiser states are saved from CPU copies: a checkpoint never names a device.
"""
from __future__ import annotations

import contextlib

import torch

from .errors import ProjectError

DEVICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(ProjectError, ValueError):
    """The device asked for is not there; the message is one line."""


def resolve(name: str | torch.device | None = "auto", local_rank: int = 0) -> torch.device:
    """The torch.device for a --device value; ``local_rank`` picks the GPU of a torchrun process."""
    if isinstance(name, torch.device):
        return name
    name = name or "auto"
    if name not in DEVICES:
        raise DeviceError(f"--device {name!r}: expected one of {', '.join(DEVICES)}")
    if name == "auto":
        accelerator = torch.accelerator.current_accelerator(check_available=True)
        name = accelerator.type if accelerator is not None and accelerator.type in ("cuda", "mps") else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            built = "with" if torch.version.cuda else "without"
            raise DeviceError(f"--device cuda: PyTorch {torch.__version__} (built {built} CUDA) sees no "
                              "CUDA GPU")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("--device mps: PyTorch sees no Apple GPU (MPS) on this machine")
    return torch.device(name)


def of(module: torch.nn.Module) -> torch.device:
    """The device a module's parameters live on."""
    return next(module.parameters()).device


def describe(device: torch.device) -> str:
    """'cuda (NVIDIA H200)', 'cpu', …: for logs and the files a run writes."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def autocast(device: torch.device, bf16: bool):
    """bfloat16 autocast on ``device`` when ``bf16``; a no-op context otherwise."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def to_cpu(value):
    """A state (tensors in dicts and lists) with every tensor copied to the CPU, for saving."""
    if torch.is_tensor(value):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_cpu(v) for v in value)
    return value
