"""Data-parallel training across processes with torch.distributed (DDP).

One `Replicas` value tells a fit how its process takes part: alone (world size 1: every
method below is the identity, no collective is called) or as one rank of an initialised
process group (`torchrun` or `recsys_lib.runs.distributed.launch`). In a group:

- the module is wrapped in `DistributedDataParallel`, which broadcasts rank 0's weights
  and averages the gradients during the backward pass;
- each effective batch of `batch_size` samples is split into contiguous shards, one per
  rank, and each rank accumulates its shard in its own micro-batches; the loss weights make
  the averaged gradient the whole batch's mean-loss gradient, as in one process;
- the ranks agree, by all-reduce, on every decision one of them could take alone: an
  out-of-memory retry, a stop (signal, time budget, NaN guard), the validation metrics
  (computed on rank 0 and broadcast);
- only rank 0 writes files (`is_main`).
"""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from recsys_lib.training.batching import Batch
from recsys_lib.training.recovery import StopFlag

__all__ = ["Replicas"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _DataParallel(DistributedDataParallel):
    """DDP that also answers for the wrapped module's attributes, so a loss function can
    call `network.user_factors(...)` on it as on the bare network."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


class Replicas:
    """This process's place in data-parallel training.

    Args:
        rank: this process's rank in the group.
        world_size: processes in the group (1: no group, nothing is synchronised).
        local_rank: the rank on this machine (the CUDA device index under `torchrun`).
    """

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size}")
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank

    @classmethod
    def current(cls) -> Replicas:
        """The initialised default process group's replicas; a single process without one."""
        if not (dist.is_available() and dist.is_initialized()):
            return cls()
        rank = dist.get_rank()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        return cls(rank, dist.get_world_size(), local_rank)

    @property
    def distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the one that writes checkpoints and logs progress."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"Replicas(rank={self.rank}, world_size={self.world_size})"

    def device(self, device: str) -> str:
        """The device this rank trains on: "cuda" becomes this rank's own card."""
        if self.distributed and device == "cuda":
            return f"cuda:{self.local_rank}"
        return device

    def wrap(self, module: nn.Module) -> nn.Module:
        """The module to run forward passes through: DDP in a group (gradients are views of
        its communication buckets: no second copy), `module` itself otherwise."""
        if not self.distributed:
            return module
        device = next(module.parameters()).device
        ids = [device.index] if device.type == "cuda" else None
        return _DataParallel(module, device_ids=ids, gradient_as_bucket_view=True)

    def shard(self, batch: Batch) -> tuple[Batch, float]:
        """This rank's part of `batch` and the weight of each of its samples in the loss
        (`world_size / len(batch)`: DDP's averaging over ranks then makes the gradient
        the whole batch's mean). A rank whose part would be empty (a last batch smaller
        than the world) takes the first sample with weight 0, so it still joins the
        gradient all-reduce."""
        if not self.distributed:
            return batch, 1.0 / len(batch)
        local = batch.shard(self.rank, self.world_size)
        if len(local) == 0:
            return batch.shard(0, len(batch)), 0.0
        return local, self.world_size / len(batch)

    def gradient_sync(self, module: nn.Module, sync: bool) -> Any:
        """Context for one micro-batch's forward and backward: DDP's `no_sync` unless
        `sync` (the rank's last micro-batch, whose backward all-reduces the sum)."""
        if sync or not isinstance(module, DistributedDataParallel):
            return nullcontext()
        return module.no_sync()

    def any(self, flag: bool) -> bool:
        """Whether `flag` is set on any rank (all ranks get the same answer)."""
        if not self.distributed:
            return flag
        value = torch.tensor([float(flag)])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of `values` (a 1-D CPU float tensor) over the ranks."""
        if not self.distributed:
            return values
        total = values.clone()
        dist.all_reduce(total)
        return total / self.world_size

    def agree_stop(self, stop: StopFlag) -> bool:
        """Whether to stop now: True on every rank once any rank's `stop` is set, and then
        every rank's `stop.reason` is the same (that of the lowest rank with one). The flag
        is read once: a signal that sets it during the agreement counts at the next one."""
        requested = bool(stop)
        if not self.distributed:
            return requested
        if not self.any(requested):
            return False
        reasons: list[str | None] = [None] * self.world_size
        dist.all_gather_object(reasons, stop.reason)
        stop.reason = next(reason for reason in reasons if reason is not None)
        return True

    def broadcast(self, value: T) -> T:
        """Rank 0's `value` on every rank (a picklable object)."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def decorrelate(self, seed: int, step: int = 0) -> None:
        """Give ranks other than 0 their own torch random stream (dropout, sampling noise)
        from (seed, rank, step); rank 0 keeps its stream, so it matches a single process."""
        if self.rank == 0:
            return
        state = np.random.SeedSequence([seed, self.rank, step]).generate_state(1)[0]
        torch.manual_seed(int(state))
