"""Train/test splits: sizes, per-user and temporal guarantees, duplicates, cold start."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data.schema import DataError
from recsys_lib.data.split import SPLIT_STRATEGIES, split_ratings
from recsys_lib.data.synthetic import synthetic_ratings


def frame(rows: list[tuple[int, int, float, int]]) -> pd.DataFrame:
    users, items, ratings, times = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "user_id": np.array(users, np.int32),
            "item_id": np.array(items, np.int32),
            "rating": np.array(ratings, np.float32),
            "timestamp": np.array(times, np.int32),
        }
    )


@pytest.fixture
def histories() -> pd.DataFrame:
    """User 1: 10 ratings at t=1..10; user 2: 5 at t=101..105; user 3: one; user 4: two."""
    rows = [(1, item, 4.0, item) for item in range(1, 11)]
    rows += [(2, item, 3.0, 100 + item) for item in range(1, 6)]
    rows += [(3, 1, 5.0, 50), (4, 7, 2.0, 60), (4, 8, 2.5, 61)]
    # Shuffle the rows so order in the frame says nothing about time.
    order = np.random.default_rng(0).permutation(len(rows))
    return frame([rows[i] for i in order])


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return synthetic_ratings(200, 300, 8_000, seed=5)


def pairs(ratings: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(ratings["user_id"].tolist(), ratings["item_id"].tolist(), strict=True))


@pytest.mark.parametrize("strategy", SPLIT_STRATEGIES)
def test_sides_partition_the_ratings(synthetic: pd.DataFrame, strategy: str) -> None:
    split = split_ratings(synthetic, strategy, test_fraction=0.25, seed=1)
    assert len(split.train) + len(split.test) == len(synthetic)
    assert not pairs(split.train) & pairs(split.test)
    both = pd.concat([split.train, split.test]).sort_values(["user_id", "item_id"])
    pd.testing.assert_frame_equal(both.reset_index(drop=True), synthetic)
    assert split.train.dtypes.equals(synthetic.dtypes)
    assert split.test.index.equals(pd.RangeIndex(len(split.test)))
    assert abs(len(split.test) / len(synthetic) - 0.25) < 0.03


@pytest.mark.parametrize("strategy", SPLIT_STRATEGIES)
def test_seeded(synthetic: pd.DataFrame, strategy: str) -> None:
    first = split_ratings(synthetic, strategy, seed=3)
    pd.testing.assert_frame_equal(first.test, split_ratings(synthetic, strategy, seed=3).test)


def test_random_holds_out_exactly_the_rounded_fraction(synthetic: pd.DataFrame) -> None:
    split = split_ratings(synthetic, "random", test_fraction=0.3, seed=0)
    assert len(split.test) == round(0.3 * len(synthetic)) == 2400
    other = split_ratings(synthetic, "random", test_fraction=0.3, seed=1)
    assert pairs(other.test) != pairs(split.test)


def test_per_user_takes_each_users_share_and_keeps_some_in_train(histories) -> None:
    split = split_ratings(histories, "per_user", test_fraction=0.2, seed=0)
    held_out = split.test.groupby("user_id").size().to_dict()
    assert held_out.get(1) == 2 and held_out.get(2) == 1  # 0.2 of 10 and of 5, exactly
    assert 3 not in held_out  # a single rating stays in train
    assert held_out.get(4, 0) <= 1  # 0.2 of 2 rounds at random, but one stays in train
    assert set(split.test["user_id"]) <= set(split.train["user_id"])
    assert split.n_test_users_unseen == 0


def test_per_user_keeps_one_training_rating_even_at_high_fractions(histories) -> None:
    split = split_ratings(histories, "per_user", test_fraction=0.99, seed=0)
    assert split.train.groupby("user_id").size().to_dict() == {1: 1, 2: 1, 3: 1, 4: 1}


def test_per_user_rounding_is_unbiased(synthetic: pd.DataFrame) -> None:
    split = split_ratings(synthetic, "per_user", test_fraction=0.2, seed=0)
    counts = synthetic.groupby("user_id").size()
    expected = np.minimum(0.2 * counts, counts - 1).sum()
    assert abs(len(split.test) - expected) < 3 * np.sqrt(len(counts))


def test_temporal_cuts_at_the_time_quantile(histories) -> None:
    split = split_ratings(histories, "temporal", test_fraction=0.25, seed=0)
    assert len(split.test) == round(0.25 * 18) == 4
    assert sorted(split.test["timestamp"]) == [102, 103, 104, 105]
    assert split.test["timestamp"].min() >= split.train["timestamp"].max()


def test_temporal_ties_at_the_cut_go_to_the_later_rows() -> None:
    ratings = frame([(u, 1, 3.0, 500) for u in range(1, 11)])
    split = split_ratings(ratings, "temporal", test_fraction=0.3)
    assert split.test["user_id"].tolist() == [8, 9, 10]
    assert split.n_test_users_unseen == 3 and split.n_test_items_unseen == 0


def test_latest_per_user_holds_out_each_users_latest(histories) -> None:
    split = split_ratings(histories, "latest_per_user", test_fraction=0.2, seed=0)
    test = split.test.sort_values("timestamp")
    assert test[test["user_id"] == 1]["timestamp"].tolist() == [9, 10]
    assert test[test["user_id"] == 2]["timestamp"].tolist() == [105]
    assert 3 not in set(test["user_id"])
    for user, times in split.train.groupby("user_id")["timestamp"]:
        later = test[test["user_id"] == user]["timestamp"]
        assert later.empty or times.max() <= later.min()


def test_latest_per_user_ties_go_to_the_later_rows() -> None:
    ratings = frame([(1, item, 3.0, 7) for item in range(1, 6)])
    split = split_ratings(ratings, "latest_per_user", test_fraction=0.4)
    assert split.test["item_id"].tolist() == [4, 5]


def test_duplicates_are_resolved_first_and_counted() -> None:
    ratings = frame([(1, 10, 2.0, 9), (1, 20, 4.0, 1), (1, 10, 5.0, 5), (2, 10, 3.0, 2),
                     (2, 30, 1.0, 3), (1, 10, 1.0, 7)])
    for strategy in SPLIT_STRATEGIES:
        split = split_ratings(ratings, strategy, test_fraction=0.5, seed=0)
        assert split.n_duplicates_dropped == 2
        both = pd.concat([split.train, split.test])
        assert len(both) == 4 and not pairs(split.train) & pairs(split.test)
        assert both[(both["user_id"] == 1) & (both["item_id"] == 10)]["rating"].tolist() == [2.0]


def test_unseen_test_users_and_items_are_counted() -> None:
    # Users 1-2 rate early; user 3 and item 99 appear only at the end.
    ratings = frame([(1, 1, 4.0, 1), (1, 2, 4.0, 2), (2, 1, 3.0, 3), (2, 2, 3.0, 4),
                     (3, 1, 5.0, 10), (1, 99, 2.0, 11)])
    split = split_ratings(ratings, "temporal", test_fraction=1 / 3)
    assert pairs(split.test) == {(3, 1), (1, 99)}
    assert split.n_test_users_unseen == 1
    assert split.n_test_items_unseen == 1


def test_summary_is_json_ready(histories) -> None:
    summary = split_ratings(histories, "per_user", test_fraction=0.2, seed=4).summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["strategy"] == "per_user" and summary["seed"] == 4
    assert summary["n_train"] + summary["n_test"] == 18
    assert summary["n_train_users"] == 4
    assert summary["n_duplicates_dropped"] == 0


@pytest.mark.parametrize("strategy", ["leave_one_out", "Random", ""])
def test_unknown_strategy_lists_the_valid_ones(histories, strategy: str) -> None:
    with pytest.raises(ValueError, match="random, per_user, temporal, latest_per_user"):
        split_ratings(histories, strategy)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_outside_zero_one_is_rejected(histories, fraction: float) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        split_ratings(histories, test_fraction=fraction)


def test_missing_columns_and_empty_frames_are_named(histories) -> None:
    with pytest.raises(DataError, match="timestamp"):
        split_ratings(histories.drop(columns="timestamp"), "temporal")
    with pytest.raises(DataError, match="empty"):
        split_ratings(histories.iloc[:0])
    # Strategies that do not look at time need no timestamp.
    split = split_ratings(histories.drop(columns="timestamp"), "per_user", seed=0)
    assert len(split.train) + len(split.test) == 18


@pytest.mark.slow
def test_per_user_split_of_the_embedded_data() -> None:
    from recsys_lib.data.discovery import embedded_path

    raw = pd.read_csv(embedded_path() / "ratings.csv")
    ratings = raw.rename(columns={"userId": "user_id", "movieId": "item_id"})
    split = split_ratings(ratings, "latest_per_user", test_fraction=0.2, seed=0)
    assert abs(len(split.test) / len(ratings) - 0.2) < 0.005
    assert split.n_test_users_unseen == 0
    assert split.train["user_id"].nunique() == ratings["user_id"].nunique()
    last_train = split.train.groupby("user_id")["timestamp"].max()
    first_test = split.test.groupby("user_id")["timestamp"].min()
    assert (last_train.reindex(first_test.index) <= first_test).all()


def test_describe_names_sizes_and_cold_start_counts():
    ratings = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [1, 2, 1, 3, 4],
                            "rating": [4.0] * 5, "timestamp": [1, 2, 3, 4, 5]})
    line = split_ratings(ratings, "temporal", test_fraction=0.4, seed=0).describe()
    assert line.startswith("temporal split (60%/40%, seed 0): 3 train and 2 test ratings;")
    assert "1 test users and 2 test items unseen in training" in line
