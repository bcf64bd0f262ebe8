"""Blend: no worse than its best member on a held-out split, its formulas, its members."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data import split_ratings, synthetic_ratings
from recsys_lib.data.interactions import Interactions
from recsys_lib.evaluation import evaluate_ranking, evaluate_ratings
from recsys_lib.models import SVD, BiasBaseline, Blend, ItemKNN, Popularity
from recsys_lib.models.blend import normalised_scores


@pytest.fixture(scope="module")
def split():
    return split_ratings(synthetic_ratings(1_500, 600, 30_000, seed=3), seed=3)


def _members(seed: int = 0) -> dict:
    return {
        "baseline": BiasBaseline(),
        "svd": SVD(n_components=8, seed=seed),
        "knn": ItemKNN(n_neighbors=20),
        "popularity": Popularity(),
    }


def test_blend_rmse_is_at_most_its_best_member_on_a_held_out_split(split) -> None:
    train = Interactions.from_ratings(split.train)
    blend = Blend(_members()).fit(train, seed=1)
    blend_rmse = evaluate_ratings(blend, split.test)["rmse"]
    member_rmse = {name: evaluate_ratings(model, split.test)["rmse"]
                   for name, model in blend.members.items() if model.predicts_ratings}
    assert blend_rmse <= min(member_rmse.values()), (blend_rmse, member_rmse)
    assert set(member_rmse) == {"baseline", "svd", "knn"}  # popularity ranks only
    # the members were refit on all the training data
    assert all(model.train_ is train for model in blend.members.values())


def test_ranking_blend_is_at_least_its_weakest_member_and_weights_are_learned(split) -> None:
    train = Interactions.from_ratings(split.train)
    blend = Blend(_members()).fit(train)
    ndcg = evaluate_ranking(blend, train, split.test)["ndcg@10"]
    members = [evaluate_ranking(m, train, split.test)["ndcg@10"] for m in blend.members.values()]
    assert ndcg >= min(members)
    assert blend.ranking_weights_.shape == (4,) and blend.ranking_weights_.any()
    assert "ranking = (baseline" in blend.describe()


def test_predictions_and_scores_follow_the_learned_weights(split) -> None:
    train = Interactions.from_ratings(split.train)
    blend = Blend(_members()).fit(train)
    users, items = split.test["user_id"].to_numpy()[:50], split.test["item_id"].to_numpy()[:50]
    rating_members = [blend.members[name] for name in ("baseline", "svd", "knn")]
    expected = blend.intercept_ + sum(
        w * m.predict(users, items) for w, m in zip(blend.rating_weights_, rating_members,
                                                    strict=True)
    )
    expected = np.clip(expected, train.user_items.data.min(), train.user_items.data.max())
    np.testing.assert_allclose(blend.predict(users, items), expected, atol=1e-5)
    rows = np.arange(5)
    scores = sum(w * normalised_scores(m._score(rows))
                 for w, m in zip(blend.ranking_weights_, blend.members.values(), strict=True))
    np.testing.assert_allclose(blend._score(rows), scores, atol=1e-5)


def test_normalised_scores_standardise_each_row() -> None:
    scores = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]], dtype=np.float32)
    z = normalised_scores(scores)
    np.testing.assert_allclose(z[0], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)], atol=1e-6)
    np.testing.assert_array_equal(z[1], [0.0, 0.0, 0.0])


def test_a_ranking_only_blend_does_not_predict_ratings(tiny_ratings: pd.DataFrame) -> None:
    blend = Blend({"popularity": Popularity()}).fit(Interactions.from_ratings(tiny_ratings))
    assert not blend.predicts_ratings
    with pytest.raises(TypeError, match="does not predict ratings"):
        blend.predict(np.array([1]), np.array([1]))


def test_default_members_and_specs_round_trip() -> None:
    blend = Blend()
    assert list(blend.members) == ["baseline", "svd", "knn", "ease"]
    again = Blend(**blend.get_params())
    assert again.get_params() == blend.get_params()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({}, "at least one"),
        ({"x": {"class": "NoSuchModel", "params": {}}}, "'NoSuchModel' is not a model"),
        ({"x": {"class": "SVD"}}, "must be a model or"),
        ({"x": {"class": "SVD", "params": {"n_components": 0}}}, "n_components"),
    ],
)
def test_bad_members_are_named(members: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Blend(members)


def test_a_fitted_member_is_refused(tiny_ratings: pd.DataFrame) -> None:
    fitted = BiasBaseline().fit(Interactions.from_ratings(tiny_ratings))
    with pytest.raises(ValueError, match="'baseline' is already fitted"):
        Blend({"baseline": fitted})
