"""Estimates against hand-computed bytes and against the buffers scipy and torch really
allocate; preflight verdicts at their boundaries and their messages."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_lib.memory import (
    MB,
    Preflight,
    dense_matrix_bytes,
    preflight,
    sparse_matrix_bytes,
    training_bytes,
)

SHAPE = (300, 200)
NNZ = 1_234


def random_sparse(fmt: str) -> sp.spmatrix:
    """A seeded 300 x 200 float32 matrix with NNZ entries and int32 indices."""
    rng = np.random.default_rng(7)
    cells = rng.choice(SHAPE[0] * SHAPE[1], size=NNZ, replace=False)
    values = rng.random(NNZ, dtype=np.float32)
    coo = sp.coo_matrix((values, (cells // SHAPE[1], cells % SHAPE[1])), shape=SHAPE)
    return coo.asformat(fmt)


def buffer_bytes(matrix: sp.spmatrix) -> int:
    if matrix.format == "coo":
        index_arrays = [matrix.row, matrix.col]
    else:
        index_arrays = [matrix.indices, matrix.indptr]
    assert all(array.dtype == np.int32 for array in index_arrays)
    return matrix.data.nbytes + sum(array.nbytes for array in index_arrays)


def test_dense_bytes() -> None:
    assert dense_matrix_bytes((1_000, 500)) == 2_000_000
    assert dense_matrix_bytes((3, 4), "float64") == 96
    assert dense_matrix_bytes((2, 3, 4), np.int32) == 96
    # ml-25m as a dense float32 user x item matrix: 162,541 x 59,047 x 4 bytes
    assert dense_matrix_bytes((162_541, 59_047)) == 38_390_233_708
    assert dense_matrix_bytes((np.int64(10), 0)) == 0


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_bytes_match_scipy(fmt: str) -> None:
    matrix = random_sparse(fmt)
    assert matrix.nnz == NNZ
    assert sparse_matrix_bytes(SHAPE, NNZ, fmt=fmt) == buffer_bytes(matrix)


def test_sparse_bytes_by_hand() -> None:
    assert sparse_matrix_bytes((100, 50), 200) == 200 * (4 + 4) + 101 * 4
    assert sparse_matrix_bytes((100, 50), 200, "float64", "int64", "csc") == 200 * 16 + 51 * 8
    # Beyond the int32 range the indices widen to int64, as scipy does.
    rows = 3_000_000_000
    assert sparse_matrix_bytes((rows, 10), 5) == 5 * (4 + 8) + (rows + 1) * 8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": (10, 10), "nnz": 101}, "exceeds"),
        ({"shape": (10, 10), "nnz": 5, "fmt": "dok"}, "fmt='dok'"),
        ({"shape": (10, 10, 10), "nnz": 5}, "2 dimensions"),
        ({"shape": (10, -1), "nnz": 0}, "shape"),
        ({"shape": (10, 10), "nnz": 2.5}, "nnz"),
        ({"shape": (10, 10), "nnz": 5, "dtype": "float33"}, "dtype='float33'"),
    ],
)
def test_sparse_bytes_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sparse_matrix_bytes(**kwargs)


def test_training_bytes_by_hand() -> None:
    assert training_bytes(1_000) == 1_000 * 4 * (1 + 1 + 2)  # weights, grads, Adam moments
    assert training_bytes(1_000, optimizer="sgd") == 1_000 * 4 * 2
    assert training_bytes(1_000, optimizer="sgd_momentum") == 1_000 * 4 * 3
    assert training_bytes(1_000, param_dtype="bfloat16") == 1_000 * 2 * 4
    assert training_bytes(1_000, param_dtype="torch.float16") == 1_000 * 2 * 4
    mixed = training_bytes(1_000, mixed_precision=True, activations_bytes=500)
    assert mixed == 1_000 * (16 + 2) + 500
    with pytest.raises(ValueError, match="optimizer='lion'"):
        training_bytes(10, optimizer="lion")
    with pytest.raises(ValueError, match="n_params"):
        training_bytes(-1)


@pytest.mark.slow  # imports torch (seconds when it is not loaded yet)
def test_training_bytes_match_torch_adam_state() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(16, 64)).square().mean().backward()
    optimizer.step()
    params = list(model.parameters())
    held = sum(p.nbytes + p.grad.nbytes for p in params)
    held += sum(
        tensor.nbytes
        for state in optimizer.state.values()
        for name, tensor in state.items()
        if name != "step"  # one scalar per tensor, not per parameter
    )
    assert training_bytes(sum(p.numel() for p in params)) == held


@pytest.mark.parametrize(
    ("estimate", "verdict"),
    [
        (0, "fits"),
        (70 * MB, "fits"),
        (70 * MB + 1, "tight"),
        (100 * MB, "tight"),
        (100 * MB + 1, "will not fit"),
    ],
)
def test_preflight_verdict_boundaries(estimate: int, verdict: str) -> None:
    check = preflight(estimate, available_bytes=100 * MB)
    assert check.verdict == verdict
    assert check.ok == (verdict != "will not fit")
    assert check.available_mb == 100.0 and check.estimate_mb == estimate / MB


def test_preflight_message_has_the_numbers() -> None:
    check = preflight(int(12.3 * MB), label="SVD fit", available_bytes=int(20_123.4 * MB))
    assert check.message == "SVD fit: needs ~12.3 MB of 20,123.4 MB available -> fits"
    assert check.raise_if_not_fits() is check
    tight = preflight(90 * MB, available_bytes=100 * MB, tight_fraction=0.5)
    assert tight.message == "needs ~90.0 MB of 100.0 MB available -> tight (over 50% of it)"


def test_preflight_that_will_not_fit_raises_with_its_message() -> None:
    check = preflight(2_048 * MB, label="item-item matrix", available_bytes=1_024 * MB)
    assert isinstance(check, Preflight) and not check.ok
    expected = "item-item matrix: needs ~2,048.0 MB of 1,024.0 MB available -> will not fit"
    with pytest.raises(MemoryError) as raised:
        check.raise_if_not_fits()
    assert str(raised.value) == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"estimate_bytes": -1}, "estimate_bytes"),
        ({"estimate_bytes": 1, "available_bytes": -5}, "available_bytes"),
        ({"estimate_bytes": 1, "tight_fraction": 0.0}, "tight_fraction"),
        ({"estimate_bytes": 1, "tight_fraction": 1.5}, "tight_fraction"),
    ],
)
def test_preflight_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        preflight(**kwargs)
