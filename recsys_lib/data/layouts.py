"""The MovieLens file layouts: which files make each one, and how to tell them apart."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from recsys_lib.data.schema import DEFAULT_SCALE, RATING_SCALES, DataError, RatingScale

__all__ = [
    "LAYOUTS",
    "MOVIE_ALIASES",
    "RATING_ALIASES",
    "Layout",
    "detect_layout",
    "get_layout",
    "guess_release",
    "layout_names",
    "map_columns",
    "rating_scale",
]


@dataclass(frozen=True)
class Layout:
    """One way MovieLens ratings are laid out on disk.

    Attributes:
        name: the layout's name ("ml-100k", "ml-1m", "csv", "kaggle-csv", "parquet").
        ratings_name: file name of the ratings file in a release folder.
        movies_name: file name of the movies file next to it.
        suffix: file suffix that marks a ratings file of this layout given by path
            under another name ("" when only the exact name counts).
        releases: the releases shipped in this layout, for error messages.
    """

    name: str
    ratings_name: str
    movies_name: str
    suffix: str
    releases: str


LAYOUTS = (
    Layout("ml-100k", "u.data", "u.item", "", "ml-100k"),
    Layout("ml-1m", "ratings.dat", "movies.dat", ".dat", "ml-1m, ml-10m"),
    Layout("csv", "ratings.csv", "movies.csv", ".csv", "ml-20m, ml-25m, ml-32m, ml-latest(-small)"),
    Layout("kaggle-csv", "rating.csv", "movie.csv", "", "Kaggle re-uploads of ml-20m"),
    Layout("parquet", "ratings.parquet", "movies.parquet", ".parquet", "parquet copies"),
)
_BY_NAME = {layout.name: layout for layout in LAYOUTS}

# Accepted header names of each of our columns: MovieLens's first, then ours.
RATING_ALIASES = {
    "user_id": ("userId", "user_id"),
    "item_id": ("movieId", "item_id"),
    "rating": ("rating",),
    "timestamp": ("timestamp",),
}
MOVIE_ALIASES = {"item_id": ("movieId", "item_id"), "title": ("title",), "genres": ("genres",)}

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
    if layout == "ml-100k":
        return "ml-100k"
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
