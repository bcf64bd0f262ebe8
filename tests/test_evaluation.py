"""evaluate_ratings / evaluate_ranking on hand-computed cases, and the quality targets on
the embedded ml-latest-small (slow)."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data.interactions import Interactions
from recsys_lib.data.schema import DataError
from recsys_lib.evaluation import evaluate_ranking, evaluate_ratings
from recsys_lib.models import ALS, SVD, BiasBaseline, ItemKNN, NotFittedError, Popularity

D2 = 1 / np.log2(3)
RANKING_KEYS = {"precision@2", "recall@2", "ndcg@2", "map@2", "hit_rate@2", "coverage@2",
                "n_users_evaluated", "n_cold_users"}


def _frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).astype(
        {"user_id": np.int32, "item_id": np.int32, "rating": np.float32}
    )


@pytest.fixture
def train() -> Interactions:
    """Item 10 rated 3 times, 20 twice, 30 and 40 once each."""
    return Interactions.from_ratings(
        _frame([(1, 10, 4), (1, 20, 3), (2, 10, 5), (2, 30, 2), (3, 10, 3), (3, 20, 4),
                (3, 40, 1)])
    )


@pytest.fixture
def test_frame() -> pd.DataFrame:
    # user 1: relevant 30 and 50 (50 never seen in training); user 2: nothing >= 4 stars;
    # user 3: relevant 30; user 9 (cold): relevant 20
    return _frame([(1, 30, 5), (1, 50, 4), (2, 40, 3), (2, 20, 2), (3, 30, 4.5), (9, 20, 4)])


def test_evaluate_ratings_scores_every_pair_and_counts_unknown_ones(
    train: Interactions, test_frame: pd.DataFrame
) -> None:
    model = BiasBaseline().fit(train)
    result = evaluate_ratings(model, test_frame)
    assert set(result) == {"rmse", "mae", "n_unknown_pairs"}
    predicted = model.predict(test_frame["user_id"].to_numpy(), test_frame["item_id"].to_numpy())
    errors = predicted - test_frame["rating"].to_numpy()
    assert result["rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)), rel=1e-6)
    assert result["mae"] == pytest.approx(np.mean(np.abs(errors)), rel=1e-6)
    assert result["n_unknown_pairs"] == 2  # item 50, user 9


def test_evaluate_ratings_with_max_users_scores_all_ratings_of_a_seeded_user_sample(
    train: Interactions, test_frame: pd.DataFrame
) -> None:
    model = BiasBaseline().fit(train)
    users = test_frame["user_id"].to_numpy()
    errors = model.predict(users, test_frame["item_id"].to_numpy()) - test_frame["rating"]
    per_user = {user: np.sqrt(np.mean(errors[users == user] ** 2)) for user in np.unique(users)}
    picked = set()
    for seed in range(8):
        result = evaluate_ratings(model, test_frame, max_users=1, seed=seed)
        matches = [user for user, value in per_user.items()
                   if value == pytest.approx(result["rmse"], rel=1e-6)]
        assert matches, "the sampled RMSE is one user's whole-test RMSE"
        picked.update(matches)
        assert result == evaluate_ratings(model, test_frame, max_users=1, seed=seed)
    assert len(picked) > 1  # the seed changes the user
    assert evaluate_ratings(model, test_frame, max_users=4) == evaluate_ratings(model, test_frame)
    with pytest.raises(ValueError, match="max_users"):
        evaluate_ratings(model, test_frame, max_users=0)


def test_evaluate_ratings_refuses_ranking_models_and_bad_frames(
    train: Interactions, test_frame: pd.DataFrame
) -> None:
    with pytest.raises(TypeError, match="Popularity ranks items"):
        evaluate_ratings(Popularity().fit(train), test_frame)
    with pytest.raises(DataError, match=r"lacks column\(s\) \['rating'\]"):
        evaluate_ratings(BiasBaseline().fit(train), test_frame.drop(columns="rating"))
    with pytest.raises(NotFittedError):
        evaluate_ratings(BiasBaseline(), test_frame)


def test_evaluate_ranking_matches_hand_computed_popularity_lists(
    train: Interactions, test_frame: pd.DataFrame
) -> None:
    # Unseen items by popularity, ties to the lower id: user 1 gets [30, 40] (hit 30 of
    # {30, 50}); user 3 gets [30, pad] (hit 30 of {30}); cold user 9 gets the overall
    # most popular [10, 20] (hit 20 of {20}). User 2 has no relevant item: not evaluated.
    result = evaluate_ranking(Popularity().fit(train), train, test_frame, k=2)
    assert set(result) == RANKING_KEYS
    assert result == pytest.approx(
        {
            "precision@2": 0.5,
            "recall@2": (1 / 2 + 1 + 1) / 3,
            "ndcg@2": (1 / (1 + D2) + 1 + D2) / 3,
            "map@2": (1 / 2 + 1 + 1 / 2) / 3,
            "hit_rate@2": 1.0,
            "coverage@2": 4 / 4,
            "n_users_evaluated": 3,
            "n_cold_users": 1,
        }
    )


def test_relevance_threshold_and_user_sampling(
    train: Interactions, test_frame: pd.DataFrame
) -> None:
    model = Popularity().fit(train)
    lenient = evaluate_ranking(model, train, test_frame, k=2, relevance_threshold=3.0)
    assert lenient["n_users_evaluated"] == 4  # user 2's 3-star rating of item 40 counts now
    sampled = evaluate_ranking(model, train, test_frame, k=2, max_users=2, seed=5)
    assert sampled["n_users_evaluated"] == 2
    assert sampled == evaluate_ranking(model, train, test_frame, k=2, max_users=2, seed=5)
    with pytest.raises(ValueError, match=r"no test rating is >= relevance_threshold=5\.5"):
        evaluate_ranking(model, train, test_frame, relevance_threshold=5.5)
    with pytest.raises(ValueError, match="max_users"):
        evaluate_ranking(model, train, test_frame, max_users=0)


def test_evaluate_ranking_refuses_a_model_fitted_on_other_data(
    train: Interactions, test_frame: pd.DataFrame
) -> None:
    other = Interactions.from_ratings(test_frame)
    with pytest.raises(ValueError, match="different training set"):
        evaluate_ranking(Popularity().fit(other), train, test_frame)


def test_items_the_model_saw_in_validation_are_not_recommended(train: Interactions) -> None:
    # The model fitted on `train`; user 1 also rated item 30 in a validation carve-out.
    # Unmasked, Popularity gives user 1 [30, 40]: the relevant 40 lands second (NDCG D2).
    # With the whole training set (fit + validation) as `seen`, user 1 gets [40, pad]: 1.
    model = Popularity().fit(train)
    whole = Interactions.from_ratings(pd.concat([train.to_frame(), _frame([(1, 30, 4)])]))
    test = _frame([(1, 40, 5)])
    unmasked = evaluate_ranking(model, train, test, k=2)
    masked = evaluate_ranking(model, train, test, k=2, seen=whole)
    assert unmasked["ndcg@2"] == pytest.approx(D2)
    assert masked["ndcg@2"] == pytest.approx(1.0)
    assert masked["precision@2"] == pytest.approx(0.5)
    # `seen` equal to `train` changes nothing
    assert evaluate_ranking(model, train, test, k=2, seen=train) == unmasked


def test_seen_masking_goes_deep_enough_for_every_users_extra_items(
    train: Interactions,
) -> None:
    # user 3 saw 30 in validation besides 10, 20, 40 in fit: no candidate is left but 30,
    # so the list is all padding; user 1's extra items 30 and 40 leave only padding too.
    model = Popularity().fit(train)
    extra = _frame([(3, 30, 4), (1, 30, 4), (1, 40, 2)])
    whole = Interactions.from_ratings(pd.concat([train.to_frame(), extra]))
    result = evaluate_ranking(model, train, _frame([(1, 30, 5), (3, 30, 5)]), k=2, seen=whole)
    assert result["hit_rate@2"] == 0.0
    assert result["coverage@2"] == 0.0


@pytest.fixture(scope="module")
def embedded_split() -> tuple[Interactions, pd.DataFrame]:
    """The embedded ml-latest-small, split 80/20 at random (seed 42)."""
    path = resources.files("recsys_lib.data") / "embedded/ml-latest-small/ratings.csv"
    with resources.as_file(path) as csv:
        ratings = pd.read_csv(csv, usecols=["userId", "movieId", "rating"])
    ratings = ratings.rename(columns={"userId": "user_id", "movieId": "item_id"}).astype(
        {"user_id": np.int32, "item_id": np.int32, "rating": np.float32}
    )
    held_out = np.random.default_rng(42).random(len(ratings)) < 0.2
    return Interactions.from_ratings(ratings[~held_out]), ratings[held_out]


@pytest.mark.slow
def test_models_beat_their_yardsticks_on_ml_latest_small(
    embedded_split: tuple[Interactions, pd.DataFrame],
) -> None:
    train, test = embedded_split
    baseline = evaluate_ratings(BiasBaseline().fit(train), test)
    for model in (SVD(), ItemKNN()):
        result = evaluate_ratings(model.fit(train), test)
        assert result["rmse"] < baseline["rmse"] - 0.005, type(model).__name__
        assert result["n_unknown_pairs"] == baseline["n_unknown_pairs"] > 0
    als = evaluate_ranking(ALS().fit(train), train, test)
    popularity = evaluate_ranking(Popularity().fit(train), train, test)
    assert als["ndcg@10"] > popularity["ndcg@10"]
    assert als["precision@10"] > popularity["precision@10"]
    assert als["n_users_evaluated"] == popularity["n_users_evaluated"] > 500
