"""Memory estimates, in bytes, to check before building a matrix or starting to train.

The numbers count the array buffers themselves (what dominates for anything worth checking),
not the few hundred bytes of Python object headers around them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

__all__ = [
    "OPTIMIZER_STATES",
    "dense_matrix_bytes",
    "sparse_matrix_bytes",
    "training_bytes",
]

#: Tensors of parameter size each optimizer keeps per parameter.
OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "sgd": 0, "sgd_momentum": 1}
_SPARSE_FORMATS = ("csr", "csc", "coo")
_TORCH_ONLY_ITEMSIZES = {"bfloat16": 2}
_INT32_MAX = int(np.iinfo(np.int32).max)
# torch.autocast keeps a half-precision copy of each weight it casts during the forward pass.
_AUTOCAST_WEIGHT_BYTES = 2


def dense_matrix_bytes(shape: Sequence[int], dtype: DTypeLike = "float32") -> int:
    """Bytes of a dense array of `shape` and `dtype`.

    Example: a 162,541 x 59,047 float32 user x item matrix (ml-25m) needs
    `dense_matrix_bytes((162_541, 59_047))` = 38.4e9 bytes.
    """
    return math.prod(_sizes(shape, "shape")) * _itemsize(dtype, "dtype")


def sparse_matrix_bytes(
    shape: Sequence[int],
    nnz: int,
    dtype: DTypeLike = "float32",
    index_dtype: DTypeLike = "int32",
    fmt: str = "csr",
) -> int:
    """Bytes of a scipy sparse matrix's buffers: values, indices and row/column pointers.

    For a density d, pass `nnz=round(d * rows * cols)`. As scipy does, indices are widened to
    int64 when `nnz` or a dimension does not fit in int32.

    Args:
        shape: (rows, cols).
        nnz: number of stored entries.
        dtype: dtype of the values.
        index_dtype: dtype of the index arrays.
        fmt: "csr" (indptr of rows + 1), "csc" (indptr of cols + 1) or "coo" (row and column
            index per entry).

    Raises:
        ValueError: shape is not 2-D, nnz is outside [0, rows * cols], or fmt is unknown.
    """
    rows, cols = _sizes(shape, "shape", ndim=2)
    (nnz,) = _sizes((nnz,), "nnz")
    if nnz > rows * cols:
        raise ValueError(f"nnz={nnz} exceeds the {rows} x {cols} = {rows * cols} cells of shape")
    index_size = _itemsize(index_dtype, "index_dtype")
    if max(nnz, rows, cols) > _INT32_MAX:
        index_size = max(index_size, 8)
    value_size = _itemsize(dtype, "dtype")
    if fmt == "csr":
        return nnz * (value_size + index_size) + (rows + 1) * index_size
    if fmt == "csc":
        return nnz * (value_size + index_size) + (cols + 1) * index_size
    if fmt == "coo":
        return nnz * (value_size + 2 * index_size)
    raise ValueError(f"fmt={fmt!r} is not one of {', '.join(_SPARSE_FORMATS)}")


def training_bytes(
    n_params: int,
    *,
    param_dtype: DTypeLike = "float32",
    optimizer: str = "adam",
    activations_bytes: int = 0,
    mixed_precision: bool = False,
) -> int:
    """Bytes to train a model: weights + gradients + optimizer state + activations.

    Args:
        n_params: number of trainable parameters.
        param_dtype: dtype of the weights, numpy or torch (e.g. "bfloat16"); gradients and
            optimizer state share it, as torch's optimizers keep them.
        optimizer: "adam" / "adamw" (two moments), "sgd" (no state) or "sgd_momentum" (one
            momentum buffer).
        activations_bytes: bytes of activations kept for the backward pass of one step
            (per-sample activations x micro-batch size), estimated by the caller.
        mixed_precision: add the float16 weight copies torch.autocast makes (2 bytes per
            parameter); weights, gradients and state stay in `param_dtype`.

    Raises:
        ValueError: unknown optimizer, or a negative count.
    """
    (n_params,) = _sizes((n_params,), "n_params")
    (activations_bytes,) = _sizes((activations_bytes,), "activations_bytes")
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"optimizer={optimizer!r} is not one of {', '.join(OPTIMIZER_STATES)}")
    per_param = _itemsize(param_dtype, "param_dtype") * (2 + OPTIMIZER_STATES[optimizer])
    if mixed_precision:
        per_param += _AUTOCAST_WEIGHT_BYTES
    return n_params * per_param + activations_bytes


def _sizes(values: Sequence[int], name: str, ndim: int | None = None) -> tuple[int, ...]:
    """Validate non-negative integer sizes (numpy integers allowed) and return them as ints."""
    values = tuple(values)
    if ndim is not None and len(values) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got {values!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must hold non-negative integers, got {values!r}")
    return tuple(int(value) for value in values)


def _itemsize(dtype: DTypeLike, name: str) -> int:
    """Bytes per element of a numpy dtype, or of a torch dtype given by name or object."""
    try:
        return np.dtype(dtype).itemsize
    except TypeError:
        torch_name = str(dtype).removeprefix("torch.")
        if torch_name in _TORCH_ONLY_ITEMSIZES:
            return _TORCH_ONLY_ITEMSIZES[torch_name]
        try:
            return np.dtype(torch_name).itemsize
        except TypeError as error:
            raise ValueError(f"{name}={dtype!r} is not a numpy or torch dtype") from error
