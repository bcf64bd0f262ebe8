"""The one value that crosses the model boundary: a float32 users x items CSR matrix with
the raw MovieLens id arrays that map its rows and columns back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_lib.data.schema import DataError

__all__ = [
    "Interactions", "build_user_items", "count_by", "drop_duplicate_pairs", "index_of",
    "unique_ids",
]


def build_user_items(
    user_index: np.ndarray, item_index: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Float32 CSR matrix with int32 indices from (row, column, value) triples.

    Duplicate (row, column) pairs are summed, as scipy does; callers that must not sum
    resolve duplicates first (see `drop_duplicate_pairs`).
    """
    matrix = sp.csr_matrix(
        (np.asarray(values, dtype=np.float32), (user_index, item_index)), shape=shape
    )
    matrix.sum_duplicates()
    matrix.indices = matrix.indices.astype(np.int32, copy=False)
    matrix.indptr = matrix.indptr.astype(np.int32, copy=False)
    return matrix


#: Ids at most this large (or 4 per known id) are looked up in a table instead of searched
#: (MovieLens 25M's 20M training ratings: 0.05 s instead of 1 s per id column).
_LOOKUP_IDS = 1 << 20


def index_of(sorted_ids: np.ndarray, raw_ids: np.ndarray) -> np.ndarray:
    """Positions of `raw_ids` in the sorted unique array `sorted_ids`.

    Returns:
        int32 array shaped like `raw_ids`, -1 where an id is unknown.
    """
    raw_ids = np.asarray(raw_ids)
    if len(sorted_ids) == 0:
        return np.full(raw_ids.shape, -1, dtype=np.int32)
    if _small_ids(sorted_ids, raw_ids):  # a table of every id up to the largest known
        highest = int(sorted_ids[-1])
        table = np.full(highest + 2, -1, dtype=np.int32)  # the last slot: out of range
        table[sorted_ids] = np.arange(len(sorted_ids), dtype=np.int32)
        if raw_ids.size and (raw_ids.min() < 0 or raw_ids.max() > highest):
            raw_ids = np.where((raw_ids >= 0) & (raw_ids <= highest), raw_ids, highest + 1)
        return table[raw_ids]
    position = np.searchsorted(sorted_ids, raw_ids)
    position = np.minimum(position, len(sorted_ids) - 1)
    found = sorted_ids[position] == raw_ids
    return np.where(found, position, -1).astype(np.int32)


