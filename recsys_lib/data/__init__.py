"""MovieLens data: readers, discovery, sampling, splits, encoding and synthetic data."""

from recsys_lib.data.interactions import (
    Interactions,
    build_user_items,
    drop_duplicate_pairs,
    index_of,
)
from recsys_lib.data.schema import (
    DEFAULT_SCALE,
    MOVIE_COLUMNS,
    RATING_COLUMNS,
    RATING_DTYPES,
    RATING_SCALES,
    DataError,
    RatingScale,
)

__all__ = [
    "DEFAULT_SCALE",
    "MOVIE_COLUMNS",
    "RATING_COLUMNS",
    "RATING_DTYPES",
    "RATING_SCALES",
    "DataError",
    "Interactions",
    "RatingScale",
    "build_user_items",
    "drop_duplicate_pairs",
    "index_of",
]
