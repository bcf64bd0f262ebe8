"""Item-item k-nearest-neighbour model on a sparse top-k cosine similarity matrix."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys_lib.data.interactions import Interactions
from recsys_lib.memory import dense_matrix_bytes, sparse_matrix_bytes
from recsys_lib.models.base import Recommender, fit_estimate
from recsys_lib.models.baseline import BiasBaseline, Biases
from recsys_lib.models.scoring import top_k_numpy

__all__ = ["ItemKNN", "auto_block_size", "item_neighbors"]

logger = logging.getLogger(__name__)

BLOCK_BUDGET_BYTES = 64 * 2**20  # per worker: one dense block of rows and its top-k work
_BYTES_PER_CELL = 16  # float32 rows + their negated copy + boolean masks + product entries
_CHUNK_NNZ = 5_000_000  # gathered rating entries per prediction chunk


def auto_block_size(n_items: int, budget_bytes: int = BLOCK_BUDGET_BYTES) -> int:
    """Items per similarity block so that one block's work stays within `budget_bytes`."""
    return int(min(max(n_items, 1), max(1, budget_bytes // (_BYTES_PER_CELL * max(n_items, 1)))))


def item_neighbors(
    user_items: sp.csr_matrix,
    n_neighbors: int,
    *,
    block_size: int | None = None,
    n_jobs: int | None = None,
) -> sp.csr_matrix:
    """Top-`n_neighbors` cosine neighbours of every item, without an items x items matrix.

    Item columns are L2-normalised; each block of `block_size` items is multiplied with
    all items (a sparse x sparse product), densified to (block_size, n_items), and only
    each row's `n_neighbors` largest positive similarities are kept (ties to the lower
    item index; an item is never its own neighbour; items without a common user, whose
    similarity is 0, never are either).

    Args:
        user_items: float32 users x items CSR matrix.
        n_neighbors: neighbours kept per item.
        block_size: items per block; None sizes blocks to a 64 MB per-worker budget.
        n_jobs: threads working on blocks at once (scipy's products release the GIL);
            None uses every available core.

    Returns:
        float32 CSR of shape (n_items, n_items): row i holds item i's neighbours j with
        cosine(i, j). The result does not depend on `block_size` or `n_jobs`.
    """
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be at least 1, got {n_neighbors}")
    if block_size is not None and block_size < 1:
        raise ValueError(f"block_size must be at least 1 or None, got {block_size}")
    n_items = user_items.shape[1]
    k = min(n_neighbors, n_items - 1)
    if k < 1 or user_items.nnz == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    block_size = auto_block_size(n_items) if block_size is None else block_size
    n_jobs = _default_jobs() if n_jobs is None else max(1, n_jobs)
    norms = np.sqrt(np.bincount(user_items.indices, user_items.data.astype(np.float64) ** 2,
                                minlength=n_items))
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)
    users_items = sp.csr_matrix(
        (user_items.data * scale[user_items.indices], user_items.indices, user_items.indptr),
        shape=user_items.shape,
    )
    items_users = users_items.T.tocsr()

    def block(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = (items_users[start : start + block_size] @ users_items).toarray()
        rows[np.arange(len(rows)), np.arange(start, start + len(rows))] = 0  # not itself
        best, best_values = top_k_numpy(rows, k)
        keep = best_values > 0
        items = np.broadcast_to(np.arange(start, start + len(rows))[:, None], best.shape)
        return items[keep].astype(np.int32), best[keep], best_values[keep]

    starts = range(0, n_items, block_size)
    logger.debug("item similarity: %d blocks of %d items on %d threads",
                 len(starts), block_size, n_jobs)
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        parts = list(pool.map(block, starts))
    rows, cols, values = (np.concatenate([part[i] for part in parts]) for i in range(3))
    neighbors = sp.csr_matrix((values, (rows, cols)), shape=(n_items, n_items), dtype=np.float32)
    neighbors.sort_indices()
    return neighbors


def _default_jobs() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class ItemKNN(Recommender):
    """Item-item KNN: baseline plus the similarity-weighted residuals of rated neighbours.

    `r_ui = b_ui + sum_j s_ij (r_uj - b_uj) / (sum_j |s_ij| + shrinkage)` over item i's
    `n_neighbors` most similar items j that user u rated; the shrinkage pulls predictions
    with little neighbour evidence towards the baseline. Ranking scores are
    `user_items @ similarity`: each item's similarity-weighted sum of the user's ratings.

    Args:
        n_neighbors: neighbours kept per item.
        shrinkage: added to the similarity mass in the prediction's denominator.
        block_size: items per similarity block (None: sized to a 64 MB per-worker budget).
        n_jobs: threads computing similarity blocks (None: every available core).
    """

    def __init__(
        self,
        n_neighbors: int = 15,
        shrinkage: float = 1.0,
        block_size: int | None = None,
        n_jobs: int | None = None,
    ) -> None:
        super().__init__()
        if n_neighbors < 1:
            raise ValueError(f"n_neighbors must be at least 1, got {n_neighbors}")
        if shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage
        self.block_size = block_size
        self.n_jobs = n_jobs
        self.biases_: Biases | None = None
        self.neighbors_: sp.csr_matrix | None = None
        self._residuals: sp.csr_matrix | None = None
        self._similarity_t: sp.csr_matrix | None = None

    def _fit(self, train: Interactions) -> None:
        self.biases_ = Biases.fit(train.user_items)
        self.neighbors_ = item_neighbors(
            train.user_items, self.n_neighbors, block_size=self.block_size, n_jobs=self.n_jobs
        )
        self._residuals = self._similarity_t = None

    def _predict(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        ratings = self.biases_.predict(user_rows, item_cols)
        known = np.flatnonzero((user_rows >= 0) & (item_cols >= 0))
        if len(known) == 0:
            return self.biases_.clip(ratings)
        if self._residuals is None:
            self._residuals = self.biases_.residuals(self.train_.user_items)
        # Chunks of pairs whose users hold about _CHUNK_NNZ ratings in all bound memory.
        gathered = np.cumsum(np.diff(self._residuals.indptr)[user_rows[known]])
        for chunk in np.split(known, np.flatnonzero(np.diff(gathered // _CHUNK_NNZ)) + 1):
            ratings[chunk] += self._neighbour_term(user_rows[chunk], item_cols[chunk])
        return self.biases_.clip(ratings)

    def _neighbour_term(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """sum s (r - b) / (sum |s| + shrinkage) for known index pairs, float32."""
        residuals = self._residuals[user_rows]
        similarity = self.neighbors_[item_cols]
        numerator = np.asarray(residuals.multiply(similarity).sum(axis=1)).ravel()
        rated = sp.csr_matrix(
            (np.ones_like(residuals.data), residuals.indices, residuals.indptr),
            shape=residuals.shape,
        )
        mass = np.asarray(rated.multiply(abs(similarity)).sum(axis=1)).ravel() + self.shrinkage
        term = np.divide(numerator, mass, out=np.zeros_like(numerator), where=mass > 0)
        return term.astype(np.float32)

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        if self._similarity_t is None:
            self._similarity_t = self.neighbors_.T.tocsr()
        return (self.train_.user_items[user_rows] @ self._similarity_t).toarray()

    def get_params(self) -> dict[str, Any]:
        return {
            "n_neighbors": self.n_neighbors,
            "shrinkage": self.shrinkage,
            "block_size": self.block_size,
            "n_jobs": self.n_jobs,
        }

    def _get_state(self) -> dict[str, np.ndarray]:
        n = self.neighbors_
        return {
            **self.biases_.state(),
            "neighbor_data": n.data,
            "neighbor_indices": n.indices,
            "neighbor_indptr": n.indptr,
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.biases_ = Biases.from_state(state)
        n_items = len(self.biases_.item)
        self.neighbors_ = sp.csr_matrix(
            (state["neighbor_data"], state["neighbor_indices"], state["neighbor_indptr"]),
            shape=(n_items, n_items),
        )
        self._residuals = self._similarity_t = None

    @fit_estimate
    def estimate_fit_bytes(
        cls,
        n_users: int,
        n_items: int,
        nnz: int,
        *,
        n_neighbors: int = 15,
        block_size: int | None = None,
        n_jobs: int | None = None,
    ) -> int:
        """Peak of the baseline fit and the similarity phase: the normalised float32 values
        and their items x users transpose, the concurrent blocks' work (`_BYTES_PER_CELL`
        per block cell) and the neighbour lists (collected, then built as COO and CSR)."""
        n_jobs = _default_jobs() if n_jobs is None else max(1, n_jobs)
        block_size = auto_block_size(n_items) if block_size is None else block_size
        normalised = dense_matrix_bytes((nnz,)) + sparse_matrix_bytes((n_items, n_users), nnz)
        blocks = n_jobs * _BYTES_PER_CELL * min(block_size, n_items) * n_items
        n_pairs = n_items * min(n_neighbors, max(n_items - 1, 0))
        neighbors = 2 * sparse_matrix_bytes((n_items, n_items), n_pairs, fmt="coo") + (
            sparse_matrix_bytes((n_items, n_items), n_pairs)
        )
        baseline = BiasBaseline.estimate_fit_bytes(n_users, n_items, nnz)
        return max(baseline, normalised + blocks + neighbors)
