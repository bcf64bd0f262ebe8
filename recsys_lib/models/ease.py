"""EASE (Steck 2019): a closed-form item-item linear autoencoder, float32, items capped to fit."""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys_lib.data.interactions import Interactions
from recsys_lib.environment import available_cores
from recsys_lib.memory import dense_matrix_bytes, memory_limit
from recsys_lib.memory.units import format_mb, to_mb
from recsys_lib.models.base import Recommender, fit_estimate
from recsys_lib.models.row_chunks import dense_product, map_row_chunks

__all__ = [
    "DEFAULT_LAMBDA", "DEFAULT_MAX_ITEMS", "EASE", "ease_factors", "ease_weights", "uses_woodbury",
]

logger = logging.getLogger(__name__)

DEFAULT_LAMBDA = 500.0
DEFAULT_MAX_ITEMS = 10_000  # 400 MB of float32 weights; ml-latest-small (9,724 items) fits
BUDGET_FRACTION = 0.7  # share of the available memory the fit may plan to use (preflight's "fits")
_GRAM_BLOCK_BYTES = 64 * 2**20  # sparse product work per block of Gram rows
_BYTES_PER_GRAM_CELL = 16  # a block's sparse product (float32 value, int32 index, scipy's
# work) and its dense copy
_GRAM_GROUPS = 8  # row groups of the upper-triangle Gram, each against its own columns
_CHECKSUM_RTOL = 1e-4  # relative change of sum |B| on load beyond float32 rounding


