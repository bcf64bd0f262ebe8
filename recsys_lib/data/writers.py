"""Write ratings (and movies) in any MovieLens file layout, in chunks.

Each layout gets the exact files the readers look for (see `recsys_lib.data.layouts`):
ml-100k (`u.data`, `u.item`), ml-1m (`ratings.dat`, `movies.dat`), csv (`ratings.csv`,
`movies.csv`), kaggle-csv (`rating.csv`, `movie.csv` with datetime strings) and parquet
(`ratings.parquet`, `movies.parquet`). Files appear whole or not at all: each is written
to a temporary name in the same folder and renamed when complete. How each layout prints
its files is in `file_writers`; which functions a layout uses, in the layout table.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_lib.data.layouts import LAYOUTS, get_layout
from recsys_lib.data.schema import RATING_COLUMNS, DataError
from recsys_lib.data.synthetic import synthetic_movies

__all__ = ["WRITE_LAYOUTS", "write_ratings"]

logger = logging.getLogger(__name__)

WRITE_LAYOUTS = tuple(layout.name for layout in LAYOUTS)


def write_ratings(
    ratings: pd.DataFrame,
    folder: Path,
    layout: str,
    *,
    movies: pd.DataFrame | None = None,
    chunk_rows: int = 1_000_000,
) -> Path:
    """Write ratings and a movies file in a MovieLens layout.

    Args:
        ratings: frame with user_id, item_id, rating (half stars 0.5-5) and timestamp
            (unix seconds) columns.
        folder: folder to write into; created when missing. Existing files of the layout
            are replaced.
        layout: one of `WRITE_LAYOUTS`. ml-100k holds whole stars, so its ratings are
            rounded half up and clipped to 1-5; the other layouts keep half stars
            (ml-1m's files as ml-10m writes them: "4" and "4.5").
        movies: frame with item_id, title and genres ("A|B"); None writes
            `synthetic_movies` for the rated items.
        chunk_rows: rows formatted and written at a time (bounds the memory used).

    Returns:
        `folder`.

    Raises:
        ValueError: a bad chunk_rows, a rating that is not a half star in 0.5-5, or a
            movie title that the layout's movies file cannot hold.
        DataError: an unknown layout or a missing column.
    """
    entry = get_layout(layout)
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    _check_columns(ratings, RATING_COLUMNS, "ratings")
    _check_half_stars(ratings["rating"].to_numpy())
    if movies is None:
        movies = synthetic_movies(ratings["item_id"].unique())
    _check_columns(movies, ("item_id", "title", "genres"), "movies")
    movies_file = entry.encode_movies(movies)  # a title the layout cannot hold fails here
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _replace_when_done(folder / entry.ratings_name) as part:
        entry.write_ratings(ratings, part, chunk_rows)
    with _replace_when_done(folder / entry.movies_name) as part:
        part.write_bytes(movies_file)
    logger.info("wrote %d ratings and %d movies as %s in %s", len(ratings), len(movies),
                layout, folder)
    return folder


def _check_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise DataError(f"{what} frame lacks column(s) {missing}; it has {list(frame.columns)}")


def _check_half_stars(ratings: np.ndarray) -> None:
    doubled = ratings.astype(np.float64) * 2
    bad = (doubled != np.round(doubled)) | (doubled < 1) | (doubled > 10)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"ratings must be half stars in 0.5-5; row {row} holds {float(ratings[row]):g} "
            f"({int(bad.sum())} such rows)"
        )


@contextlib.contextmanager
def _replace_when_done(target: Path) -> Iterator[Path]:
    """A temporary path next to `target`, renamed onto it on success, removed on failure."""
    part = target.with_name(f".{target.name}.part")
    try:
        yield part
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
