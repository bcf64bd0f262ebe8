"""Top-k selection over score blocks, with seen items masked: numpy on CPU, torch on GPU."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    import torch

__all__ = ["mask_seen", "top_k_numpy", "top_k_torch"]


def mask_seen(scores: np.ndarray, seen: sp.csr_matrix) -> np.ndarray:
    """Set scores of the stored entries of `seen` (same rows as `scores`) to -inf, in place."""
    rows = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
    scores[rows, seen.indices] = -np.inf
    return scores


def top_k_numpy(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best `k` columns of each row, best first.

    Args:
        scores: float32 array of shape (n_rows, n_items); -inf marks excluded items.
        k: how many to keep; at most n_items.

    Returns:
        int32 column indices and float32 scores, each of shape (n_rows, k); where a row has
        fewer than k finite scores the tail holds index -1 and score -inf.
    """
    k = min(k, scores.shape[1])
    if k == 0:
        return np.empty((scores.shape[0], 0), np.int32), np.empty((scores.shape[0], 0), np.float32)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    index = np.take_along_axis(part, order, axis=1).astype(np.int32)
    best = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    index[~np.isfinite(best)] = -1
    return index, best


def top_k_torch(
    scores: torch.Tensor, k: int, seen: sp.csr_matrix | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Like `top_k_numpy` for a torch tensor on any device; masks `seen` on that device.

    Returns numpy arrays on the CPU; the caller releases cached GPU memory between batches.
    """
    import torch

    if seen is not None and seen.nnz:
        rows = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
        index = _as_long(np.stack([rows, seen.indices]), scores.device)
        scores = scores.index_put((index[0], index[1]), torch.tensor(-torch.inf, device=scores.device))
    k = min(k, scores.shape[1])
    best, index = torch.topk(scores.float(), k, dim=1)
    best_np = best.cpu().numpy().astype(np.float32)
    index_np = index.cpu().numpy().astype(np.int32)
    index_np[~np.isfinite(best_np)] = -1
    return index_np, best_np


def _as_long(array: np.ndarray, device: Any) -> torch.Tensor:
    import torch

    return torch.from_numpy(array.astype(np.int64)).to(device)
