"""Seeded samples: sizes, whole user histories, reproducibility, uniformity, and the same
rows whether drawn in memory or while streaming a file in chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data.loading import load_ratings
from recsys_lib.data.sampling import RatingSampler, choose_users, sample_ratings, seeded_subset
from recsys_lib.data.schema import DataError


def random_ratings(n_rows: int, n_users: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": rng.integers(1, n_users + 1, n_rows).astype(np.int32),
            "item_id": rng.integers(1, 500, n_rows).astype(np.int32),
            "rating": (rng.integers(1, 11, n_rows) / 2).astype(np.float32),
            "timestamp": rng.integers(9e8, 1.5e9, n_rows).astype(np.int32),
        }
    )


@pytest.fixture
def ratings() -> pd.DataFrame:
    return random_ratings(3000, 120, seed=1)


def test_ratings_sample_is_a_subset_in_original_order(ratings: pd.DataFrame) -> None:
    ratings = ratings.assign(timestamp=np.arange(len(ratings), dtype=np.int32))  # row ids
    sample = sample_ratings(ratings, 700, seed=3)
    rows = sample["timestamp"].to_numpy()
    assert len(sample) == 700 and len(np.unique(rows)) == 700
    assert (np.diff(rows) > 0).all()
    pd.testing.assert_frame_equal(sample, ratings.iloc[rows].reset_index(drop=True))


def test_users_sample_keeps_whole_histories_and_stops_at_the_size(
    ratings: pd.DataFrame,
) -> None:
    sample = sample_ratings(ratings, 500, strategy="users", seed=5)
    chosen = np.unique(sample["user_id"])
    counts = ratings["user_id"].value_counts()
    pd.testing.assert_frame_equal(
        sample, ratings[ratings["user_id"].isin(chosen)].reset_index(drop=True)
    )
    assert len(sample) >= 500
    # Users are added until the size is reached: without the largest history it is not.
    assert len(sample) - counts[chosen].max() < 500


def test_choose_users_takes_a_prefix_of_a_shuffle() -> None:
    ids = np.array([3, 5, 8, 13], dtype=np.int32)
    counts = np.array([4, 1, 2, 6])
    for seed in range(20):
        chosen = choose_users(ids, counts, 5, seed)
        total = counts[np.isin(ids, chosen)].sum()
        assert total >= 5 and (np.diff(chosen) > 0).all()
        assert total - counts[np.isin(ids, chosen)].max() < 5
    assert choose_users(ids, counts, 100, seed=0).tolist() == [3, 5, 8, 13]


def test_choose_users_at_most_stops_before_passing_the_size() -> None:
    ids = np.array([3, 5, 8, 13], dtype=np.int32)
    counts = np.array([4, 1, 2, 6])
    for seed in range(20):
        at_least = choose_users(ids, counts, 5, seed)
        at_most = choose_users(ids, counts, 5, seed, at_most=True)
        total = counts[np.isin(ids, at_most)].sum()
        assert set(at_most) <= set(at_least)  # a prefix of the same shuffle, never longer
        assert total <= 5 or len(at_most) == 1  # one user's history may exceed the size
    assert choose_users(ids, counts, 100, seed=0, at_most=True).tolist() == [3, 5, 8, 13]


def test_seeded_subset_is_sorted_seeded_and_whole_when_small() -> None:
    values = np.arange(100, 200)
    subset = seeded_subset(values, 10, seed=1)
    assert len(subset) == 10 and len(set(subset)) == 10 and (np.diff(subset) > 0).all()
    assert set(subset) <= set(values)
    np.testing.assert_array_equal(subset, seeded_subset(values, 10, seed=1))
    assert not np.array_equal(subset, seeded_subset(values, 10, seed=2))
    assert seeded_subset(values, 100, seed=1) is values


@pytest.mark.parametrize("strategy", ["ratings", "users"])
def test_same_seed_same_sample_other_seed_other_sample(
    ratings: pd.DataFrame, strategy: str
) -> None:
    first = sample_ratings(ratings, 300, strategy=strategy, seed=11)
    pd.testing.assert_frame_equal(first, sample_ratings(ratings, 300, strategy=strategy, seed=11))
    assert not first.equals(sample_ratings(ratings, 300, strategy=strategy, seed=12))


def test_ratings_sample_is_uniform() -> None:
    # Each of 40 rows should be in 10/40 of 800 seeded samples: 200 times, sd 12.2.
    frame = random_ratings(40, 5, seed=0).assign(timestamp=np.arange(40, dtype=np.int32))
    hits = np.zeros(40)
    for seed in range(800):
        hits[sample_ratings(frame, 10, seed=seed)["timestamp"].to_numpy()] += 1
    assert hits.sum() == 8000
    assert np.abs(hits - 200).max() < 55
    chi_square = ((hits - 200) ** 2 / 200).sum() * 4 / 3  # (1 - p) correction, 39 dof
    assert chi_square < 80  # the 0.9999 quantile of chi-square with 39 dof is about 80


@pytest.mark.parametrize("strategy", ["ratings", "users"])
def test_a_sample_larger_than_the_data_keeps_everything(
    ratings: pd.DataFrame, strategy: str
) -> None:
    sample = sample_ratings(ratings, 10_000, strategy=strategy)
    pd.testing.assert_frame_equal(sample, ratings)


def test_sampler_matches_in_memory_sample_for_any_chunking(ratings: pd.DataFrame) -> None:
    expected = sample_ratings(ratings, 250, seed=9)
    for chunk in (13, 250, 1000, 5000):
        sampler = RatingSampler(250, seed=9)
        for lo in range(0, len(ratings), chunk):
            sampler.add(ratings.iloc[lo : lo + chunk])
        assert sampler.n_seen == len(ratings)
        pd.testing.assert_frame_equal(sampler.result(), expected)


@pytest.mark.parametrize("strategy", ["ratings", "users"])
@pytest.mark.parametrize("chunk_rows", [97, 1000, 1_000_000])
def test_streaming_a_file_gives_the_in_memory_sample(
    movielens_dir, ratings: pd.DataFrame, strategy: str, chunk_rows: int
) -> None:
    folder = movielens_dir("csv", ratings)
    streamed = load_ratings(
        folder, sample_size=400, strategy=strategy, seed=4, chunk_rows=chunk_rows
    )
    in_memory = sample_ratings(load_ratings(folder), 400, strategy=strategy, seed=4)
    pd.testing.assert_frame_equal(streamed, in_memory)
    assert streamed.attrs["sample"]["n_rows_read"] == len(ratings)


def test_streaming_parquet_gives_the_in_memory_sample(
    movielens_dir, ratings: pd.DataFrame
) -> None:
    folder = movielens_dir("parquet", ratings)
    streamed = load_ratings(folder, sample_size=321, seed=2, chunk_rows=300)
    pd.testing.assert_frame_equal(streamed, sample_ratings(ratings, 321, seed=2))


def test_streaming_sample_skips_bad_rows(movielens_dir, ratings: pd.DataFrame) -> None:
    folder = movielens_dir("csv", ratings.iloc[:200])
    rest = (movielens_dir("csv", ratings.iloc[200:]) / "ratings.csv").read_text()
    with open(folder / "ratings.csv", "a") as handle:
        handle.write("1,2\n" + rest.split("\n", 1)[1])  # a bad line 202, then the rest
    with pytest.raises(DataError, match="line 202"):
        load_ratings(folder, sample_size=100)
    streamed = load_ratings(folder, sample_size=100, on_bad_rows="skip", chunk_rows=64)
    pd.testing.assert_frame_equal(streamed, sample_ratings(ratings, 100))
    assert streamed.attrs["sample"]["n_bad_rows_skipped"] == 1


@pytest.mark.parametrize("size", [0, -1, 2.0, True])
def test_sample_size_must_be_positive(ratings: pd.DataFrame, size: object) -> None:
    with pytest.raises(DataError, match="sample_size must be a positive integer"):
        sample_ratings(ratings, size)  # type: ignore[arg-type]


def test_an_in_memory_sample_larger_than_the_data_says_so(ratings: pd.DataFrame) -> None:
    sample = sample_ratings(ratings, 10_000)
    assert sample.attrs["sample"]["note"] == (
        "asked for 10,000 ratings; the data has 3,000: using all"
    )
