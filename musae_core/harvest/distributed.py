"""Scale a harvest out over processes started by torchrun (gloo on CPU, nccl on GPU).

Each rank takes every ``world_size``-th work item and writes its own shards; only the store's
setup (metadata, source table) happens on rank 0 and is broadcast, so ranks never race on files.
Without torchrun everything runs in one process and these calls are no-ops.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job; ``world_size == 1`` means no process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1 and dist.is_available() and dist.is_initialized()

    def split(self, items: Sequence[T]) -> list[T]:
        """This rank's share: a strided slice, so every rank gets a similar mix of items."""
        return list(items[self.rank :: self.world_size])

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def rank_device(device: str, ctx: DistContext) -> str:
    """With several ranks on a GPU box, 'auto'/'cuda' means this rank's own GPU."""
    if ctx.world_size > 1 and device in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{ctx.local_rank % torch.cuda.device_count()}"
    return device


@contextlib.contextmanager
def distributed(device: str = "auto") -> Iterator[DistContext]:
    """Join the torchrun process group for the body (and leave it after); else single process."""
    if dist.is_available() and dist.is_initialized():  # a caller already set it up
        yield DistContext(dist.get_rank(), dist.get_world_size(), _local_rank())
        return
    if not launched_by_torchrun():
        yield DistContext()
        return
    world = int(os.environ["WORLD_SIZE"])
    use_cuda = device.startswith(("auto", "cuda")) and torch.cuda.is_available()
    # nccl needs one GPU per rank; ranks sharing a GPU (or on CPU) talk through gloo
    use_nccl = use_cuda and world <= torch.cuda.device_count()
    if use_cuda:
        torch.cuda.set_device(_local_rank() % torch.cuda.device_count())
    dist.init_process_group(backend="nccl" if use_nccl else "gloo")
    try:
        yield DistContext(dist.get_rank(), dist.get_world_size(), _local_rank())
        # leave together: a rank that tears gloo down while another still has a message in
        # flight makes that rank's gloo thread abort the process (seen once under load: rank 1
        # "terminate called without an active exception" after a finished harvest)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))