def ease_weights(
    user_items: sp.csr_matrix, lam: float, *, block_bytes: int = _GRAM_BLOCK_BYTES
) -> np.ndarray:
    """EASE's item-item weights `B = I - P / diag(P)`, `P = (X^T X + lam I)^-1`, diag(B) = 0.

    X is the binary (rated = 1) users x items matrix. One float32 items x items array is
    allocated: the Gram matrix's upper triangle is written into it block by block from
    sparse products (`_upper_gram`), then LAPACK's Cholesky factorisation (spotrf) and
    inverse (spotri) overwrite it, and the scaling to B happens in place. With far fewer
    users than items (`uses_woodbury`), `ease_factors` gives the same B in users x items
    memory.

    Args:
        user_items: float32 users x items, CSR or CSC (stored entries count as
            interactions). As CSC its items x users transpose is a view: the Gram's
            sparse work then holds one copy of it besides `user_items`, not two.
        lam: L2 weight lambda, > 0 (keeps the Gram matrix positive definite).
        block_bytes: work budget of one block of Gram rows, in bytes.

    Returns:
        float32 C-contiguous B of shape (n_items, n_items); scores are `X_u @ B`.

    Raises:
        ValueError: lam <= 0.
        np.linalg.LinAlgError: the factorisation failed (a non-finite input).
    """
    _check_lam(lam)
    n_items = user_items.shape[1]
    block = max(1, block_bytes // (_BYTES_PER_GRAM_CELL * max(n_items, 1)))
    # items x users: a view of a CSC matrix, a copy of a CSR one
    items_users = user_items.T if user_items.format == "csc" else user_items.T.tocsr()
    gram = _upper_gram(_binary(items_users), block)
    del items_users
    gram.flat[:: n_items + 1] += np.float32(lam)
    weights = _inverse_in_place(gram, "X^T X + lam I")
    del gram
    _mirror_upper_to_lower(weights, max(1, block // 4))
    diagonal = weights.diagonal().copy()
    weights *= (-1.0 / diagonal)[None, :]
    np.fill_diagonal(weights, 0.0)
    return weights


def ease_factors(user_items: sp.csr_matrix, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """EASE's weights in Woodbury's form, for far fewer users than items (`uses_woodbury`).

    `(X^T X + lam I)^-1 = (I - X^T S) / lam` with `S = (X X^T + lam I)^-1 X`, so
    `B_ij = (X^T S)_ij / (1 - g_j)` for i != j, `g = diag(X^T S)`, and a user's scores are
    `X_u B = ((X_u X^T) S - X_u * g) / (1 - g)`: users x items memory, no items x items
    array. The users x users system is factorised and inverted in place in float64
    (LAPACK's dpotrf, dpotri), then S is written by chunks of items from the float32
    inverse: at most one float64 and one float32 users x users array, or the float32
    inverse and S, at once (`_woodbury_bytes`).

    Args:
        user_items: float32 users x items CSR (stored entries count as interactions).
        lam: L2 weight lambda, > 0.

    Returns:
        S, float32 C-contiguous (n_users, n_items), and g, float32 (n_items,), each < 1.

    Raises:
        ValueError: lam <= 0.
        np.linalg.LinAlgError: the factorisation failed (a non-finite input).
    """
    _check_lam(lam)
    binary = _binary(user_items)
    binary_t = binary.T.tocsr()  # items x users
    n_users, n_items = binary.shape
    kernel = dense_product(binary, binary_t).astype(np.float64)
    kernel.flat[:: n_users + 1] += lam
    inverse = _inverse_in_place(kernel, "X X^T + lam I")
    del kernel
    _mirror_upper_to_lower(inverse, 256)
    inverse = inverse.astype(np.float32)
    solved = np.empty((n_users, n_items), dtype=np.float32)

    def items(chunk: slice) -> None:  # S's columns: X^T of them times the symmetric inverse
        solved[:, chunk] = (binary_t[chunk] @ inverse).T

    map_row_chunks(items, n_items, n_users)
    rows = np.repeat(np.arange(n_users), np.diff(binary.indptr))
    diagonal = np.bincount(binary.indices, weights=solved[rows, binary.indices],
                           minlength=n_items)
    return solved, diagonal.astype(np.float32)


def _inverse_in_place(matrix: np.ndarray, name: str) -> np.ndarray:
    """The inverse of a symmetric positive definite C-ordered float32 or float64 array,
    computed in its memory by LAPACK (Cholesky factorisation ?potrf, then ?potri): the
    C-ordered view of `matrix` whose upper triangle holds it, the lower one left unset.

    Being symmetric, `matrix` transposed is the same matrix in Fortran order, which LAPACK
    works on in place (f2py copies only arrays of another order or dtype); the Fortran
    lower triangle it fills is the C-ordered view's upper one.

    Raises:
        np.linalg.LinAlgError: a step failed (`name` says which matrix).
    """
    from scipy.linalg import lapack

    single = matrix.dtype == np.float32
    potrf, potri = (lapack.spotrf, lapack.spotri) if single else (lapack.dpotrf, lapack.dpotri)
    factor, info = potrf(matrix.T, lower=1, clean=0, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky factorisation of {name} failed (info={info})")
    inverse, info = potri(factor, lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"inverting {name} failed (info={info})")
    return inverse.T


def _check_lam(lam: float) -> None:
    if not lam > 0:
        raise ValueError(f"lam must be > 0, got {lam}")


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """float32 ones on `matrix`'s pattern (CSR): `matrix` itself when it holds only ones."""
    if matrix.dtype == np.float32 and np.all(matrix.data == 1):
        return matrix
    return sp.csr_matrix(
        (np.ones(matrix.nnz, dtype=np.float32), matrix.indices, matrix.indptr),
        shape=matrix.shape,
    )


def _upper_gram(items_users: sp.csr_matrix, block: int) -> np.ndarray:
    """The upper triangle (diagonal included) of `X^T X` in a float32 items x items array
    whose lower triangle is left unset: what LAPACK's factorisation reads, for about
    half the sparse work of the whole matrix.

    `items_users` is X^T, binary CSR. The rows fall in `_GRAM_GROUPS` groups; each
    group's rows are computed at most `block` at a time (at least four blocks per core)
    on every core, against X's columns from the group's first row on, a users x items
    CSR built for the group from those rows of X^T (the previous group's is freed
    first, so at most one exists besides X^T)."""
    n_items, n_users = items_users.shape
    gram = np.empty((n_items, n_items), dtype=np.float32)
    cores = available_cores()
    group = max(block, -(-n_items // _GRAM_GROUPS))
    block = min(block, max(1, group // (4 * cores)))  # several blocks per core and group

    def rows(start: int, stop: int, columns: sp.csr_matrix) -> None:
        first = n_items - columns.shape[1]
        gram[start:stop, first:] = (items_users[start:stop] @ columns).toarray()

    with ThreadPoolExecutor(max_workers=cores) as pool:
        for begin in range(0, n_items, group):
            columns = None  # the previous group's, before the next is built
            entry = items_users.indptr[begin]
            # rows begin: of X^T are X's columns begin: as CSC; as CSR for the products
            columns = sp.csc_matrix(
                (items_users.data[entry:], items_users.indices[entry:],
                 items_users.indptr[begin:] - entry),
                shape=(n_users, n_items - begin),
            ).tocsr()
            end = min(begin + group, n_items)
            starts = range(begin, end, block)
            list(pool.map(rows, starts, [min(start + block, end) for start in starts],
                          [columns] * len(starts)))
    return gram


def _mirror_upper_to_lower(square: np.ndarray, block: int) -> None:
    """Copy the upper triangle of a square array onto its lower one, in place, in blocks
    of `block` rows (the temporary copy is one block's rows)."""
    n = square.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        square[stop:, start:stop] = square[start:stop, stop:].T
        corner = square[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        corner[lower] = corner.T[lower]


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder (Steck 2019); ranking only.

    Scores are `X_u @ B` with X the binary interactions and B the closed-form item-item
    weights. B is a dense items x items float32 array, `weights_` (`ease_weights`), or,
    with so few users that this takes less memory (`uses_woodbury`), it is kept in
    Woodbury's form, `solved_` (users x items) and `diagonal_` (`ease_factors`), and
    `weights_` is None;
    `weight_rows` gives rows of B either way. The items modelled are capped: the
    `n_items_kept_` most-rated training items (ties to the lower item index) that fit
    both `max_items` and the memory budget. Items outside that set
    are ranked after every kept item, most rated first, so EASE never recommends a
    dropped item above a kept one; `summary()` says how many items were kept and what
    share of the training ratings they hold. `save` writes the training matrix and the
    kept items, not B or its factors: `load` recomputes them, deterministically, in the
    time and memory of a fit (a warning says if they differ from the saved fit's).

    Args:
        lam: L2 weight lambda (in interactions; Steck used 200-1000 on MovieLens-20M).
        max_items: most items modelled (None: no cap beyond memory). The default keeps a
            dense B at 400 MB.
        memory_budget_mb: memory the fit may plan to use, in MB; None = 70% of the memory
            available when `fit` starts (container-aware).
    """

    predicts_ratings = False

    def __init__(
        self,
        lam: float = DEFAULT_LAMBDA,
        max_items: int | None = DEFAULT_MAX_ITEMS,
        memory_budget_mb: float | None = None,
    ) -> None:
        super().__init__()
        if not lam > 0:
            raise ValueError(f"lam must be > 0, got {lam}")
        if max_items is not None and max_items < 1:
            raise ValueError(f"max_items must be at least 1 or None, got {max_items}")
        if memory_budget_mb is not None and not memory_budget_mb > 0:
            raise ValueError(f"memory_budget_mb must be > 0 or None, got {memory_budget_mb}")
        self.lam = lam
        self.max_items = max_items
        self.memory_budget_mb = memory_budget_mb
        self.kept_: np.ndarray | None = None
        self.weights_: np.ndarray | None = None
        self.solved_: np.ndarray | None = None
        self.diagonal_: np.ndarray | None = None
        self.n_items_kept_: int = 0
        self.rating_share_kept_: float = 0.0
        self.cap_reason_: str = ""
        self._kept_interactions: sp.csr_matrix | None = None
        self._tail: np.ndarray | None = None

    def _fit(self, train: Interactions) -> None:
        budget = self._budget_bytes()
        fitting = self.max_items_fitting(train.n_users, train.nnz, budget)
        n_kept, reason = train.n_items, ""
        if self.max_items is not None and self.max_items < n_kept:
            n_kept, reason = self.max_items, f"max_items={self.max_items:,}"
        if fitting < n_kept:
            n_kept, reason = fitting, f"a memory budget of {format_mb(to_mb(budget))}"
        if n_kept < 1:
            raise MemoryError(
                f"EASE: not even one item fits a memory budget of {format_mb(to_mb(budget))}"
            )
        counts = self._popularity
        by_count = np.argsort(-counts, kind="stable")
        self.kept_ = np.sort(by_count[:n_kept]).astype(np.int32)
        self.n_items_kept_ = n_kept
        self.rating_share_kept_ = float(counts[self.kept_].sum() / max(counts.sum(), 1.0))
        self.cap_reason_ = reason
        self._kept_interactions = self._tail = None
        if reason:
            logger.warning("%s", self.summary())
        self._solve()

    def _solve(self) -> None:
        """B over the kept items: dense, or Woodbury's factors where they are smaller."""
        kept = self._kept_matrix()
        self.weights_ = self.solved_ = self.diagonal_ = None
        if uses_woodbury(*kept.shape):
            self.solved_, self.diagonal_ = ease_factors(kept, self.lam)
        else:
            # scoring with a dense B reads only the scored users' rows: built per batch
            # (MovieLens 25M, 10,000 items: 133 MB not held); as CSC here, so that the
            # Gram's work holds one other copy of it (`ease_weights`)
            self._kept_interactions = None
            kept = kept.tocsc()
            self.weights_ = ease_weights(kept, self.lam)

    def weight_rows(self, positions: np.ndarray) -> np.ndarray:
        """Rows of B for kept-item positions (indices into `kept_`).

        Returns:
            float32 (len(positions), n_items_kept_): how much each kept item adds to the
            others' scores; 0 for the item itself.
        """
        self._require_fitted()
        positions = np.asarray(positions)
        if self.weights_ is not None:
            return self.weights_[positions]
        raters = self._kept_matrix()[:, positions].T.tocsr()  # positions x users
        rows = np.asarray(raters @ self.solved_, dtype=np.float32)
        rows /= 1.0 - self.diagonal_[None, :]
        rows[np.arange(len(positions)), positions] = 0.0
        return rows

    def _budget_bytes(self) -> int:
        if self.memory_budget_mb is not None:
            return int(self.memory_budget_mb * 2**20)
        return int(BUDGET_FRACTION * memory_limit().available_bytes)

    @classmethod
    def max_items_fitting(cls, n_users: int, nnz: int, budget_bytes: int) -> int:
        """Most items whose fit (see `estimate_fit_bytes`) stays within `budget_bytes`."""
        left = max(0, budget_bytes - _sparse_work_bytes(n_users, 0, nnz))
        # the dense array bounds n by sqrt(left / 4), Woodbury's by left / (4 n_users)
        high = max(math.isqrt(left // 4), left // (4 * max(n_users, 1)))
        low = 0
        while low < high:  # the estimate grows with the items: bisect
            middle = (low + high + 1) // 2
            if cls.estimate_fit_bytes(n_users, middle, nnz, max_items=None) <= budget_bytes:
                low = middle
            else:
                high = middle - 1
        return low

    def summary(self) -> str:
        """One line: lambda, items kept (and why capped), share of training ratings kept."""
        train = self._require_fitted()
        why = f", capped by {self.cap_reason_}" if self.cap_reason_ else ""
        return (
            f"EASE(lambda={self.lam:g}): {self.n_items_kept_:,} of {train.n_items:,} items "
            f"modelled{why}, holding {self.rating_share_kept_:.1%} of the training ratings"
        )

    def _kept_matrix(self) -> sp.csr_matrix:
        """Binary users x kept items, float32 CSR (held while B is in Woodbury's form)."""
        if self._kept_interactions is None:
            self._kept_interactions = self._kept_columns(self.train_.user_items)
        return self._kept_interactions

    def _kept_columns(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """The kept items' columns of `user_items`, binary float32 CSR."""
        return _binary(user_items)[:, self.kept_]

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        n_items = self.train_.n_items
        kept_scores = self._kept_scores(user_rows)
        if self.n_items_kept_ == n_items:
            return np.ascontiguousarray(kept_scores, dtype=np.float32)
        if self._tail is None:
            self._tail = _tail_scores(self._popularity, self.kept_)
        floor = kept_scores.min(axis=1, keepdims=True)
        scores = np.empty((len(user_rows), n_items), dtype=np.float32)
        scores[:] = self._tail[None, :]
        scores += floor - 1.0  # tail items sit below every kept item's score
        scores[:, self.kept_] = kept_scores
        return scores

    def _kept_scores(self, user_rows: np.ndarray) -> np.ndarray:
        """float32 `X_u @ B` over the kept items."""
        if self.weights_ is not None:
            return dense_product(self._kept_columns(self.train_.user_items[user_rows]),
                                 self.weights_)
        matrix = self._kept_matrix()
        rated = matrix[user_rows]
        scores = (rated @ matrix.T).toarray() @ self.solved_
        rows = np.repeat(np.arange(len(user_rows)), np.diff(rated.indptr))
        scores[rows, rated.indices] -= self.diagonal_[rated.indices]  # B's zero diagonal
        scores /= 1.0 - self.diagonal_[None, :]
        return scores

    def get_params(self) -> dict[str, Any]:
        return {
            "lam": self.lam,
            "max_items": self.max_items,
            "memory_budget_mb": self.memory_budget_mb,
        }

    def _get_state(self) -> dict[str, np.ndarray]:
        """The recipe of the weights, not the weights: the kept items (the training matrix
        is saved with every model) and a checksum; `load` recomputes B from them."""
        return {
            "kept": self.kept_,
            "fit_checksum": np.array(self._checksum()),
            "rating_share_kept": np.array(self.rating_share_kept_),
            "cap_reason": np.array(self.cap_reason_),
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.kept_ = state["kept"]
        self.n_items_kept_ = len(self.kept_)
        self.rating_share_kept_ = float(state["rating_share_kept"])
        self.cap_reason_ = str(state["cap_reason"])
        self._kept_interactions = self._tail = None
        if "weights" in state:  # a file saved with its weights (before the recipe)
            self.weights_, self.solved_, self.diagonal_ = state["weights"], None, None
            return
        self._solve()
        saved, again = float(state["fit_checksum"]), self._checksum()
        if abs(again - saved) > _CHECKSUM_RTOL * saved:
            logger.warning("EASE: the weights recomputed on load differ from the saved fit's "
                           "(checksum %.6g vs %.6g): another numpy or BLAS?", again, saved)

    def _checksum(self) -> float:
        """sum |B| (or |S|, |g| in Woodbury's form) in float64, checked after `load`."""
        arrays = [self.weights_] if self.weights_ is not None else [self.solved_, self.diagonal_]
        return sum(float(np.abs(array).sum(dtype=np.float64)) for array in arrays)

    @fit_estimate
    def estimate_fit_bytes(
        cls, n_users: int, n_items: int, nnz: int, *, max_items: int | None = DEFAULT_MAX_ITEMS
    ) -> int:
        """With items capped at `max_items`: the one float32 items x items array (Gram
        matrix, then its inverse, then B, all in place), or where it is smaller
        (`uses_woodbury`) Woodbury's users x users arrays and S (`_woodbury_bytes`); the
        binary interactions and their transpose (float32 CSR); one block of the Gram
        product."""
        n = n_items if max_items is None else min(n_items, max_items)
        dense = min(_woodbury_bytes(n_users, n), dense_matrix_bytes((n, n)))
        return dense + _sparse_work_bytes(n_users, n, nnz)


def uses_woodbury(n_users: int, n_items: int) -> bool:
    """Whether EASE keeps B in Woodbury's form (`ease_factors`) for this many users and
    items: when its arrays take less memory than the one items x items float32 array
    (ml-latest-small's 610 users x 9,724 items: 25 MB instead of 378 MB; a 25M-rating
    run's 3,969-user blend sample at 10,000 items: 222 MB instead of 400 MB)."""
    return _woodbury_bytes(n_users, n_items) < dense_matrix_bytes((n_items, n_items))


def _woodbury_bytes(n_users: int, n_items: int) -> int:
    """The most `ease_factors` holds at once: float32 and float64 users x users arrays
    (the kernel's copies, the inverse's), or the float32 inverse and S (users x items)."""
    square = dense_matrix_bytes((n_users, n_users))
    return max(3 * square, square + dense_matrix_bytes((n_users, n_items)))


def _sparse_work_bytes(n_users: int, n_items: int, nnz: int) -> int:
    """Two copies of the binary float32 interactions (while the Gram is built: X as CSC,
    viewed as X^T, and one group's column slice; with Woodbury's form X and X^T) and one
    Gram block's work per core."""
    entries = 2 * nnz * (dense_matrix_bytes((1,)) + dense_matrix_bytes((1,), "int32"))
    pointers = dense_matrix_bytes((n_users + n_items + 2,), "int32")
    return entries + pointers + available_cores() * _GRAM_BLOCK_BYTES


def _tail_scores(popularity: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """float32 scores <= 0 for items outside `kept`: -rank by rating count (ties to the lower
    index), so the most rated dropped item scores 0 and the rest follow; kept items 0."""
    tail = np.ones(len(popularity), dtype=bool)
    tail[kept] = False
    order = np.flatnonzero(tail)[np.argsort(-popularity[tail], kind="stable")]
    scores = np.zeros(len(popularity), dtype=np.float32)
    scores[order] = -np.arange(len(order), dtype=np.float32)
    return scores
