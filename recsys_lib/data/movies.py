"""Movie readers, one per movies file format (see the layout table in `layouts`): each
returns item_id (int32), title and genres ("A|B") as strings, and raises DataError naming
the file and, for malformed rows, the line."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_lib.data.schema import MOVIE_ALIASES, MOVIE_COLUMNS, DataError, map_columns

__all__ = [
    "ML_100K_GENRES",
    "NO_GENRES",
    "read_movies_csv",
    "read_movies_dat",
    "read_movies_parquet",
    "read_u_item",
]

NO_GENRES = "(no genres listed)"
# ml-100k's u.genre, used when that file is absent: u.item has one 0/1 flag per genre.
ML_100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


def read_u_item(file: Path) -> pd.DataFrame:
    """Read ml-100k's u.item ("|"-separated, one 0/1 flag per genre; genre names from
    u.genre next to it when present)."""
    return _movie_frame(_u_item_rows(_decode(file), file), file)


def read_movies_dat(file: Path) -> pd.DataFrame:
    """Read ml-1m / ml-10m's movies.dat ("id::title::genres")."""
    return _movie_frame(_movies_dat_rows(_decode(file), file), file)


def read_movies_csv(file: Path) -> pd.DataFrame:
    """Read a movies.csv / movie.csv with a header naming movieId (or item_id), title and
    genres in any order, other columns ignored."""
    return _movie_frame(_read_csv(file), file)


def read_movies_parquet(file: Path) -> pd.DataFrame:
    """Read a movies.parquet with MovieLens's column names or ours."""
    return _movie_frame(_read_parquet(file), file)


def _movie_frame(rows: pd.DataFrame | list[tuple[int, str, str]], file: Path) -> pd.DataFrame:
    """Rows (a frame with our column names, or (item_id, title, genres) tuples) in our
    schema: item_id int32, title str and genres str ("A|B", or "(no genres listed)").

    Raises:
        DataError: there are no rows.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=[*MOVIE_COLUMNS])
    if frame.empty:
        raise DataError(f"{file}: no movies in the file")
    return pd.DataFrame(
        {
            "item_id": frame["item_id"].to_numpy(np.int32),
            "title": frame["title"].astype("str"),
            "genres": frame["genres"].fillna(NO_GENRES).astype("str"),
        }
    )


def _decode(file: Path) -> str:
    """File text: UTF-8 when valid, else latin-1 (ml-100k and ml-1m are latin-1)."""
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _numbered_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, line) of the non-blank lines."""
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _u_item_rows(text: str, file: Path) -> list[tuple[int, str, str]]:
    """(item_id, title, genres) of each line of u.item: "|"-separated, genre flags last."""
    names = _ml_100k_genres(file.parent)
    rows = []
    for number, line in _numbered_lines(text):
        fields = line.split("|")
        flags = fields[5:]
        if len(flags) != len(names) or not set(flags) <= {"0", "1"} or not fields[0].isdigit():
            raise DataError(
                f"{file}: line {number}: expected {5 + len(names)} '|'-separated fields "
                f"ending in 0/1 genre flags: {line!r}"
            )
        genres = "|".join(name for name, flag in zip(names, flags, strict=True) if flag == "1")
        rows.append((int(fields[0]), fields[1], genres or NO_GENRES))
    return rows


def _movies_dat_rows(text: str, file: Path) -> list[tuple[int, str, str]]:
    """(item_id, title, genres) of each line of movies.dat ("id::title::genres")."""
    rows = []
    for number, line in _numbered_lines(text):
        fields = line.split("::")
        if len(fields) < 3 or not fields[0].strip().isdigit():
            raise DataError(f"{file}: line {number}: expected id::title::genres: {line!r}")
        rows.append((int(fields[0]), "::".join(fields[1:-1]), fields[-1] or NO_GENRES))
    return rows


def _ml_100k_genres(folder: Path) -> tuple[str, ...]:
    """Genre names in flag order, from u.genre ("name|index" lines) when present."""
    genre_file = folder / "u.genre"
    if not genre_file.is_file():
        return ML_100K_GENRES
    lines = [line for line in _decode(genre_file).splitlines() if line.strip()]
    return tuple(line.split("|")[0] for line in lines)


def _read_csv(file: Path) -> pd.DataFrame:
    text = _decode(file)
    header = next(iter(text.splitlines()), "")
    found = [name.strip().strip('"') for name in header.split(",")]
    positions = map_columns(found, MOVIE_ALIASES, file)
    try:
        frame = pd.read_csv(
            io.StringIO(text), usecols=positions, dtype={found[positions[0]]: np.int32}
        )
    except ValueError as exc:
        raise DataError(f"{file}: {exc}") from exc
    names = [found[p] for p in positions]
    return frame.rename(columns=dict(zip(names, MOVIE_COLUMNS, strict=True)))


def _read_parquet(file: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(file).names
        positions = map_columns(names, MOVIE_ALIASES, file)
        frame = pd.read_parquet(file, columns=[names[p] for p in positions])
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises ArrowInvalid or OSError
        raise DataError(f"{file}: not a readable movies parquet file ({exc})") from exc
    ours = dict(zip((names[p] for p in positions), MOVIE_COLUMNS, strict=True))
    frame = frame.rename(columns=ours)
    if frame["item_id"].isna().any():
        raise DataError(f"{file}: column {names[positions[0]]!r} has missing item ids")
    return frame
