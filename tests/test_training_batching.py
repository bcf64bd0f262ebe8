"""Batch sources: in-memory tensors and sparse rows."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsys_lib.training import SparseRowBatches, TensorBatches
from recsys_lib.training.batching import densify_rows


def flatten(source, epoch: int, start: int = 0, micro: int = 4) -> list[torch.Tensor]:
    """The sample ids of an epoch in order: the first tensor of every micro-batch, or for
    dense rows of a diagonal matrix, the column of each row's entry (its row number)."""
    parts = []
    for batch in source.epoch(epoch, start):
        for micro_batch in batch.split(micro):
            first = micro_batch[0] if isinstance(micro_batch, tuple) else micro_batch
            parts.append(first.argmax(dim=1) if first.dim() == 2 else first)
    return torch.cat(parts)


@pytest.mark.parametrize("make", [
    lambda: TensorBatches([torch.arange(50)], 16, seed=3),
    lambda: SparseRowBatches(sp.diags(np.arange(1, 51, dtype=np.float32), format="csr"), 16,
                             seed=3),
], ids=["tensors", "sparse_rows"])
def test_each_epoch_is_a_seeded_permutation(make):
    source = make()
    assert len(source) == 4  # 16 + 16 + 16 + 2
    first = flatten(source, 0)
    assert sorted(first.tolist()) == list(range(50))
    assert torch.equal(flatten(make(), 0), first)  # same seed and epoch, same order
    assert not torch.equal(flatten(source, 1), first)
    assert torch.equal(flatten(source, 0, start=2), first[32:])  # resuming skips batches


def test_micro_batches_tile_the_batch_in_order():
    source = TensorBatches([torch.arange(10), torch.arange(10) * 2], 10, shuffle=False)
    (batch,) = list(source.epoch(0))
    micro = list(batch.split(3))
    assert [len(m[0]) for m in micro] == [3, 3, 3, 1]
    assert torch.equal(torch.cat([m[1] for m in micro]), torch.arange(10) * 2)


def test_tensor_lengths_must_agree():
    with pytest.raises(ValueError, match=r"differ in length: \[3, 4\]"):
        TensorBatches([torch.zeros(3), torch.zeros(4)], 2)


def test_sparse_rows_are_densified_per_micro_batch():
    matrix = sp.random(30, 12, density=0.2, format="csr", dtype=np.float32, random_state=0)
    source = SparseRowBatches(matrix, 8, seed=1)
    seen = []
    for batch in source.epoch(0):
        rows = batch._rows
        dense = torch.cat(list(batch.split(3)))
        assert dense.dtype == torch.float32
        np.testing.assert_array_equal(dense.numpy(), matrix[rows].toarray())
        seen.extend(rows.tolist())
    assert sorted(seen) == list(range(30))
    np.testing.assert_array_equal(densify_rows(matrix, np.array([4, 2]), torch.device("cpu"))
                                  .numpy(), matrix[[4, 2]].toarray())