def unique_ids(ids: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an array of ids, as `np.unique` gives them; counted in
    a table instead of sorted when the ids are small non-negative integers."""
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu" and ids.size and _fits_table(ids.min(), ids.max(), ids.size):
        return np.flatnonzero(np.bincount(ids.ravel())).astype(ids.dtype)
    return np.unique(ids)


def _small_ids(sorted_ids: np.ndarray, raw_ids: np.ndarray) -> bool:
    """Whether `index_of` can look integer ids up in a table of the largest known one's
    size (`_fits_table`, four slots per known id)."""
    return (
        sorted_ids.dtype.kind in "iu" and raw_ids.dtype.kind in "iu"
        and _fits_table(sorted_ids[0], sorted_ids[-1], 4 * len(sorted_ids))
    )


def _fits_table(lowest: int, highest: int, slots: int) -> bool:
    """Whether ids from `lowest` to `highest` index a table of at most `_LOOKUP_IDS`
    entries, or of `slots` where that is more."""
    return int(lowest) >= 0 and int(highest) < max(_LOOKUP_IDS, slots)


def drop_duplicate_pairs(ratings: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep one rating per (user_id, item_id): the latest by timestamp, then the last row.

    Returns:
        The de-duplicated frame (original row order kept) and the number of rows dropped.
    """
    order = ["user_id", "item_id"] + (["timestamp"] if "timestamp" in ratings else [])
    duplicated = ratings.sort_values(order, kind="stable").duplicated(
        ["user_id", "item_id"], keep="last"
    )
    n_dropped = int(duplicated.sum())
    if n_dropped == 0:
        return ratings, 0
    keep = ~duplicated.reindex(ratings.index)
    return ratings.loc[keep.to_numpy()].reset_index(drop=True), n_dropped


@dataclass(frozen=True, eq=False)
class Interactions:
    """Ratings as a users x items float32 CSR matrix plus the id maps back to MovieLens.

    Attributes:
        user_items: float32 CSR matrix of shape (n_users, n_items) with int32 indices;
            stored values are ratings (explicit feedback).
        user_ids: sorted int32 raw user ids; row `i` is user `user_ids[i]`.
        item_ids: sorted int32 raw item ids; column `j` is item `item_ids[j]`.
    """

    user_items: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray

    def __post_init__(self) -> None:
        shape = (len(self.user_ids), len(self.item_ids))
        if self.user_items.shape != shape:
            raise ValueError(
                f"user_items has shape {self.user_items.shape}, but the id maps give {shape}"
            )
        if self.user_items.dtype != np.float32:
            raise ValueError(f"user_items must be float32, got {self.user_items.dtype}")

    @classmethod
    def from_ratings(
        cls,
        ratings: pd.DataFrame,
        *,
        user_ids: np.ndarray | None = None,
        item_ids: np.ndarray | None = None,
    ) -> Interactions:
        """Encode a ratings frame (`user_id`, `item_id`, `rating`).

        Args:
            ratings: frame with one row per (user, item) pair.
            user_ids: id map to encode into (for example a training set's); rows whose
                user is not in it are left out. None builds the map from `ratings`.
            item_ids: likewise for items.

        Raises:
            DataError: a column is missing, an id is negative (-1 pads top-k arrays, so
                no id may take it), or a (user, item) pair appears twice.
        """
        missing = [c for c in ("user_id", "item_id", "rating") if c not in ratings]
        if missing:
            raise DataError(
                f"ratings frame lacks column(s) {missing}; it has {list(ratings.columns)}"
            )
        users = ratings["user_id"].to_numpy()
        items = ratings["item_id"].to_numpy()
        for column, ids in (("user_id", users), ("item_id", items)):
            _check_non_negative(column, ids)
        if user_ids is None:
            user_ids = unique_ids(users).astype(np.int32, copy=False)
        if item_ids is None:
            item_ids = unique_ids(items).astype(np.int32, copy=False)
        user_index = index_of(user_ids, users)
        item_index = index_of(item_ids, items)
        known = (user_index >= 0) & (item_index >= 0)
        values = ratings["rating"].to_numpy(dtype=np.float32)[known]
        matrix = build_user_items(
            user_index[known], item_index[known], values, (len(user_ids), len(item_ids))
        )
        if matrix.nnz != int(known.sum()):
            raise DataError(
                f"{int(known.sum()) - matrix.nnz} duplicate (user_id, item_id) pairs; "
                "resolve them first with recsys_lib.data.drop_duplicate_pairs"
            )
        return cls(matrix, np.asarray(user_ids, np.int32), np.asarray(item_ids, np.int32))

    @property
    def n_users(self) -> int:
        return self.user_items.shape[0]

    @property
    def n_items(self) -> int:
        return self.user_items.shape[1]

    @property
    def nnz(self) -> int:
        """Number of stored ratings."""
        return int(self.user_items.nnz)

    @property
    def density(self) -> float:
        """Fraction of the users x items matrix that holds a rating."""
        cells = self.n_users * self.n_items
        return self.nnz / cells if cells else 0.0

    @property
    def nbytes(self) -> int:
        """Bytes held by the matrix and the id maps."""
        m = self.user_items
        return int(
            m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
            + self.user_ids.nbytes + self.item_ids.nbytes
        )

    def user_index(self, raw_user_ids: np.ndarray) -> np.ndarray:
        """int32 row of each raw user id, -1 for users not in this set."""
        return index_of(self.user_ids, raw_user_ids)

    def item_index(self, raw_item_ids: np.ndarray) -> np.ndarray:
        """int32 column of each raw item id, -1 for items not in this set."""
        return index_of(self.item_ids, raw_item_ids)

    def to_frame(self, user_ids: np.ndarray | None = None) -> pd.DataFrame:
        """The stored ratings as a frame with raw `user_id`, `item_id`, `rating`, by user
        then item: all of them, or only those of the known users among the raw
        `user_ids` (without building the whole frame first)."""
        if user_ids is None:
            rows, matrix = self.user_ids, self.user_items
        else:
            wanted = self.user_index(np.unique(user_ids))
            wanted = wanted[wanted >= 0]
            rows, matrix = self.user_ids[wanted], self.user_items[wanted]
        coo = matrix.tocoo()
        return pd.DataFrame(
            {
                "user_id": rows[coo.row],
                "item_id": self.item_ids[coo.col],
                "rating": coo.data.astype(np.float32),
            }
        )

    def counts(self, column: str) -> pd.Series:
        """int64 ratings per raw "user_id", per raw "item_id" or per "rating" value, as a
        ratings frame's `frame[column].value_counts()` gives them (values without a
        rating left out; the order is not fixed)."""
        if column == "user_id":
            counts, index = np.diff(self.user_items.indptr), self.user_ids
        elif column == "item_id":
            counts = np.bincount(self.user_items.indices, minlength=self.n_items)
            index = self.item_ids
        elif column == "rating":
            return pd.Series(self.user_items.data, name="rating").value_counts()
        else:
            raise ValueError(f"counts are by 'user_id', 'item_id' or 'rating', not {column!r}")
        rated = counts > 0
        index = pd.Index(index[rated], name=column)
        return pd.Series(counts[rated].astype(np.int64), index=index, name="count")


def count_by(ratings: pd.DataFrame | Interactions, column: str) -> pd.Series:
    """Ratings per value of `column` ("user_id", "item_id", "rating") of a ratings frame
    or of encoded `Interactions` (see `Interactions.counts`)."""
    if isinstance(ratings, Interactions):
        return ratings.counts(column)
    return ratings[column].value_counts()


def _check_non_negative(column: str, ids: np.ndarray) -> None:
    """Raise DataError naming the first row whose id in `column` is negative."""
    negative = ids < 0
    if negative.any():
        row = int(np.argmax(negative))
        raise DataError(
            f"ratings frame: {column} {ids[row]} at row {row} is negative ({int(negative.sum())} "
            "such rows); ids must be non-negative integers, as -1 pads top-k arrays"
        )
