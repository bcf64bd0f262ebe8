"""Load MovieLens ratings and movies from any release layout, whole or sampled while
streaming, with errors that name the file, the line and the problem."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_lib.data.discovery import DataSource, find_source
from recsys_lib.data.layouts import get_layout, rating_scale
from recsys_lib.data.readers import ParseFailure, RatingsReader
from recsys_lib.data.sampling import (
    RatingSampler,
    UserCounter,
    check_sample_args,
    choose_users,
    keep_users,
    sample_info,
)
from recsys_lib.data.schema import RATING_COLUMNS, RATING_DTYPES, DataError, RatingScale

__all__ = ["BAD_ROW_POLICIES", "describe_ratings", "load_movies", "load_ratings", "open_ratings"]

logger = logging.getLogger(__name__)

BAD_ROW_POLICIES = ("error", "skip")
# How to skip malformed rows from each place `on_bad_rows` reaches load_ratings.
SKIP_HINT = (
    "to skip such rows: on_bad_rows='skip' (notebooks: ON_BAD_ROWS = 'skip'; "
    "recsys run / recsys data info: --on-bad-rows skip)"
)
_MB = 2**20


def open_ratings(file: Path, layout: str, *, chunk_rows: int = 1_000_000) -> RatingsReader:
    """The chunked reader for a ratings file of `layout` (see `detect_layout`)."""
    return get_layout(layout).open_ratings(file, chunk_rows)


def load_ratings(
    source: str | Path | DataSource | None = None,
    *,
    sample_size: int | None = None,
    strategy: str = "ratings",
    seed: int = 42,
    on_bad_rows: str = "error",
    download: bool = False,
    chunk_rows: int = 1_000_000,
) -> pd.DataFrame:
    """Load MovieLens ratings, whole or as a seeded sample drawn while streaming the file.

    Args:
        source: a folder, a ratings file, a release name, a DataSource, or None to
            discover (see `find_source`).
        sample_size: number of ratings to keep (None: all). The file is read in chunks
            and never held whole.
        strategy: "ratings" (uniform over ratings) or "users" (whole histories of random
            users until at least `sample_size` ratings; reads the user column twice).
        seed: sampling seed; the sample equals ``sample_ratings(load_ratings(source),
            sample_size, strategy=strategy, seed=seed)``.
        on_bad_rows: "error" (raise at the first malformed row, as soon as the chunk
            holding it is parsed) or "skip" (skip them all, count them in
            ``attrs["sample"]["n_bad_rows_skipped"]`` and log a warning). A malformed row
            is one with the wrong number of fields, a missing, negative or non-integer
            user or item id, a missing or non-numeric rating, or a missing or negative
            timestamp.
        download: allow `find_source` to download a release that is not found locally.
        chunk_rows: rows parsed at a time.

    Returns:
        Frame with user_id int32, item_id int32, rating float32 and timestamp int32
        (unix seconds), MovieLens ids kept, rows in file order, a RangeIndex;
        ``attrs["source"]`` is ``DataSource.as_dict()`` and ``attrs["sample"]`` holds
        strategy (None when not sampled), sample_size, seed, n_rows_read and
        n_bad_rows_skipped, plus a "note" when `sample_size` is larger than the data
        ("asked for 200,000 ratings; the data has 100,836: using all", also logged as a
        warning).

    Raises:
        DataError: a missing file or folder, an unknown layout, missing columns, a
            malformed row (with its line number), ratings outside the release's scale,
            no ratings, or a bad argument (naming it).
    """
    if sample_size is not None:
        check_sample_args(sample_size, strategy)
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise DataError(f"on_bad_rows must be one of {BAD_ROW_POLICIES}, got {on_bad_rows!r}")
    if chunk_rows <= 0:
        raise DataError(f"chunk_rows must be a positive integer, got {chunk_rows}")
    src = find_source(source, download=download)
    reader = open_ratings(src.ratings_file, src.layout, chunk_rows=chunk_rows)
    scale = rating_scale(src.release)
    read = _Read(reader, scale)
    skip: np.ndarray | None = None
    try:
        frame = read.run(sample_size, strategy, seed, skip)
    except ParseFailure as failure:
        # The rows of the chunks parsed before the failing one are well formed: the scan
        # starts after them, so a bad last line is named as soon as its chunk is parsed.
        bad = reader.find_bad_rows(
            first_only=on_bad_rows == "error", after_rows=failure.good_rows
        )
        if bad is None:
            raise DataError(f"{failure}; no malformed row was found when scanning") from None
        if on_bad_rows == "error":
            raise DataError(f"{bad.message(src.ratings_file)} ({SKIP_HINT})") from None
        skip = bad.numbers
        logger.warning(
            "%s: skipping %d malformed rows; the first: %s",
            src.ratings_file,
            len(skip),
            bad.message(src.ratings_file),
        )
        read = _Read(reader, scale)
        frame = read.run(sample_size, strategy, seed, skip)
    if read.n_outside:
        example = reader.first_outside(scale, after_rows=read.rows_before_outside)
        shown = "" if example is None else f", e.g. {reader.unit} {example[0]}: {example[1]!r}"
        raise DataError(
            f"{src.ratings_file}: {read.n_outside} ratings outside the "
            f"{src.release or 'MovieLens'} scale of {scale}{shown}"
        )
    if read.n_rows == 0:
        raise DataError(f"{src.ratings_file}: no ratings in the file (empty data)")
    n_skipped = 0 if skip is None else len(skip)
    frame.attrs = {
        "source": src.as_dict(),
        "sample": sample_info(
            None if sample_size is None else strategy, sample_size, seed, read.n_rows, n_skipped
        ),
    }
    return frame


class _Read:
    """One attempt at reading a file: the frame, plus counts of rows and bad ratings.

    Attributes:
        n_rows: rows read.
        n_outside: ratings outside the scale.
        rows_before_outside: rows read before the first chunk holding such a rating.
    """

    def __init__(self, reader: RatingsReader, scale: RatingScale) -> None:
        self.reader = reader
        self.scale = scale
        self.n_rows = 0
        self.n_outside = 0
        self.rows_before_outside = 0

    def _checked(self, skip: np.ndarray | None) -> Iterator[pd.DataFrame]:
        for chunk in self.reader.chunks(skip=skip):
            outside = int((~self.scale.contains(chunk["rating"].to_numpy())).sum())
            if outside and not self.n_outside:
                self.rows_before_outside = self.n_rows
            self.n_rows += len(chunk)
            self.n_outside += outside
            yield chunk

    def run(
        self, sample_size: int | None, strategy: str, seed: int, skip: np.ndarray | None
    ) -> pd.DataFrame:
        if sample_size is None:
            return _concat(self._checked(skip))
        if strategy == "ratings":
            sampler = RatingSampler(sample_size, seed)
            for chunk in self._checked(skip):
                sampler.add(chunk)
            sample = sampler.result()
            return _concat(iter(())) if sample is None else sample
        counter = UserCounter()
        for chunk in self.reader.chunks(("user_id",), skip=skip):
            counter.add(chunk["user_id"].to_numpy())
        chosen = choose_users(counter.user_ids, counter.counts, sample_size, seed)
        return _concat(keep_users(chunk, chosen) for chunk in self._checked(skip))


def _concat(chunks: Iterator[pd.DataFrame]) -> pd.DataFrame:
    """Chunks joined column by column, freeing each column's pieces once joined, so the
    peak stays near the result's size plus one column."""
    pieces: dict[str, list[np.ndarray]] = {column: [] for column in RATING_COLUMNS}
    for chunk in chunks:
        for column in RATING_COLUMNS:
            pieces[column].append(chunk[column].to_numpy())
    columns = {}
    for column in RATING_COLUMNS:
        parts = pieces.pop(column)
        columns[column] = np.concatenate(parts) if parts else np.empty(0, RATING_DTYPES[column])
    return pd.DataFrame(columns, copy=False)


