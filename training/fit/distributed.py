"""Several training processes under ``torchrun``: which one this is, and the two collectives the
loop needs. ``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; a plain ``python -m training`` sets
none of them and gets ``SINGLE``, for which every function here is the identity.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 prints, shows progress and writes the checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


SINGLE = Ranks()


def from_environment() -> Ranks:
    """The ranks torchrun gave this process (SINGLE when it was not started by torchrun)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return SINGLE
    return Ranks(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))


def start(ranks: Ranks, device: torch.device) -> None:
    """Join the process group: NCCL between GPUs, Gloo between CPU processes."""
    if ranks.distributed and not dist.is_initialized():
        gpu = device.type == "cuda"
        dist.init_process_group("nccl" if gpu else "gloo", rank=ranks.rank, world_size=ranks.world_size,
                                device_id=device if gpu else None)


def stop(ranks: Ranks) -> None:
    if ranks.distributed and dist.is_initialized():
        dist.destroy_process_group()


def sum_over_ranks(values: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """Element-wise sum of ``values`` over all ranks (the tensor itself in a single process)."""
    if ranks.distributed:
        values = values.clone()
        dist.all_reduce(values)
    return values


def my_share(n: int, ranks: Ranks) -> slice:
    """This rank's contiguous share of n items (shares differ by at most one item)."""
    base, extra = divmod(n, ranks.world_size)
    start = ranks.rank * base + min(ranks.rank, extra)
    return slice(start, start + base + (ranks.rank < extra))
