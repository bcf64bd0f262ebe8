"""find_source: the discovery order, release names, searches below roots, and the words it
says about its choice."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from recsys_lib.data import discovery
from recsys_lib.data.discovery import SEARCH_DEPTH, DataSource, embedded_path, find_source
from recsys_lib.data.schema import DataError


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Empty Kaggle input, Colab and cache folders; RECSYS_DATA unset; no downloads."""
    roots = {name: tmp_path / name for name in ("kaggle", "colab", "cache")}
    for root in roots.values():
        root.mkdir()
    monkeypatch.delenv("RECSYS_DATA", raising=False)
    monkeypatch.setenv("RECSYS_KAGGLE_INPUT", str(roots["kaggle"]))
    monkeypatch.setenv("RECSYS_COLAB_DIR", str(roots["colab"]))
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(roots["cache"]))

    def no_download(name: str, *args: object, **kwargs: object) -> Path:
        raise AssertionError(f"unexpected download of {name}")

    monkeypatch.setattr(discovery, "download_release", no_download)
    return roots


@pytest.fixture
def release_folder(movielens_dir):
    """``release_folder(folder, layout="csv", movies=True)``: a MovieLens folder there."""

    def make(folder: Path, layout: str = "csv", *, movies: bool = True) -> Path:
        return movielens_dir(layout, folder=folder, movies=movies)

    return make


def test_discovery_order(release_folder, places: dict[str, Path], tmp_path, monkeypatch) -> None:
    given = release_folder(tmp_path / "given")
    env = release_folder(tmp_path / "env")
    kaggle = release_folder(places["kaggle"] / "movielens-20m-dataset", "kaggle-csv")
    colab = release_folder(places["colab"] / "ml-1m", "ml-1m")
    cache = release_folder(places["cache"] / "ml-25m" / "ml-25m")
    monkeypatch.setenv("RECSYS_DATA", str(env))

    assert (find_source(given).origin, find_source(given).path) == ("argument", given)
    assert (find_source().origin, find_source().path) == ("RECSYS_DATA", env)
    monkeypatch.delenv("RECSYS_DATA")
    found = find_source()
    assert (found.origin, found.path, found.layout, found.release) == (
        "kaggle", kaggle, "kaggle-csv", "ml-20m",
    )  # fmt: skip
    (kaggle / "rating.csv").unlink()
    found = find_source()
    assert (found.origin, found.path, found.layout, found.release) == (
        "colab", colab, "ml-1m", "ml-1m",
    )  # fmt: skip
    (colab / "ratings.dat").unlink()
    found = find_source()
    assert (found.origin, found.path, found.release) == ("cache", cache, "ml-25m")
    assert "the cache holds ml-25m" in found.reason
    (cache / "ratings.csv").unlink()
    found = find_source()
    assert (found.origin, found.path) == ("embedded", embedded_path())
    assert found.release == "ml-latest-small"
    assert "download is off" in found.reason


def test_search_goes_a_few_levels_deep(release_folder, places: dict[str, Path]) -> None:
    deep = places["kaggle"] / "a" / "b" / "c" / "d"  # one level too deep
    assert len(deep.relative_to(places["kaggle"]).parts) == SEARCH_DEPTH + 1
    release_folder(deep)
    assert find_source().origin == "embedded"
    second = release_folder(places["kaggle"] / "b" / "x" / "ml-100k", "ml-100k")
    first = release_folder(places["kaggle"] / "a" / "b" / "c")
    found = find_source()
    assert (found.origin, found.path) == ("kaggle", first)
    assert "(1 more found there)" in found.reason
    assert discovery.search_folders(places["kaggle"]) == [first, second]


def test_a_folder_above_the_data_is_searched(release_folder, places, tmp_path: Path) -> None:
    inner = release_folder(tmp_path / "downloads" / "ml-latest-small")
    found = find_source(tmp_path / "downloads")
    assert (found.origin, found.path, found.release) == ("argument", inner, "ml-latest-small")
    assert str(tmp_path / "downloads") in found.reason


