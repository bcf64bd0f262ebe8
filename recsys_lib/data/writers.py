"""Write ratings (and movies) in any MovieLens file layout, in chunks.

Each layout gets the exact files the readers look for (see `recsys_lib.data.layouts`):
ml-100k (`u.data`, `u.item`), ml-1m (`ratings.dat`, `movies.dat`), csv (`ratings.csv`,
`movies.csv`), kaggle-csv (`rating.csv`, `movie.csv` with datetime strings) and parquet
(`ratings.parquet`, `movies.parquet`). Files appear whole or not at all: each is written
to a temporary name in the same folder and renamed when complete.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import numpy as np
import pandas as pd

from recsys_lib.data.layouts import LAYOUTS, get_layout
from recsys_lib.data.movies import ML_100K_GENRES
from recsys_lib.data.schema import RATING_COLUMNS, DataError
from recsys_lib.data.synthetic import synthetic_movies

__all__ = ["WRITE_LAYOUTS", "write_ratings"]

logger = logging.getLogger(__name__)

WRITE_LAYOUTS = tuple(layout.name for layout in LAYOUTS)
_HALF_STARS = np.arange(1, 11) / 2  # 0.5 .. 5.0, the ratings any MovieLens file can hold
# Ratings as MovieLens prints them: "4" and "4.5" in .dat files, "4.0" in csv files.
_DAT_LABELS = [f"{r:g}" for r in _HALF_STARS]
_CSV_LABELS = [f"{r:.1f}" for r in _HALF_STARS]
_OLD_GENRE_NAMES = {"Children": "Children's"}  # ml-100k and ml-1m spell it this way
_IMDB_URL = "http://us.imdb.com/M/title-exact?{}"


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
        ValueError: an unknown layout, a bad chunk_rows, a rating that is not a half star
            in 0.5-5, or a movie title that the layout's separator cannot hold.
        DataError: a column is missing.
    """
    if layout not in WRITE_LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {', '.join(WRITE_LAYOUTS)}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    _check_columns(ratings, RATING_COLUMNS, "ratings")
    _check_half_stars(ratings["rating"].to_numpy())
    if movies is None:
        movies = synthetic_movies(ratings["item_id"].unique())
    _check_columns(movies, ("item_id", "title", "genres"), "movies")
    if layout in ("ml-100k", "ml-1m"):
        _check_titles(movies["title"].astype(str).tolist(), layout)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = get_layout(layout)
    with _replace_when_done(folder / files.ratings_name) as part:
        if layout == "parquet":
            _write_parquet(ratings, part, chunk_rows)
        else:
            _write_text(ratings, part, layout, chunk_rows)
    with _replace_when_done(folder / files.movies_name) as part:
        _write_movies(movies, part, layout)
    logger.info("wrote %d ratings and %d movies as %s in %s", len(ratings), len(movies),
                layout, folder)
    return folder


def _check_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise DataError(f"{what} frame lacks column(s) {missing}; it has {list(frame.columns)}")


def _check_titles(titles: list[str], layout: str) -> None:
    """Titles must fit the layout's latin-1, separator-delimited movies file."""
    separator = "|" if layout == "ml-100k" else "::"
    for number, title in enumerate(titles):
        fits = separator not in title and "\n" not in title
        if not fits or not _is_latin_1(title):
            raise ValueError(
                f"movies row {number}: the {layout} movies file cannot hold the title "
                f"{title!r} (it must be latin-1 without {separator!r} or line breaks)"
            )


def _is_latin_1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


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


_LINE_FORMATS = {
    "ml-100k": "%d\t%d\t%d\t%d\n",
    "ml-1m": "%d::%d::%s::%d\n",
    "csv": "%d,%d,%s,%d\n",
    "kaggle-csv": "%d,%d,%s,%s\n",
}
_HEADER = "userId,movieId,rating,timestamp\n"


