"""Column names (and the header names accepted for them), dtypes, rating scales and the
error type shared by the data layer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_SCALE",
    "MOVIE_ALIASES",
    "MOVIE_COLUMNS",
    "RATING_ALIASES",
    "RATING_COLUMNS",
    "RATING_DTYPES",
    "RATING_SCALES",
    "DataError",
    "RatingScale",
    "map_columns",
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

# Accepted header names of each of our columns: MovieLens's first, then ours.
RATING_ALIASES = {
    "user_id": ("userId", "user_id"),
    "item_id": ("movieId", "item_id"),
    "rating": ("rating",),
    "timestamp": ("timestamp",),
}
MOVIE_ALIASES = {"item_id": ("movieId", "item_id"), "title": ("title",), "genres": ("genres",)}


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


def map_columns(found: Sequence[str], aliases: dict[str, tuple[str, ...]], file: Path) -> list[int]:
    """Positions in `found` (a header) of each of our columns, in the order of `aliases`.

    Raises:
        DataError: a column is missing; names the file, the columns expected and found.
    """
    positions, missing = [], []
    for names in aliases.values():
        hits = [i for i, name in enumerate(found) if name in names]
        if hits:
            positions.append(hits[0])
        else:
            missing.append(" or ".join(names))
    if missing:
        expected = ", ".join(names[0] for names in aliases.values())
        ours = ", ".join(aliases)
        raise DataError(
            f"{file}: missing column(s) {'; '.join(missing)}; expected {expected} "
            f"(or {ours}); found {', '.join(map(str, found)) or 'no columns'}"
        )
    return positions
