"""MovieLens data: readers, discovery, sampling, splits, encoding and synthetic data."""

from recsys_lib.data.discovery import DataSource, embedded_path, find_source
from recsys_lib.data.download import RELEASES, Release, download_release
from recsys_lib.data.interactions import (
    Interactions,
    build_user_items,
    drop_duplicate_pairs,
    index_of,
)
from recsys_lib.data.layouts import LAYOUTS, detect_layout
from recsys_lib.data.loading import (
    BAD_ROW_POLICIES,
    describe_ratings,
    load_movies,
    load_ratings,
)
from recsys_lib.data.sampling import SAMPLE_STRATEGIES, sample_ratings
from recsys_lib.data.schema import (
    DEFAULT_SCALE,
    MOVIE_COLUMNS,
    RATING_COLUMNS,
    RATING_DTYPES,
    RATING_SCALES,
    DataError,
    RatingScale,
)
from recsys_lib.data.split import SPLIT_STRATEGIES, Split, SplitRecord, split_ratings
from recsys_lib.data.synthetic import synthetic_movies, synthetic_ratings
from recsys_lib.data.writers import WRITE_LAYOUTS, write_ratings

__all__ = [
    "BAD_ROW_POLICIES",
    "DEFAULT_SCALE",
    "LAYOUTS",
    "MOVIE_COLUMNS",
    "RATING_COLUMNS",
    "RATING_DTYPES",
    "RATING_SCALES",
    "RELEASES",
    "SAMPLE_STRATEGIES",
    "SPLIT_STRATEGIES",
    "WRITE_LAYOUTS",
    "DataError",
    "DataSource",
    "Interactions",
    "RatingScale",
    "Release",
    "Split",
    "SplitRecord",
    "build_user_items",
    "describe_ratings",
    "detect_layout",
    "download_release",
    "drop_duplicate_pairs",
    "embedded_path",
    "find_source",
    "index_of",
    "load_movies",
    "load_ratings",
    "sample_ratings",
    "split_ratings",
    "synthetic_movies",
    "synthetic_ratings",
    "write_ratings",
]
