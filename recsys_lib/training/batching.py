"""Batch sources for the Trainer: in-memory tensors and sparse matrix rows.

A source yields *effective* batches (one optimizer step each); a batch yields device-ready
*micro-batches* of any size, so the Trainer can accumulate gradients and halve the
micro-batch after an out-of-memory error without touching the source. The order of an
epoch depends only on (seed, epoch), so a resumed run sees the same batches.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
import torch

__all__ = [
    "Batch",
    "BatchSource",
    "SparseRowBatches",
    "TensorBatches",
    "densify_rows",
    "epoch_permutation",
    "shard_range",
]


class Batch(Protocol):
    """One effective batch: its size and its micro-batches on the training device."""

    def __len__(self) -> int: ...

    def split(self, micro_size: int) -> Iterator[Any]:
        """Micro-batches of at most `micro_size` samples, moved to the device."""
        ...

    def shard(self, rank: int, world_size: int) -> Batch:
        """The contiguous part of this batch that `rank` of `world_size` trains on
        (`shard_range`)."""
        ...


class BatchSource(Protocol):
    """Effective batches of one epoch; `len()` is the number of batches per epoch."""

    def __len__(self) -> int: ...

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """Batches of `epoch`, skipping the first `start` (to resume mid-epoch)."""
        ...


def shard_range(start: int, stop: int, rank: int, world_size: int) -> tuple[int, int]:
    """The contiguous part of [start, stop) that `rank` of `world_size` takes: sizes differ
    by at most one, the first `(stop - start) % world_size` ranks take one more (numpy's
    `array_split` rule)."""
    size, extra = divmod(stop - start, world_size)
    begin = start + rank * size + min(rank, extra)
    return begin, begin + size + (rank < extra)


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """int64 random permutation of range(n) that depends only on (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class _SliceBatch:
    """Rows [start, stop) of tensors already in the epoch's order."""

    def __init__(self, tensors: Sequence[torch.Tensor], start: int, stop: int,
                 device: torch.device) -> None:
        self._tensors, self._start, self._stop, self._device = tensors, start, stop, device

    def __len__(self) -> int:
        return self._stop - self._start

    def split(self, micro_size: int) -> Iterator[tuple[torch.Tensor, ...]]:
        non_blocking = self._device.type == "cuda"
        for begin in range(self._start, self._stop, micro_size):
            end = min(begin + micro_size, self._stop)
            yield tuple(t[begin:end].to(self._device, non_blocking=non_blocking)
                        for t in self._tensors)

    def shard(self, rank: int, world_size: int) -> _SliceBatch:
        start, stop = shard_range(self._start, self._stop, rank, world_size)
        return _SliceBatch(self._tensors, start, stop, self._device)


class TensorBatches:
    """Batches from equally long tensors held in memory (for example rating triples).

    Each epoch gathers the tensors once in a seeded random order into reusable buffers
    (pinned on CUDA, so slices copy to the GPU with `non_blocking=True`) and slices them
    per batch; no per-sample Dataset or collate step. Memory: one extra copy of the data.

    Args:
        tensors: CPU tensors with the same first dimension (for example int32 user rows,
            int32 item columns, float32 ratings).
        batch_size: samples per effective batch (the last batch may be smaller).
        device: where micro-batches go.
        shuffle: a new seeded order every epoch; False keeps the given order.
        seed: seed of the order.
    """

    def __init__(self, tensors: Sequence[torch.Tensor], batch_size: int, *,
                 device: str | torch.device = "cpu", shuffle: bool = True, seed: int = 0) -> None:
        lengths = {len(t) for t in tensors}
        if len(lengths) != 1:
            raise ValueError(f"tensors differ in length: {[len(t) for t in tensors]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device)
        self.n_samples = lengths.pop()
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self._source = [t.cpu() for t in tensors]
        pin = self.device.type == "cuda"
        self._buffers = [torch.empty_like(t, pin_memory=pin) for t in self._source]

    def __len__(self) -> int:
        return math.ceil(self.n_samples / self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[_SliceBatch]:
        if self.device.type == "cuda":  # the last epoch's copies must finish before reuse
            torch.cuda.synchronize(self.device)
        if self.shuffle:
            order = torch.from_numpy(epoch_permutation(self.n_samples, self.seed, epoch))
            for source, buffer in zip(self._source, self._buffers, strict=True):
                torch.index_select(source, 0, order, out=buffer)
        else:
            for source, buffer in zip(self._source, self._buffers, strict=True):
                buffer.copy_(source)
        for begin in range(start * self.batch_size, self.n_samples, self.batch_size):
            yield _SliceBatch(self._buffers, begin, min(begin + self.batch_size, self.n_samples),
                              self.device)


class _RowBatch:
    """Rows of a sparse matrix, densified one micro-batch at a time."""

    def __init__(self, matrix: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> None:
        self._matrix, self._rows, self._device = matrix, rows, device

    def __len__(self) -> int:
        return len(self._rows)

    def split(self, micro_size: int) -> Iterator[torch.Tensor]:
        for begin in range(0, len(self._rows), micro_size):
            yield densify_rows(self._matrix, self._rows[begin:begin + micro_size], self._device)

    def shard(self, rank: int, world_size: int) -> _RowBatch:
        start, stop = shard_range(0, len(self._rows), rank, world_size)
        return _RowBatch(self._matrix, self._rows[start:stop], self._device)


def densify_rows(matrix: sp.csr_matrix, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """float32 dense tensor of shape (len(rows), n_columns) on `device`; only the stored
    entries of the rows are copied to the device and scattered into zeros there."""
    block = matrix[rows]
    dense = torch.zeros(block.shape, dtype=torch.float32, device=device)
    row_index = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
    dense[torch.from_numpy(row_index).to(device),
          torch.from_numpy(block.indices.astype(np.int64)).to(device)] = torch.from_numpy(
        block.data.astype(np.float32, copy=False)).to(device)
    return dense


class SparseRowBatches:
    """Batches of rows of a float32 CSR matrix (for example a user's items for MultVAE).

    Args:
        matrix: float32 CSR matrix; one sample per row.
        batch_size: rows per effective batch.
        device: where densified micro-batches go.
        shuffle: a new seeded row order every epoch.
        seed: seed of the order.
    """

    def __init__(self, matrix: sp.csr_matrix, batch_size: int, *,
                 device: str | torch.device = "cpu", shuffle: bool = True, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.matrix = sp.csr_matrix(matrix, dtype=np.float32)
        self.device = torch.device(device)
        self.n_samples = self.matrix.shape[0]
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

    def __len__(self) -> int:
        return math.ceil(self.n_samples / self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[_RowBatch]:
        if self.shuffle:
            order = epoch_permutation(self.n_samples, self.seed, epoch)
        else:
            order = np.arange(self.n_samples)
        for begin in range(start * self.batch_size, self.n_samples, self.batch_size):
            yield _RowBatch(self.matrix, order[begin:begin + self.batch_size], self.device)
