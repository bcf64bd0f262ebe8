"""How each MovieLens layout writes its files: one ratings writer and one movies encoder
per file format, as the GroupLens (and Kaggle) files print them.

The layout table in `recsys_lib.data.layouts` names which of these each layout uses;
`write_ratings` (in `writers`) checks the input, looks the layout up and calls them.
Ratings writers stream `chunk_rows` rows at a time; movies are small and are encoded in
memory first, so a title a layout cannot hold fails before any file is written.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import numpy as np
import pandas as pd

from recsys_lib.data.movies import ML_100K_GENRES
from recsys_lib.data.schema import RATING_COLUMNS, DataError

__all__ = [
    "movies_csv_bytes",
    "movies_dat_bytes",
    "movies_parquet_bytes",
    "u_item_bytes",
    "write_kaggle_csv",
    "write_ratings_csv",
    "write_ratings_dat",
    "write_ratings_parquet",
    "write_u_data",
]

_HALF_STARS = np.arange(1, 11) / 2  # 0.5 .. 5.0, the ratings any MovieLens file can hold
# Ratings as MovieLens prints them: "4" and "4.5" in .dat files, "4.0" in csv files.
_DAT_LABELS = np.asarray([f"{r:g}" for r in _HALF_STARS])
_CSV_LABELS = np.asarray([f"{r:.1f}" for r in _HALF_STARS])
_OLD_GENRE_NAMES = {"Children": "Children's"}  # ml-100k and ml-1m spell it this way
_IMDB_URL = "http://us.imdb.com/M/title-exact?{}"
_HEADER = "userId,movieId,rating,timestamp\n"


# ---- ratings ---------------------------------------------------------------------------


def write_u_data(ratings: pd.DataFrame, path: Path, chunk_rows: int) -> None:
    """ml-100k's u.data: tab-separated, whole stars (rounded half up, clipped to 1-5)."""
    _write_lines(ratings, path, chunk_rows, "%d\t%d\t%d\t%d\n", header="",
                 rating_text=lambda codes: np.clip((codes + 2) // 2, 1, 5).tolist())


def write_ratings_dat(ratings: pd.DataFrame, path: Path, chunk_rows: int) -> None:
    """ml-1m / ml-10m's ratings.dat: "::"-separated, ratings as "4" and "4.5"."""
    _write_lines(ratings, path, chunk_rows, "%d::%d::%s::%d\n", header="",
                 rating_text=lambda codes: _DAT_LABELS[codes].tolist())


def write_ratings_csv(ratings: pd.DataFrame, path: Path, chunk_rows: int) -> None:
    """ratings.csv of ml-20m and later: a header, ratings as "4.0", unix seconds."""
    _write_lines(ratings, path, chunk_rows, "%d,%d,%s,%d\n", header=_HEADER,
                 rating_text=lambda codes: _CSV_LABELS[codes].tolist())


def write_kaggle_csv(ratings: pd.DataFrame, path: Path, chunk_rows: int) -> None:
    """Kaggle's rating.csv: as ratings.csv but with "YYYY-MM-DD HH:MM:SS" UTC times."""
    _write_lines(ratings, path, chunk_rows, "%d,%d,%s,%s\n", header=_HEADER,
                 rating_text=lambda codes: _CSV_LABELS[codes].tolist(), datetimes=True)


def _write_lines(
    ratings: pd.DataFrame,
    path: Path,
    chunk_rows: int,
    line: str,
    *,
    header: str,
    rating_text: Callable[[np.ndarray], list],
    datetimes: bool = False,
) -> None:
    """Write `header`, then one %-formatted `line` per rating, `chunk_rows` at a time.

    Args:
        rating_text: maps int64 half-star codes (0 for 0.5 .. 9 for 5.0) to the values
            printed, a list with one per row.
        datetimes: print timestamps as "YYYY-MM-DD HH:MM:SS" (UTC) instead of seconds.
    """
    with open(path, "w", encoding="ascii", newline="") as out:
        out.write(header)
        for lo in range(0, len(ratings), chunk_rows):
            chunk = ratings.iloc[lo:lo + chunk_rows]
            codes = (chunk["rating"].to_numpy(np.float64) * 2).round().astype(np.int64) - 1
            timestamps = chunk["timestamp"].to_numpy()
            if datetimes:  # "YYYY-MM-DDTHH:MM:SS", the T replaced below
                timestamps = np.datetime_as_string(timestamps.astype("datetime64[s]"))
            values = zip(chunk["user_id"].tolist(), chunk["item_id"].tolist(),
                         rating_text(codes), timestamps.tolist(), strict=True)
            # One %-format over the whole chunk: about 3x faster than DataFrame.to_csv.
            text = (line * len(chunk)) % tuple(itertools.chain.from_iterable(values))
            out.write(text.replace("T", " ") if datetimes else text)


def write_ratings_parquet(ratings: pd.DataFrame, path: Path, chunk_rows: int) -> None:
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


# ---- movies ----------------------------------------------------------------------------


def u_item_bytes(movies: pd.DataFrame) -> bytes:
    """ml-100k's u.item in latin-1: id|title|release date|video release date|IMDb URL|19
    genre flags.

    Raises:
        ValueError: a title that is not latin-1 or holds "|" or a line break.
    """
    return _latin_1_lines(movies, "u.item", "|", _u_item_line)


def movies_dat_bytes(movies: pd.DataFrame) -> bytes:
    """ml-1m's movies.dat in latin-1: ``MovieID::Title::Genres``, genres spelled as in ml-1m.

    Raises:
        ValueError: a title that is not latin-1 or holds "::" or a line break.
    """
    return _latin_1_lines(movies, "movies.dat", "::", _movies_dat_line)


def movies_csv_bytes(movies: pd.DataFrame) -> bytes:
    """movies.csv in UTF-8 with a movieId,title,genres header (titles quoted as needed)."""
    frame = pd.DataFrame({"movieId": movies["item_id"].to_numpy(np.int32),
                          "title": movies["title"].astype(str).tolist(),
                          "genres": movies["genres"].astype(str).tolist()})
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def movies_parquet_bytes(movies: pd.DataFrame) -> bytes:
    """movies.parquet with item_id (int32), title and genres columns."""
    pa, pq = _pyarrow()
    table = pa.table({"item_id": pa.array(movies["item_id"].to_numpy(np.int32), pa.int32()),
                      "title": movies["title"].astype(str).tolist(),
                      "genres": movies["genres"].astype(str).tolist()})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _latin_1_lines(
    movies: pd.DataFrame, name: str, separator: str, make_line: Callable[[int, str, str], str]
) -> bytes:
    """One `make_line(item_id, title, genres)` per movie, encoded as latin-1 (as in the
    GroupLens files), after checking each title fits a `separator`-delimited line of the
    file called `name`."""
    ids = movies["item_id"].to_numpy(np.int32).tolist()
    titles = movies["title"].astype(str).tolist()
    genres = movies["genres"].astype(str).tolist()
    for number, title in enumerate(titles):
        fits = separator not in title and "\n" not in title
        if not fits or not _is_latin_1(title):
            raise ValueError(
                f"movies row {number}: {name} cannot hold the title {title!r} "
                f"(it must be latin-1 without {separator!r} or line breaks)"
            )
    lines = (make_line(*row) for row in zip(ids, titles, genres, strict=True))
    return "".join(lines).encode("latin-1")


def _is_latin_1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _old_genres(genres: str) -> list[str]:
    return [_OLD_GENRE_NAMES.get(g, g) for g in genres.split("|") if g]


def _movies_dat_line(item_id: int, title: str, genres: str) -> str:
    return f"{item_id}::{title}::{'|'.join(_old_genres(genres))}\n"


def _u_item_line(item_id: int, title: str, genres: str) -> str:
    names = set(_old_genres(genres))
    flags = [int(name in names) for name in ML_100K_GENRES]
    if not any(flags):
        flags[0] = 1  # "unknown"
    year = title.rstrip()[-5:-1] if title.rstrip().endswith(")") else ""
    released = f"01-Jan-{year}" if year.isdigit() else ""
    url = _IMDB_URL.format(quote(title, safe="(),'", encoding="latin-1"))
    return "|".join([str(item_id), title, released, "", url, *map(str, flags)]) + "\n"