def test_release_names(release_folder, places: dict[str, Path], monkeypatch) -> None:
    cached = release_folder(places["cache"] / "ml-1m" / "ml-1m", "ml-1m")
    found = find_source("ml-1m")
    assert (found.origin, found.path, found.release) == ("release", cached, "ml-1m")
    assert found.reason == "the release 'ml-1m' was asked for and the cache holds it"
    small = find_source("ml-latest-small")
    assert (small.origin, small.path) == ("release", embedded_path())
    with pytest.raises(DataError) as error:
        find_source("ml-25m")
    assert "download=True" in str(error.value)
    assert str(places["cache"] / "ml-25m") in str(error.value)
    monkeypatch.setenv("RECSYS_DATA", "ml-1m")
    assert (find_source().origin, find_source().path) == ("RECSYS_DATA", cached)


def test_download_only_when_asked(release_folder, places, tmp_path: Path, monkeypatch) -> None:
    asked: list[str] = []

    def fake_download(name: str, *args: object, **kwargs: object) -> Path:
        asked.append(name)
        return release_folder(tmp_path / "fetched" / name / name)

    monkeypatch.setattr(discovery, "download_release", fake_download)
    found = find_source("ml-25m", download=True)
    assert (found.origin, found.release) == ("release", "ml-25m")
    assert found.path == tmp_path / "fetched" / "ml-25m" / "ml-25m"
    assert found.reason.endswith("is not in the cache, so it was downloaded")
    found = find_source(download=True)
    assert (found.origin, found.release) == ("download", discovery.DEFAULT_DOWNLOAD)
    assert asked == ["ml-25m", discovery.DEFAULT_DOWNLOAD]


def test_failed_download_falls_back_to_embedded(places, monkeypatch, caplog) -> None:
    def offline(name: str, *args: object, **kwargs: object) -> Path:
        raise OSError("network unreachable")

    monkeypatch.setattr(discovery, "download_release", offline)
    with caplog.at_level(logging.WARNING, logger="recsys_lib.data.discovery"):
        found = find_source(download=True)
    assert found.origin == "embedded" and "failed" in found.reason
    assert "network unreachable" in caplog.text
    with pytest.raises(OSError, match="network unreachable"):
        find_source("ml-25m", download=True)  # a release asked for by name must not fall back


def test_an_existing_path_wins_over_a_release_name(
    release_folder, places, tmp_path: Path, monkeypatch
) -> None:
    local = release_folder(tmp_path / "ml-1m")
    monkeypatch.chdir(tmp_path)
    found = find_source("ml-1m")
    assert (found.origin, found.path) == ("argument", local)


def test_describe_and_as_dict(release_folder, places: dict[str, Path], tmp_path: Path) -> None:
    folder = release_folder(tmp_path / "ml-latest-small", movies=False)
    found = find_source(folder)
    assert found.describe() == (
        f"Using ml-latest-small (csv layout) from {folder} because it was passed as the data path."
    )
    record = json.loads(json.dumps(found.as_dict()))
    assert record == {
        "path": str(folder), "layout": "csv", "origin": "argument",
        "reason": "it was passed as the data path", "release": "ml-latest-small",
        "ratings_file": str(folder / "ratings.csv"), "movies_file": None,
    }  # fmt: skip
    assert find_source(found) is found
    assert isinstance(found, DataSource)


def test_unknown_name_is_neither_path_nor_release(places: dict[str, Path]) -> None:
    with pytest.raises(DataError, match=r"ml-2m: no such file or folder, and not a release name"):
        find_source("ml-2m")


def test_an_empty_string_means_discover(release_folder, places: dict[str, Path]) -> None:
    release_folder(places["colab"] / "mine")
    assert find_source("  ").origin == "colab"
