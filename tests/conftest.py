"""Shared fixtures: small seeded ratings frames with the real schema, and MovieLens folders
of any layout written through the library's writers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data.layouts import get_layout
from recsys_lib.data.writers import write_ratings


@pytest.fixture
def tiny_ratings() -> pd.DataFrame:
    """200 ratings by 20 users on 30 items, half-star ratings, MovieLens dtypes."""
    rng = np.random.default_rng(0)
    pairs = rng.choice(20 * 30, size=200, replace=False)
    return pd.DataFrame(
        {
            "user_id": (pairs // 30 + 1).astype(np.int32),
            "item_id": (pairs % 30 * 3 + 1).astype(np.int32),
            "rating": (rng.integers(1, 11, size=200) / 2).astype(np.float32),
            "timestamp": rng.integers(9e8, 1.5e9, size=200).astype(np.int32),
        }
    )


def five_ratings() -> pd.DataFrame:
    """5 ratings by 3 users on 3 items (whole stars, so every layout holds them exactly)."""
    return pd.DataFrame(
        {
            "user_id": np.array([1, 1, 2, 2, 3], dtype=np.int32),
            "item_id": np.array([10, 20, 10, 30, 20], dtype=np.int32),
            "rating": np.array([4.0, 3.0, 5.0, 1.0, 2.0], dtype=np.float32),
            "timestamp": np.array(
                [964982703, 964981247, 964982224, 964983815, 964982931], dtype=np.int32
            ),
        }
    )


@pytest.fixture
def small_ratings() -> pd.DataFrame:
    """The 5 ratings `movielens_dir` writes when given none (see `five_ratings`)."""
    return five_ratings()


MovieLensDir = Callable[..., Path]


@pytest.fixture
def movielens_dir(tmp_path_factory: pytest.TempPathFactory) -> MovieLensDir:
    """Factory writing a MovieLens folder of any layout through `write_ratings`.

    ``movielens_dir(layout="csv", ratings=None, *, movies=True, folder=None) -> folder``:

    - layout: a layout name ("ml-100k", "ml-1m", "csv", "kaggle-csv", "parquet").
    - ratings: frame in our schema (half stars); None writes `five_ratings()`.
    - movies: True writes synthetic titles for the rated items, a frame writes that
      frame, False leaves no movies file.
    - folder: where to write (created when missing); None: a fresh temporary folder.
    """

    def make(
        layout: str = "csv",
        ratings: pd.DataFrame | None = None,
        *,
        movies: bool | pd.DataFrame = True,
        folder: Path | None = None,
    ) -> Path:
        folder = tmp_path_factory.mktemp(layout) if folder is None else Path(folder)
        frame = five_ratings() if ratings is None else ratings
        given = movies if isinstance(movies, pd.DataFrame) else None
        write_ratings(frame, folder, layout, movies=given)
        if movies is False:
            (folder / get_layout(layout).movies_name).unlink()
        return folder

    return make
