"""The MovieLens file layouts: one table naming, for each layout, its files and the
functions that read and write them, and how to tell the layouts apart.

This table is the one place a layout is described. Adding a format is one `Layout` entry
in `LAYOUTS` plus its reader and writer functions (a `RatingsReader` in `readers` or its
own module, a ratings writer and a movies encoder in `file_writers`, a movies reader in
`movies`); discovery, loading and writing look the entry up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from recsys_lib.data import file_writers, movies
from recsys_lib.data.parquet_reader import ParquetRatings
from recsys_lib.data.readers import RatingsReader, TextRatings
from recsys_lib.data.schema import DEFAULT_SCALE, RATING_SCALES, DataError, RatingScale

__all__ = [
    "LAYOUTS",
    "Layout",
    "detect_layout",
    "get_layout",
    "guess_release",
    "layout_names",
    "rating_scale",
]


@dataclass(frozen=True)
class Layout:
    """One way MovieLens ratings are laid out on disk, and how to read and write it.

    Attributes:
        name: the layout's name ("ml-100k", "ml-1m", "csv", "kaggle-csv", "parquet").
        ratings_name: file name of the ratings file in a release folder.
        movies_name: file name of the movies file next to it.
        suffix: file suffix that marks a ratings file of this layout given by path
            under another name ("" when only the exact name counts).
        releases: the releases shipped in this layout, for error messages.
        release: the release every file of this layout comes from, when only one does
            (None: guessed from folder names).
        open_ratings: ``(ratings file, chunk_rows) -> RatingsReader``; the text layouts'
            readers name the field separator and whether a header line comes first.
        write_ratings: ``(ratings frame, path, chunk_rows) -> None``, writing the ratings
            file as the release prints it.
        read_movies: ``(movies file) -> frame`` of item_id (int32), title and genres.
        encode_movies: ``(movies frame) -> bytes`` of the movies file (its encoding:
            latin-1 for u.item and movies.dat, UTF-8 for csv); ValueError for a title the
            file cannot hold.
    """

    name: str
    ratings_name: str
    movies_name: str
    suffix: str
    releases: str
    release: str | None
    open_ratings: Callable[[Path, int], RatingsReader]
    write_ratings: Callable[[pd.DataFrame, Path, int], None]
    read_movies: Callable[[Path], pd.DataFrame]
    encode_movies: Callable[[pd.DataFrame], bytes]


LAYOUTS = (
    Layout(
        "ml-100k", "u.data", "u.item", suffix="", releases="ml-100k", release="ml-100k",
        open_ratings=partial(TextRatings, sep="\t", header=False),
        write_ratings=file_writers.write_u_data,
        read_movies=movies.read_u_item,
        encode_movies=file_writers.u_item_bytes,
    ),
    Layout(
        "ml-1m", "ratings.dat", "movies.dat", suffix=".dat", releases="ml-1m, ml-10m",
        release=None,
        open_ratings=partial(TextRatings, sep="::", header=False),
        write_ratings=file_writers.write_ratings_dat,
        read_movies=movies.read_movies_dat,
        encode_movies=file_writers.movies_dat_bytes,
    ),
    Layout(
        "csv", "ratings.csv", "movies.csv", suffix=".csv",
        releases="ml-20m, ml-25m, ml-32m, ml-latest(-small)", release=None,
        open_ratings=partial(TextRatings, sep=",", header=True),
        write_ratings=file_writers.write_ratings_csv,
        read_movies=movies.read_movies_csv,
        encode_movies=file_writers.movies_csv_bytes,
    ),
    Layout(
        "kaggle-csv", "rating.csv", "movie.csv", suffix="",
        releases="Kaggle re-uploads of ml-20m", release=None,
        open_ratings=partial(TextRatings, sep=",", header=True),
        write_ratings=file_writers.write_kaggle_csv,
        read_movies=movies.read_movies_csv,
        encode_movies=file_writers.movies_csv_bytes,
    ),
    Layout(
        "parquet", "ratings.parquet", "movies.parquet", suffix=".parquet",
        releases="parquet copies", release=None,
        open_ratings=ParquetRatings,
        write_ratings=file_writers.write_ratings_parquet,
        read_movies=movies.read_movies_parquet,
        encode_movies=file_writers.movies_parquet_bytes,
    ),
)
_BY_NAME = {layout.name: layout for layout in LAYOUTS}

# Release names in folder names: "ml-25m", "ml-10M100K", "movielens-20m-dataset".
# Longer alternatives come first so "100k" is not read as "10m"-something.
_RELEASE_PATTERN = re.compile(
    r"(?:ml|movielens)[-_ ]?(latest-small|latest|100k|10m|1m|20m|25m|32m)", re.IGNORECASE
)


def layout_names() -> str:
    """The layouts looked for, as one line for error messages."""
    return "; ".join(f"{lay.name}: {lay.ratings_name} ({lay.releases})" for lay in LAYOUTS)


def _layout_of_file(file: Path) -> Layout | None:
    """The layout a ratings file belongs to, by exact name first, then by suffix."""
    for layout in LAYOUTS:
        if file.name == layout.ratings_name:
            return layout
    for layout in LAYOUTS:
        if layout.suffix and file.suffix.lower() == layout.suffix:
            return layout
    return None


def detect_layout(path: Path) -> tuple[str, Path, Path | None]:
    """Find which MovieLens layout a folder or a ratings file is in.

    Args:
        path: a release folder, or the ratings file itself (a file named like a layout's
            ratings file, or any ``.csv``, ``.dat`` or ``.parquet`` file).

    Returns:
        The layout name, the ratings file, and the movies file next to it (None when
        absent).

    Raises:
        DataError: the path does not exist or holds none of the layouts (the message lists
            the layouts looked for).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        for layout in LAYOUTS:
            if (path / layout.ratings_name).is_file():
                return layout.name, path / layout.ratings_name, _movies_next_to(path, layout)
        found = sorted(child.name for child in path.iterdir())[:12]
        raise DataError(
            f"{path}: no MovieLens ratings file found; looked for {layout_names()}; "
            f"the folder holds: {', '.join(found) or 'nothing'}"
        )
    layout = _layout_of_file(path)
    if layout is None:
        raise DataError(
            f"{path}: unknown ratings file layout; looked for {layout_names()} "
            "(or any .csv, .dat or .parquet file)"
        )
    return layout.name, path, _movies_next_to(path.parent, layout)


def _movies_next_to(folder: Path, layout: Layout) -> Path | None:
    movies = folder / layout.movies_name
    return movies if movies.is_file() else None


def guess_release(ratings_file: Path, layout: str) -> str | None:
    """The MovieLens release a ratings file comes from, when its layout says so or the
    name of one of the two folders above it starts with a release name ("ml-10M100K" ->
    "ml-10m", "movielens-20m-dataset" -> "ml-20m"); None when unknown."""
    if get_layout(layout).release is not None:
        return get_layout(layout).release
    for folder in (ratings_file.parent, ratings_file.parent.parent):
        match = _RELEASE_PATTERN.match(folder.name)
        if match:
            return "ml-" + match.group(1).lower()
    return None


def rating_scale(release: str | None) -> RatingScale:
    """The rating scale of a release; the widest MovieLens scale (0.5-5) when unknown."""
    return RATING_SCALES.get(release or "", DEFAULT_SCALE)


def get_layout(name: str) -> Layout:
    """The Layout called `name`; DataError listing the known names otherwise."""
    if name not in _BY_NAME:
        raise DataError(f"unknown layout {name!r}; expected one of {', '.join(_BY_NAME)}")
    return _BY_NAME[name]
