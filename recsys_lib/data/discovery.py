"""Where the MovieLens data comes from, decided once and said in words.

Order (as the README says): an explicit path or release name -> the RECSYS_DATA environment
variable -> Kaggle inputs -> the Colab/Drive folder -> the download cache -> a download
(only with ``download=True``) -> the ml-latest-small copy shipped inside the package.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from recsys_lib.data.download import RELEASES, download_release
from recsys_lib.data.layouts import LAYOUTS, detect_layout, guess_release
from recsys_lib.data.schema import DataError
from recsys_lib.environment import DATA_ENV, cache_dir, colab_data_dir, kaggle_input_root

__all__ = [
    "DEFAULT_DOWNLOAD",
    "EMBEDDED_RELEASE",
    "ORIGINS",
    "SEARCH_DEPTH",
    "DataSource",
    "embedded_path",
    "find_source",
    "search_folders",
]

logger = logging.getLogger(__name__)

ORIGINS = ("argument", "RECSYS_DATA", "kaggle", "colab", "cache", "download", "embedded", "release")
EMBEDDED_RELEASE = "ml-latest-small"
DEFAULT_DOWNLOAD = "ml-latest-small"  # fetched when nothing is found and download=True
SEARCH_DEPTH = 3  # folder levels searched below a root for a MovieLens layout


@dataclass(frozen=True)
class DataSource:
    """The ratings (and movies) file to load, and why it was chosen.

    Attributes:
        path: the folder (or single file) holding the data.
        layout: "ml-100k", "ml-1m" (also ml-10m), "csv", "kaggle-csv" or "parquet".
        origin: how it was found, one of ORIGINS.
        reason: why it was chosen, as a clause that follows "because".
        release: the MovieLens release when known (it picks the rating scale).
        ratings_file: the ratings file.
        movies_file: the movies file, None when there is none.
    """

    path: Path
    layout: str
    origin: str
    reason: str
    release: str | None
    ratings_file: Path
    movies_file: Path | None

    def describe(self) -> str:
        """One sentence for people: what is used, from where, and why."""
        what = self.release or "MovieLens ratings"
        return f"Using {what} ({self.layout} layout) from {self.path} because {self.reason}."

    def as_dict(self) -> dict:
        """JSON-ready fields (paths as strings), for results.json "data"."""
        return {
            "path": str(self.path),
            "layout": self.layout,
            "origin": self.origin,
            "reason": self.reason,
            "release": self.release,
            "ratings_file": str(self.ratings_file),
            "movies_file": None if self.movies_file is None else str(self.movies_file),
        }


def find_source(
    source: str | Path | DataSource | None = None, *, download: bool = False
) -> DataSource:
    """Decide which MovieLens data to use.

    Args:
        source: a folder or ratings file; a release name ("ml-latest-small", "ml-100k",
            "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m"; an existing path of that
            name wins); a DataSource (returned as is); or None (or "") to discover, in order:
            RECSYS_DATA, Kaggle inputs, the Colab folder, the cache, a download
            (`download` only), the embedded ml-latest-small.
        download: allow downloading a release that is not found locally.

    Raises:
        DataError: the path does not exist or holds no known layout, or a named release
            is neither cached nor embedded and `download` is off (says how to get it).
    """
    if isinstance(source, DataSource):
        return source
    if isinstance(source, str) and not source.strip():
        source = None  # an empty DATA_PATH parameter means "discover"
    if source is not None:
        return _from_value(source, "argument", download)
    value = os.environ.get(DATA_ENV, "").strip()
    if value:
        return _from_value(value, "RECSYS_DATA", download)
    for origin, root, where in (
        ("kaggle", kaggle_input_root(), "the Kaggle inputs"),
        ("colab", colab_data_dir(), "the Colab/Drive folder"),
    ):
        found = search_folders(root)
        if found:
            more = f" ({len(found) - 1} more found there)" if len(found) > 1 else ""
            reason = f"no path was given and it is the first MovieLens folder in {where}{more}"
            return _at(found[0], origin, reason)
    nothing = (
        f"no path was given, {DATA_ENV} is unset and no MovieLens data is under "
        f"{kaggle_input_root()} or {colab_data_dir()}"
    )
    for name in RELEASES:
        cached = search_folders(cache_dir() / name)
        if cached:
            return _at(cached[0], "cache", f"{nothing}, and the cache holds {name}", name)
    nothing += " or in the cache"
    if not download:
        return _embedded("embedded", f"{nothing}, and download is off")
    try:
        return _download(DEFAULT_DOWNLOAD, "download", nothing)
    except (OSError, DataError) as exc:
        logger.warning("downloading %s failed (%s); using the embedded copy", DEFAULT_DOWNLOAD, exc)
        return _embedded("embedded", f"{nothing}, and downloading {DEFAULT_DOWNLOAD} failed")


def search_folders(root: Path, depth: int = SEARCH_DEPTH) -> list[Path]:
    """Folders at or below `root` (up to `depth` levels, breadth first, sorted by name,
    hidden folders skipped) that hold a MovieLens ratings file; none below a match."""
    found: list[Path] = []
    level = [root] if root.is_dir() else []
    for _ in range(depth + 1):
        below: list[Path] = []
        for folder in level:
            if any((folder / layout.ratings_name).is_file() for layout in LAYOUTS):
                found.append(folder)
                continue
            try:
                children = sorted(folder.iterdir())
            except OSError:
                continue
            below.extend(c for c in children if c.is_dir() and not c.name.startswith("."))
        level = below
    return found


def embedded_path() -> Path:
    """Folder of the ml-latest-small copy shipped inside the package (importlib.resources)."""
    folder = resources.files("recsys_lib.data").joinpath("embedded", EMBEDDED_RELEASE)
    if not isinstance(folder, Path) or not folder.is_dir():
        raise DataError(f"the embedded {EMBEDDED_RELEASE} data is missing from {folder}")
    return folder


def _from_value(value: str | Path, origin: str, download: bool) -> DataSource:
    """A source named by the caller (origin "argument") or by RECSYS_DATA."""
    path = Path(value).expanduser().absolute()
    said = "it was passed as the data path" if origin == "argument" else f"{DATA_ENV} names it"
    if path.exists():
        if path.is_file():
            return _at(path, origin, said)
        found = search_folders(path)
        if not found or found[0] == path:
            return _at(path, origin, said)  # detect_layout names what is missing
        return _at(found[0], origin, f"{said} (as {path}, which holds it)")
    if isinstance(value, str) and value in RELEASES:
        if origin == "argument":
            return _release(value, "release", f"the release {value!r} was asked for", download)
        return _release(value, origin, f"{DATA_ENV} asks for the release {value!r}", download)
    raise DataError(
        f"{path}: no such file or folder, and not a release name ({', '.join(RELEASES)})"
    )


def _release(name: str, origin: str, why: str, download: bool) -> DataSource:
    cached = search_folders(cache_dir() / name)
    if cached:
        return _at(cached[0], origin, f"{why} and the cache holds it", name)
    if name == EMBEDDED_RELEASE:
        return _embedded(origin, f"{why} and recsys_lib ships it")
    if download:
        return _download(name, origin, f"{why} and it is not in the cache")
    raise DataError(
        f"release {name!r} is not in the cache ({cache_dir() / name}); pass download=True "
        f"to fetch it from grouplens.org, or download and unzip it yourself and pass its "
        f"folder (or set {DATA_ENV} to it)"
    )


def _download(name: str, origin: str, why: str) -> DataSource:
    folder = download_release(name)
    found = search_folders(folder)
    if not found:
        raise DataError(f"{folder}: the downloaded {name} holds no MovieLens ratings file")
    return _at(found[0], origin, f"{why}, so it was downloaded", name)


def _embedded(origin: str, why: str) -> DataSource:
    return _at(embedded_path(), origin, why, EMBEDDED_RELEASE)


def _at(path: Path, origin: str, reason: str, release: str | None = None) -> DataSource:
    layout, ratings_file, movies_file = detect_layout(path)
    return DataSource(
        path=path,
        layout=layout,
        origin=origin,
        reason=reason,
        release=release or guess_release(ratings_file, layout),
        ratings_file=ratings_file,
        movies_file=movies_file,
    )
