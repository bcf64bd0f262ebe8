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


#: Titles of `trained_run`'s movies that the title tests name (the rest are synthetic).
TRAINED_RUN_TITLES = {1: "Toy Story (1995)", 2: "Toy Story 2 (1999)", 11: "Matrix, The (1999)",
                      12: "Heat (1995)", 13: "Heat (1972)"}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classical run folder with fitted models saved, as the notebook leaves it.

    Users 1-30 rate items 1-10 and users 31-60 items 11-20 (80% of each block, seeded),
    so every model's recommendations and similar items stay in the user's or item's block.
    Metrics: ItemKNN is the best non-yardstick by ndcg@10; Popularity (a yardstick) has a
    higher ndcg@10 and must never be the default.
    """
    from recsys_lib.data import Interactions, find_source
    from recsys_lib.data.synthetic import synthetic_movies
    from recsys_lib.models import ALS, SVD, ItemKNN, Popularity
    from recsys_lib.runs.record import write_json_atomic

    rng = np.random.default_rng(0)
    rows = [(user, item, float(rng.integers(1, 6)), 964982703 + user * 100 + item)
            for user in range(1, 61) for item in range(1, 21)
            if (user <= 30) == (item <= 10) and rng.random() < 0.8]
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).astype(
        {"user_id": "int32", "item_id": "int32", "rating": "float32", "timestamp": "int32"})
    movies = synthetic_movies(np.arange(1, 21))
    movies["title"] = [TRAINED_RUN_TITLES.get(item, title)
                       for item, title in zip(movies["item_id"], movies["title"], strict=True)]
    root = tmp_path_factory.mktemp("trained")
    data_dir = write_ratings(ratings, root / "data", "csv", movies=movies)
    run_dir = root / "run"
    train = Interactions.from_ratings(ratings)
    models = {"Popularity": Popularity(), "SVD": SVD(n_components=2, seed=1),
              "ItemKNN": ItemKNN(n_neighbors=5), "ALS": ALS(factors=4, iterations=5, seed=1)}
    for name, model in models.items():
        model.fit(train).save(run_dir / "models" / f"{name}.npz")
    ndcg = {"Popularity": 0.9, "SVD": 0.3, "ItemKNN": 0.5, "ALS": 0.4}
    write_json_atomic(run_dir / "results.json", {
        "status": "ok", "notebook": "classical_cf", "params": {"SEED": 42},
        "data": {"source": find_source(data_dir).as_dict()},
        "metrics": {name: {"ndcg@10": value} for name, value in ndcg.items()},
    })
    return run_dir