def _format_chunk(chunk: pd.DataFrame, layout: str) -> str:
    """The lines of one chunk of ratings as the layout prints them."""
    codes = (chunk["rating"].to_numpy(np.float64) * 2).round().astype(np.int64) - 1
    if layout == "ml-100k":  # whole stars: round half up (0.5 -> 1, 3.5 -> 4)
        ratings = np.clip((codes + 2) // 2, 1, 5).tolist()
    else:
        ratings = np.asarray(_DAT_LABELS if layout == "ml-1m" else _CSV_LABELS)[codes].tolist()
    timestamps = chunk["timestamp"].to_numpy()
    if layout == "kaggle-csv":  # "YYYY-MM-DDTHH:MM:SS", the T replaced below
        timestamps = np.datetime_as_string(timestamps.astype("datetime64[s]"))
    # One %-format over the whole chunk: about 3x faster than DataFrame.to_csv.
    values = zip(chunk["user_id"].tolist(), chunk["item_id"].tolist(), ratings,
                 timestamps.tolist(), strict=True)
    text = (_LINE_FORMATS[layout] * len(chunk)) % tuple(itertools.chain.from_iterable(values))
    return text.replace("T", " ") if layout == "kaggle-csv" else text


def _write_text(ratings: pd.DataFrame, path: Path, layout: str, chunk_rows: int) -> None:
    with open(path, "w", encoding="ascii", newline="") as out:
        if layout in ("csv", "kaggle-csv"):
            out.write(_HEADER)
        for lo in range(0, len(ratings), chunk_rows):
            out.write(_format_chunk(ratings.iloc[lo:lo + chunk_rows], layout))


def _write_parquet(ratings: pd.DataFrame, path: Path, chunk_rows: int) -> None:
    """ratings.parquet with our column names and dtypes, one row group per chunk."""
    pa, pq = _pyarrow()
    schema = pa.schema([("user_id", pa.int32()), ("item_id", pa.int32()),
                        ("rating", pa.float32()), ("timestamp", pa.int32())])
    with pq.ParquetWriter(path, schema) as writer:
        for lo in range(0, len(ratings), chunk_rows):
            chunk = ratings.iloc[lo:lo + chunk_rows]
            arrays = [pa.array(chunk[name].to_numpy(), type=field.type)
                      for name, field in zip(RATING_COLUMNS, schema, strict=True)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def _pyarrow() -> tuple[ModuleType, ModuleType]:
    """pyarrow and pyarrow.parquet (an optional dependency)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataError("writing parquet needs pyarrow (pip install 'recsys-lib[parquet]')"
                        ) from exc
    return pa, pq


def _write_movies(movies: pd.DataFrame, path: Path, layout: str) -> None:
    ids = movies["item_id"].to_numpy(np.int32)
    titles = movies["title"].astype(str).tolist()
    genres = movies["genres"].astype(str).tolist()
    if layout in ("csv", "kaggle-csv"):
        frame = pd.DataFrame({"movieId": ids, "title": titles, "genres": genres})
        frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    elif layout == "parquet":
        pa, pq = _pyarrow()
        pq.write_table(pa.table({"item_id": pa.array(ids, pa.int32()), "title": titles,
                                 "genres": genres}), path)
    else:
        make_line = _u_item_line if layout == "ml-100k" else _movies_dat_line
        lines = (make_line(*row) for row in zip(ids, titles, genres, strict=True))
        path.write_bytes("".join(lines).encode("latin-1"))  # as in the GroupLens files


def _old_genres(genres: str) -> list[str]:
    return [_OLD_GENRE_NAMES.get(g, g) for g in genres.split("|") if g]


def _movies_dat_line(item_id: int, title: str, genres: str) -> str:
    """`MovieID::Title::Genres`, genres spelled as in ml-1m."""
    return f"{item_id}::{title}::{'|'.join(_old_genres(genres))}\n"


def _u_item_line(item_id: int, title: str, genres: str) -> str:
    """u.item's 24 fields: id|title|release date|video release date|IMDb URL|19 flags."""
    names = set(_old_genres(genres))
    flags = [int(name in names) for name in ML_100K_GENRES]
    if not any(flags):
        flags[0] = 1  # "unknown"
    year = title.rstrip()[-5:-1] if title.rstrip().endswith(")") else ""
    released = f"01-Jan-{year}" if year.isdigit() else ""
    url = _IMDB_URL.format(quote(title, safe="(),'", encoding="latin-1"))
    return "|".join([str(item_id), title, released, "", url, *map(str, flags)]) + "\n"
