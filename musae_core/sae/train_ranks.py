"""What SAE training does across torchrun ranks (a no-op on one process): who am I, start from
rank 0's initialisation, average gradients, and gather statistics before rank 0 saves."""

from __future__ import annotations

import torch
import torch.distributed as dist

from musae_core.sae.architectures import SparseAutoencoder

World = tuple[int, int]  # (rank, world size)


def rank_world() -> World:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def broadcast_init(sae: SparseAutoencoder, scale: float, world: World) -> float:
    """Ranks saw different init samples: everyone starts from rank 0's weights and scale (the
    returned scale)."""
    if world[1] == 1:
        return scale
    for tensor in [*sae.parameters(), *sae.buffers()]:
        dist.broadcast(tensor.data, src=0)
    shared = torch.tensor([scale], dtype=torch.float64, device=sae.W_dec.device)
    dist.broadcast(shared, src=0)
    return float(shared.item())


def gather_statistics(sae: SparseAutoencoder, fire_counts: torch.Tensor, world: World) -> None:
    """Max activations and firing counts over every rank's rows, before rank 0 saves."""
    if world[1] == 1:
        return
    dist.all_reduce(sae.max_activation, op=dist.ReduceOp.MAX)
    dist.all_reduce(fire_counts)


def all_reduce_grads(sae: SparseAutoencoder, world: World) -> None:
    if world[1] == 1:
        return
    for param in sae.parameters():
        if param.grad is not None:
            dist.all_reduce(param.grad)
            param.grad /= world[1]
