"""Batch sources: in-memory tensors, sparse rows and the DataLoader path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from test_training_trainer import config, data, model, mse
from torch.utils.data import TensorDataset

from recsys_lib.training import (
    LoaderBatches,
    SparseRowBatches,
    TensorBatches,
    Trainer,
    TrainerConfig,
)
from recsys_lib.training.batching import densify_rows


def flatten(source, epoch: int, start: int = 0, micro: int = 4) -> list[torch.Tensor]:
    """The first tensor of every micro-batch of an epoch, concatenated."""
    parts = []
    for batch in source.epoch(epoch, start):
        for micro_batch in batch.split(micro):
            parts.append(micro_batch[0] if isinstance(micro_batch, tuple) else micro_batch)
    return torch.cat(parts)


@pytest.mark.parametrize("make", [
    lambda: TensorBatches([torch.arange(50)], 16, seed=3),
    lambda: LoaderBatches(TensorDataset(torch.arange(50)), 16, seed=3),
], ids=["tensors", "loader"])
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


def test_the_loader_path_trains_like_the_in_memory_path():
    cfg = TrainerConfig(**{**config(epochs=2).to_dict(), "micro_batch_size": 8})
    modules = []
    for in_memory in (True, False):
        trainer = Trainer(cfg)
        source = (TensorBatches(list(data()), cfg.batch_size, shuffle=False) if in_memory
                  else trainer.loader(TensorDataset(*data()), shuffle=False))
        modules.append(model())
        trainer.fit(modules[-1], mse, source)
    for a, b in zip(modules[0].parameters(), modules[1].parameters(), strict=True):
        torch.testing.assert_close(a, b)
