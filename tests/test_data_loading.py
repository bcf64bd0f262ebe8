"""load_ratings / load_movies / describe_ratings: schema, footprint, attrs, arguments, and
the embedded data set shipping inside a built wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data.discovery import find_source
from recsys_lib.data.loading import describe_ratings, load_movies, load_ratings
from recsys_lib.data.schema import RATING_DTYPES, DataError

REPO = Path(__file__).resolve().parents[1]
BUILD_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
# 5 ratings by 3 users on 3 items.
SMALL = pd.DataFrame(
    {
        "user_id": np.int32([1, 1, 2, 2, 3]),
        "item_id": np.int32([10, 20, 10, 30, 20]),
        "rating": np.float32([4.0, 3.5, 5.0, 1.0, 0.5]),
        "timestamp": np.int32([100, 200, 300, 400, 500]),
    }
)


@pytest.fixture(autouse=True)
def no_discovered_data(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Discovery sees no RECSYS_DATA, Kaggle, Colab or cached data: only the embedded copy."""
    empty = tmp_path_factory.mktemp("empty")
    monkeypatch.delenv("RECSYS_DATA", raising=False)
    for name in ("RECSYS_KAGGLE_INPUT", "RECSYS_COLAB_DIR", "RECSYS_CACHE_DIR"):
        monkeypatch.setenv(name, str(empty / name))


@pytest.fixture
def small_csv(movielens_dir) -> Path:
    return movielens_dir("csv", SMALL) / "ratings.csv"


def test_describe_ratings_is_hand_checked_and_json_ready(small_csv: Path) -> None:
    info = describe_ratings(load_ratings(small_csv))
    assert json.loads(json.dumps(info)) == info
    assert info["format"] == "csv" and info["release"] is None and info["origin"] == "argument"
    assert (info["n_ratings"], info["n_users"], info["n_items"]) == (5, 3, 3)
    assert info["density"] == pytest.approx(5 / 9)
    assert (info["rating_min"], info["rating_max"]) == (0.5, 5.0)
    assert info["rating_mean"] == pytest.approx(14 / 5)
    # 4 columns x 4 bytes x 5 rows plus the RangeIndex's constant 132 bytes.
    assert info["memory_mb"] == pytest.approx((80 + 132) / 2**20)
    assert info["sample"]["n_rows_read"] == 5


def test_attrs_record_source_and_sample(small_csv: Path) -> None:
    whole = load_ratings(small_csv)
    assert whole.attrs["source"] == find_source(small_csv).as_dict()
    assert whole.attrs["sample"] == {
        "strategy": None, "sample_size": None, "seed": 42, "n_rows_read": 5,
        "n_bad_rows_skipped": 0,
    }  # fmt: skip
    sample = load_ratings(small_csv, sample_size=2, strategy="users", seed=7)
    assert sample.attrs["sample"] == {
        "strategy": "users", "sample_size": 2, "seed": 7, "n_rows_read": 5,
        "n_bad_rows_skipped": 0,
    }  # fmt: skip


def test_chunk_size_does_not_change_the_result(small_csv: Path) -> None:
    whole = load_ratings(small_csv)
    for chunk_rows in (1, 2, 3):
        pd.testing.assert_frame_equal(load_ratings(small_csv, chunk_rows=chunk_rows), whole)


