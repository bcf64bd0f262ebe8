"""Synthetic MovieLens-shaped data and the writers of every file layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from recsys_lib.data.loading import load_movies, load_ratings
from recsys_lib.data.schema import RATING_COLUMNS, RATING_DTYPES, DataError
from recsys_lib.data.split import split_ratings
from recsys_lib.data.synthetic import GENRES, TIME_RANGE, synthetic_movies, synthetic_ratings
from recsys_lib.data.writers import WRITE_LAYOUTS, write_ratings


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return synthetic_ratings(300, 400, 20_000, seed=7)


# ---- synthetic_ratings -----------------------------------------------------------------
def test_schema_and_exact_size(ratings: pd.DataFrame) -> None:
    assert len(ratings) == 20_000
    assert tuple(ratings.columns) == RATING_COLUMNS
    assert ratings.dtypes.to_dict() == {c: np.dtype(t) for c, t in RATING_DTYPES.items()}
    assert ratings.index.equals(pd.RangeIndex(20_000))


def test_every_user_rates_once_or_more_and_no_pair_repeats(ratings: pd.DataFrame) -> None:
    assert np.array_equal(np.unique(ratings["user_id"]), np.arange(1, 301))
    assert not ratings.duplicated(["user_id", "item_id"]).any()
    # Sorted by user, then item, like MovieLens's files.
    order = ratings.sort_values(["user_id", "item_id"]).index
    assert order.equals(ratings.index)


def test_item_ids_are_gapped_like_movielens(ratings: pd.DataFrame) -> None:
    items = np.unique(ratings["item_id"])
    assert len(items) <= 400
    assert items.min() >= 1 and items.max() <= 3 * 400
    assert items.max() - items.min() + 1 > len(items)  # not contiguous
    assert (np.diff(items) > 1).sum() > len(items) // 4


def test_ratings_have_movielens_distribution(ratings: pd.DataFrame) -> None:
    values = ratings["rating"].to_numpy()
    assert set(np.unique(values)) <= set(np.arange(1, 11) / 2)
    assert 3.3 <= values.mean() <= 3.7
    shares = ratings["rating"].value_counts(normalize=True)
    assert shares.index[0] == 4.0  # the mode, as in every MovieLens release
    assert shares.loc[[1.0, 2.0, 3.0, 4.0, 5.0]].sum() > 0.5  # whole stars dominate


def test_popularity_and_activity_are_long_tailed(ratings: pd.DataFrame) -> None:
    per_item = ratings["item_id"].value_counts().to_numpy()
    assert per_item[: len(per_item) // 10].sum() > 0.3 * len(ratings)  # top 10% of items
    per_user = ratings["user_id"].value_counts().to_numpy()
    assert per_user.max() > 5 * np.median(per_user)


def test_timestamps_fall_in_1996_to_2018(ratings: pd.DataFrame) -> None:
    low, high = TIME_RANGE
    assert ratings["timestamp"].between(low, high).all()
    years = pd.to_datetime(ratings["timestamp"], unit="s").dt.year
    assert years.min() >= 1996 and years.max() <= 2018
    assert years.nunique() > 10


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    first = synthetic_ratings(50, 80, 1_000, seed=3)
    pd.testing.assert_frame_equal(first, synthetic_ratings(50, 80, 1_000, seed=3))
    assert not first.equals(synthetic_ratings(50, 80, 1_000, seed=4))


@pytest.mark.parametrize(
    ("n_users", "n_items", "n_ratings"), [(6, 5, 30), (5, 4, 19), (3, 60, 170)]
)
def test_dense_and_nearly_full_matrices(n_users: int, n_items: int, n_ratings: int) -> None:
    frame = synthetic_ratings(n_users, n_items, n_ratings, seed=1)
    assert len(frame) == n_ratings
    assert not frame.duplicated(["user_id", "item_id"]).any()
    assert frame["user_id"].nunique() == n_users
    assert frame.groupby("user_id").size().max() <= n_items


@pytest.mark.parametrize(
    ("n_users", "n_items", "n_ratings", "named"),
    [(0, 5, 5, "n_users"), (3, 0, 3, "n_items"), (3, 4, 2, "n_ratings"), (3, 4, 13, "n_ratings")],
)
def test_impossible_sizes_are_rejected(n_users: int, n_items: int, n_ratings: int,
                                       named: str) -> None:
    with pytest.raises(ValueError, match=named):
        synthetic_ratings(n_users, n_items, n_ratings)


def test_biases_beat_the_global_mean_on_held_out_ratings(ratings: pd.DataFrame) -> None:
    split = split_ratings(ratings, "per_user", test_fraction=0.2, seed=0)
    train, test = split.train, split.test
    mean = train["rating"].mean()
    item_bias = (train["rating"] - mean).groupby(train["item_id"]).agg(
        lambda d: d.sum() / (len(d) + 5))
    residual = train["rating"] - mean - train["item_id"].map(item_bias)
    user_bias = residual.groupby(train["user_id"]).agg(lambda d: d.sum() / (len(d) + 5))
    predicted = (mean + test["item_id"].map(item_bias).fillna(0.0)
                 + test["user_id"].map(user_bias).fillna(0.0))
    rmse_biases = np.sqrt(((predicted - test["rating"]) ** 2).mean())
    rmse_mean = np.sqrt(((mean - test["rating"]) ** 2).mean())
    assert rmse_biases < 0.9 * rmse_mean


# ---- synthetic_movies ------------------------------------------------------------------
def test_movies_cover_the_ids_with_movielens_style_titles() -> None:
    movies = synthetic_movies(np.array([9, 3, 5, 3]), seed=2)
    assert movies["item_id"].tolist() == [3, 5, 9]
    assert movies["item_id"].dtype == np.int32
    assert movies["title"].str.fullmatch(r".+ \((19|20)\d\d\)").all()
    for genres in movies["genres"]:
        assert 1 <= len(genres.split("|")) <= 3 and set(genres.split("|")) <= set(GENRES)
    pd.testing.assert_frame_equal(movies, synthetic_movies(np.array([3, 5, 9]), seed=2))


def test_movie_titles_exercise_quoting_and_latin_1() -> None:
    titles = synthetic_movies(np.arange(1, 201), seed=0)["title"]
    assert titles.str.contains(",").any() and titles.str.contains('"').any()
    assert titles.str.contains("é").any()
    assert all(t.encode("latin-1") for t in titles)
    assert not titles.str.contains("|", regex=False).any()
    assert not titles.str.contains("::", regex=False).any()


# ---- write_ratings ---------------------------------------------------------------------
@pytest.fixture
def small() -> tuple[pd.DataFrame, pd.DataFrame]:
    ratings = pd.DataFrame(
        {
            "user_id": np.array([1, 1, 2], np.int32),
            "item_id": np.array([10, 20, 10], np.int32),
            "rating": np.array([4.5, 3.0, 0.5], np.float32),
            "timestamp": np.array([964982703, 964981247, 1_000_000_000], np.int32),
        }
    )
    movies = pd.DataFrame(
        {
            "item_id": np.array([10, 20], np.int32),
            "title": ["Toy Story (1995)", "American President, The (1995)"],
            "genres": ["Adventure|Children", "Comedy|Drama|Romance"],
        }
    )
    return ratings, movies


EXPECTED_RATINGS = {
    "ml-100k": ("u.data", "1\t10\t5\t964982703\n1\t20\t3\t964981247\n2\t10\t1\t1000000000\n"),
    "ml-1m": ("ratings.dat", "1::10::4.5::964982703\n1::20::3::964981247\n"
                             "2::10::0.5::1000000000\n"),
    "csv": ("ratings.csv", "userId,movieId,rating,timestamp\n1,10,4.5,964982703\n"
                           "1,20,3.0,964981247\n2,10,0.5,1000000000\n"),
    "kaggle-csv": ("rating.csv", "userId,movieId,rating,timestamp\n1,10,4.5,2000-07-30 18:45:03\n"
                                 "1,20,3.0,2000-07-30 18:20:47\n2,10,0.5,2001-09-09 01:46:40\n"),
}
EXPECTED_MOVIES = {
    "ml-100k": ("u.item", "10|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?"
                          "Toy%20Story%20(1995)|0|0|1|0|1" + "|0" * 14 + "\n"),
    "ml-1m": ("movies.dat", "10::Toy Story (1995)::Adventure|Children's\n"),
    "csv": ("movies.csv", "movieId,title,genres\n10,Toy Story (1995),Adventure|Children\n"
                          '20,"American President, The (1995)",Comedy|Drama|Romance\n'),
    "kaggle-csv": ("movie.csv", "movieId,title,genres\n10,Toy Story (1995),Adventure|Children\n"),
}


@pytest.mark.parametrize("layout", list(EXPECTED_RATINGS))
@pytest.mark.parametrize("chunk_rows", [1, 1_000])
def test_text_layouts_write_movielens_lines(tmp_path, small, layout: str, chunk_rows: int) -> None:
    ratings, movies = small
    folder = write_ratings(ratings, tmp_path / "out", layout, movies=movies, chunk_rows=chunk_rows)
    name, text = EXPECTED_RATINGS[layout]
    assert (folder / name).read_text(encoding="ascii") == text
    name, start = EXPECTED_MOVIES[layout]
    written = (folder / name).read_text(encoding="latin-1" if layout.startswith("ml") else "utf-8")
    assert written.startswith(start)
    assert len(written.splitlines()) == 2 + (layout in ("csv", "kaggle-csv"))
    assert sorted(p.name for p in folder.iterdir()) == sorted([name, EXPECTED_RATINGS[layout][0]])


def test_u_item_has_24_fields(tmp_path, small) -> None:
    ratings, movies = small
    folder = write_ratings(ratings, tmp_path, "ml-100k", movies=movies)
    for line in (folder / "u.item").read_text(encoding="latin-1").splitlines():
        assert len(line.split("|")) == 24


def test_parquet_has_our_columns_and_dtypes(tmp_path, small) -> None:
    ratings, movies = small
    folder = write_ratings(ratings, tmp_path, "parquet", movies=movies, chunk_rows=2)
    table = pq.read_table(folder / "ratings.parquet")
    assert [str(t) for t in table.schema.types] == ["int32", "int32", "float", "int32"]
    assert pq.ParquetFile(folder / "ratings.parquet").num_row_groups == 2
    pd.testing.assert_frame_equal(table.to_pandas(), ratings)
    assert pq.read_table(folder / "movies.parquet").column_names == ["item_id", "title", "genres"]


def test_latin_1_files_and_utf_8_csv(tmp_path) -> None:
    ratings = synthetic_ratings(5, 8, 20, seed=0)
    movies = pd.DataFrame({"item_id": np.unique(ratings["item_id"]), "title": "Café (1999)",
                           "genres": "Drama"})
    assert b"Caf\xe9 (1999)" in (write_ratings(ratings, tmp_path / "a", "ml-1m", movies=movies)
                                 / "movies.dat").read_bytes()
    assert "Café".encode() in (write_ratings(ratings, tmp_path / "b", "csv", movies=movies)
                               / "movies.csv").read_bytes()


@pytest.mark.parametrize("layout", WRITE_LAYOUTS)
def test_every_layout_reads_back_the_same_ratings(tmp_path, ratings: pd.DataFrame,
                                                  layout: str) -> None:
    # The folder name must not look like a release ("ml-1m" would mean whole stars only).
    folder = write_ratings(ratings, tmp_path / "written", layout, chunk_rows=7_000)
    expected = ratings.copy()
    if layout == "ml-100k":  # whole stars, rounded half up
        expected["rating"] = np.clip(np.floor(expected["rating"] + 0.5), 1, 5).astype(np.float32)
    pd.testing.assert_frame_equal(load_ratings(folder), expected, check_like=False)
    movies = synthetic_movies(ratings["item_id"].unique())
    back = load_movies(folder)
    assert back["item_id"].tolist() == movies["item_id"].tolist()
    assert back["title"].tolist() == movies["title"].tolist()
    spelled = movies["genres"].str.replace("Children", "Children's") if layout in (
        "ml-100k", "ml-1m") else movies["genres"]
    assert back["genres"].tolist() == spelled.tolist()


def test_dat_files_keep_half_stars_as_ml_10m_does(tmp_path, small) -> None:
    ratings, movies = small
    folder = write_ratings(ratings, tmp_path / "dat", "ml-1m", movies=movies)
    assert load_ratings(folder)["rating"].tolist() == [4.5, 3.0, 0.5]


def test_bad_inputs_are_named_and_write_nothing(tmp_path, small) -> None:
    ratings, movies = small
    with pytest.raises(ValueError, match="ml-100k, ml-1m, csv, kaggle-csv, parquet"):
        write_ratings(ratings, tmp_path, "tsv")
    with pytest.raises(ValueError, match="chunk_rows"):
        write_ratings(ratings, tmp_path, "csv", chunk_rows=0)
    with pytest.raises(ValueError, match=r"row 1 holds 3\.25"):
        write_ratings(ratings.assign(rating=np.float32([4.5, 3.25, 1.0])), tmp_path, "csv")
    with pytest.raises(ValueError, match="row 0 holds 0 "):
        write_ratings(ratings.assign(rating=np.float32([0.0, 3.0, 1.0])), tmp_path, "csv")
    with pytest.raises(DataError, match="timestamp"):
        write_ratings(ratings.drop(columns="timestamp"), tmp_path, "csv")
    with pytest.raises(ValueError, match="'::'"):
        write_ratings(ratings, tmp_path, "ml-1m", movies=movies.assign(title="A::B (1999)"))
    with pytest.raises(ValueError, match="latin-1"):
        write_ratings(ratings, tmp_path, "ml-100k", movies=movies.assign(title="東京 (1953)"))
    assert list(tmp_path.iterdir()) == []