def load_movies(source: str | Path | DataSource | None = None) -> pd.DataFrame:
    """Load the movies file next to the ratings of `source` (see `find_source`).

    Returns:
        Frame with item_id int32, title str and genres str ("A|B").

    Raises:
        DataError: no movies file in the source's layout, or a malformed one.
    """
    src = find_source(source)
    layout = get_layout(src.layout)
    if src.movies_file is None:
        raise DataError(
            f"{src.path}: no movies file next to {src.ratings_file.name} "
            f"(looked for {layout.movies_name})"
        )
    movies = layout.read_movies(src.movies_file)
    movies.attrs = {"source": src.as_dict()}
    return movies


def describe_ratings(ratings: pd.DataFrame) -> dict:
    """JSON-ready summary of a ratings frame (from its columns and attrs).

    Returns:
        format (layout name or None), release, origin, n_ratings, n_users, n_items,
        density (n_ratings / (n_users * n_items)), rating_min, rating_max, rating_mean,
        memory_mb (deep, MB = 2**20 bytes), bytes_per_rating, and the sample record.
    """
    source = ratings.attrs.get("source", {})
    n_ratings = len(ratings)
    n_users = int(ratings["user_id"].nunique())
    n_items = int(ratings["item_id"].nunique())
    memory = int(ratings.memory_usage(deep=True).sum())
    rating = ratings["rating"]
    return {
        "format": source.get("layout"),
        "release": source.get("release"),
        "origin": source.get("origin"),
        "n_ratings": n_ratings,
        "n_users": n_users,
        "n_items": n_items,
        "density": n_ratings / (n_users * n_items) if n_ratings else 0.0,
        "rating_min": float(rating.min()) if n_ratings else None,
        "rating_max": float(rating.max()) if n_ratings else None,
        "rating_mean": float(rating.mean()) if n_ratings else None,
        "memory_mb": memory / _MB,
        "bytes_per_rating": memory / n_ratings if n_ratings else None,
        "sample": ratings.attrs.get("sample"),
    }