def test_a_data_source_is_accepted(small_csv: Path) -> None:
    source = find_source(small_csv.parent)
    assert len(load_ratings(source)) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_size": 0}, "sample_size must be a positive integer or None, got 0"),
        ({"sample_size": -3}, "sample_size must be a positive integer or None, got -3"),
        ({"sample_size": 2.5}, "sample_size must be a positive integer or None, got 2.5"),
        ({"sample_size": 2, "strategy": "items"}, "strategy must be one of"),
        ({"on_bad_rows": "ignore"}, "on_bad_rows must be one of .* got 'ignore'"),
        ({"chunk_rows": 0}, "chunk_rows must be a positive integer, got 0"),
    ],
)
def test_bad_arguments_are_named(small_csv: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_ratings(small_csv, **kwargs)


@pytest.mark.slow
def test_embedded_ml_latest_small_is_lean_and_complete() -> None:
    ratings = load_ratings()
    assert ratings.attrs["source"]["origin"] == "embedded"
    assert ratings.dtypes.to_dict() == RATING_DTYPES
    assert isinstance(ratings.index, pd.RangeIndex)
    # The published counts of ml-latest-small.
    assert (len(ratings), ratings["user_id"].nunique(), ratings["item_id"].nunique()) == (
        100836, 610, 9724,
    )  # fmt: skip
    per_rating = ratings.memory_usage(deep=True, index=False).sum() / len(ratings)
    assert per_rating <= 16
    # Original ids are kept: the first row of ratings.csv is "1,1,4.0,964982703".
    assert ratings.iloc[0].tolist() == [1, 1, 4.0, 964982703]
    movies = load_movies()
    assert len(movies) == 9742 and movies["item_id"].dtype == np.int32
    assert movies.loc[movies["item_id"] == 1, "title"].item() == "Toy Story (1995)"


@pytest.mark.slow
def test_embedded_data_ships_in_the_wheel(tmp_path: Path) -> None:
    # Built from a copy of the checkout, so no build/ folder is left in it.
    project = tmp_path / "project"
    shutil.copytree(REPO / "recsys_lib", project / "recsys_lib", ignore=BUILD_IGNORE)
    for name in ("pyproject.toml", "README.md"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, project / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(project)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("recsys_lib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("ratings.csv", "movies.csv", "README.txt"):
        assert f"recsys_lib/data/embedded/ml-latest-small/{name}" in names
    for config in ("cpu_quick", "mult_vae_quick", "kaggle_t4", "a6000"):
        assert f"recsys_lib/configs/{config}.yaml" in names  # the VAE notebook needs them
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
         "--target", str(site), str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    script = (
        "import json, recsys_lib\n"
        "from recsys_lib.data.loading import load_ratings\n"
        "ratings = load_ratings()\n"
        "print(json.dumps([recsys_lib.__file__, ratings.attrs['source'], len(ratings)]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    module_file, source, n_ratings = json.loads(result.stdout)
    assert Path(module_file).is_relative_to(site)
    assert source["origin"] == "embedded"
    assert Path(source["ratings_file"]).is_relative_to(site)
    assert n_ratings == 100836


@pytest.mark.parametrize("strategy", ["ratings", "users"])
def test_a_sample_larger_than_the_data_says_so(
    small_csv: Path, strategy: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="recsys_lib.data.sampling"):
        sample = load_ratings(small_csv, sample_size=200_000, strategy=strategy)
    pd.testing.assert_frame_equal(sample, load_ratings(small_csv))
    note = "asked for 200,000 ratings; the data has 5: using all"
    assert sample.attrs["sample"]["note"] == note
    assert note in caplog.text
    # Exactly the size of the data, or smaller: no note.
    assert "note" not in load_ratings(small_csv, sample_size=5).attrs["sample"]
    assert "note" not in load_ratings(small_csv, sample_size=4).attrs["sample"]


@pytest.mark.parametrize("strategy", [None, "ratings", "users"])
def test_on_bad_rows_goes_end_to_end_and_the_error_says_how_to_skip(
    movielens_dir, strategy: str | None
) -> None:
    folder = movielens_dir("csv", SMALL)
    with open(folder / "ratings.csv", "a") as handle:
        handle.write("4,10,3.0\n")  # line 7: a field short
    sampled = {} if strategy is None else {"sample_size": 3, "strategy": strategy}
    with pytest.raises(DataError) as error:
        load_ratings(folder, **sampled)
    message = str(error.value)
    assert "line 7: 3 fields, expected 4" in message
    assert "on_bad_rows='skip'" in message and "ON_BAD_ROWS = 'skip'" in message
    assert "--on-bad-rows skip" in message
    loaded = load_ratings(folder, on_bad_rows="skip", **sampled)
    pd.testing.assert_frame_equal(loaded, load_ratings(movielens_dir("csv", SMALL), **sampled))
    assert loaded.attrs["sample"]["n_bad_rows_skipped"] == 1
    assert describe_ratings(loaded)["sample"]["n_bad_rows_skipped"] == 1
