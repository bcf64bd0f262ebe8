"""Most-rated items first: the ranking yardstick."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys_lib.data.interactions import Interactions
from recsys_lib.memory import dense_matrix_bytes
from recsys_lib.models.base import Recommender, fit_estimate, item_counts

__all__ = ["Popularity"]


class Popularity(Recommender):
    """Scores every item by its number of training ratings, the same for every user.

    Ranking only (`predict` raises TypeError). Ties go to the lower item id.

    Args:
        min_rating: count only ratings >= this many stars (None counts every rating).
    """

    predicts_ratings = False
    same_ranking_for_every_user = True

    def __init__(self, min_rating: float | None = None) -> None:
        super().__init__()
        self.min_rating = min_rating
        self.counts_: np.ndarray | None = None

    def _fit(self, train: Interactions) -> None:
        self.counts_ = item_counts(train.user_items, self.min_rating)

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.tile(self.counts_, (len(user_rows), 1))

    def get_params(self) -> dict[str, Any]:
        return {"min_rating": self.min_rating}

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"counts": self.counts_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.counts_ = state["counts"]

    @fit_estimate
    def estimate_fit_bytes(
        cls, n_users: int, n_items: int, nnz: int, *, min_rating: float | None = None
    ) -> int:
        """numpy's int64 copy of the item indices inside `bincount` (plus a filtered int32
        copy first when `min_rating` is set) and the int64 and float32 counts."""
        indices = dense_matrix_bytes((nnz,), "int64")
        if min_rating is not None:
            indices += dense_matrix_bytes((nnz,), "int32")
        return indices + dense_matrix_bytes((n_items,), "int64") + dense_matrix_bytes((n_items,))
