"""Column names, dtypes, rating scales and the error type shared by the data layer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEFAULT_SCALE",
    "MOVIE_COLUMNS",
    "RATING_COLUMNS",
    "RATING_DTYPES",
    "RATING_SCALES",
    "DataError",
    "RatingScale",
]

RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
# Timestamps are seconds since 1970 (UTC); int32 holds them until 2038.
RATING_DTYPES = {
    "user_id": np.int32,
    "item_id": np.int32,
    "rating": np.float32,
    "timestamp": np.int32,
}
MOVIE_COLUMNS = ("item_id", "title", "genres")


class DataError(ValueError):
    """Bad, missing or unreadable input data; the message names the file and the problem."""


@dataclass(frozen=True)
class RatingScale:
    """Inclusive rating range of a release, in stars."""

    low: float
    high: float

    def contains(self, ratings: np.ndarray) -> np.ndarray:
        """Boolean mask of ratings inside the scale."""
        return (ratings >= self.low) & (ratings <= self.high)

    def __str__(self) -> str:
        return f"{self.low:g}-{self.high:g} stars"


DEFAULT_SCALE = RatingScale(0.5, 5.0)
RATING_SCALES = {
    "ml-100k": RatingScale(1.0, 5.0),
    "ml-1m": RatingScale(1.0, 5.0),
    "ml-10m": DEFAULT_SCALE,
    "ml-20m": DEFAULT_SCALE,
    "ml-25m": DEFAULT_SCALE,
    "ml-32m": DEFAULT_SCALE,
    "ml-latest": DEFAULT_SCALE,
    "ml-latest-small": DEFAULT_SCALE,
}
