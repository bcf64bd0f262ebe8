"""UserKNN: ItemKNN's formula with users and items swapped, checked pair by pair against
a dense brute force; never worse than its baseline; saved and loaded unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_lib.data import load_ratings, split_ratings, synthetic_ratings
from recsys_lib.data.interactions import Interactions
from recsys_lib.evaluation import evaluate_ratings
from recsys_lib.models import (
    BiasBaseline,
    ItemKNN,
    UserKNN,
    has_item_similarity,
    load_model,
    similar_items,
)
from tests.test_models_knn import (
    _brute_force_predictions,
    _brute_force_similarity,
    _frame,
    _random_residuals,
)


def test_user_similarities_are_the_shrunk_correlations_over_co_rated_items() -> None:
    train = _frame(_random_residuals(12, 15, 0.4, seed=5))
    model = UserKNN(n_neighbors=3, n_candidates=11, shrinkage=2.0).fit(train)
    residuals = model.biases_.residuals(train.user_items)
    expected = _brute_force_similarity(residuals.T.tocsr(), shrinkage=2.0)
    similarity = model.neighbors_.toarray()
    assert similarity.shape == (train.n_users, train.n_users)
    np.testing.assert_allclose(similarity, np.where(expected > 0, expected, 0.0), atol=1e-5)


def test_predictions_use_the_k_most_similar_users_who_rated_the_item() -> None:
    train = _frame(_random_residuals(14, 12, 0.4, seed=6))
    model = UserKNN(n_neighbors=3, shrinkage=2.0, damping=0.5, n_candidates=8).fit(train)
    expected = _brute_force_predictions(model, train, k=3, damping=0.5, amplification=2.0,
                                        user_based=True)
    ratings = train.user_items.toarray()
    biases = model.biases_
    users = np.repeat(train.user_ids, train.n_items)
    items = np.tile(train.item_ids, train.n_users)
    predicted = model.predict(users, items).reshape(ratings.shape)
    np.testing.assert_allclose(predicted, expected, atol=1e-5)
    # an unknown user or item gets the baseline's prediction
    unknown = model.predict(np.array([-99, train.user_ids[0]]), np.array([train.item_ids[0], -7]))
    np.testing.assert_allclose(unknown, model.biases_.clip(np.array(
        [biases.mean + biases.item[0], biases.mean + biases.user[0]], dtype=np.float32)),
        atol=1e-6)


def test_ranking_scores_are_the_neighbours_similarity_weighted_ratings() -> None:
    train = _frame(_random_residuals(12, 15, 0.4, seed=7))
    model = UserKNN(n_neighbors=4, n_candidates=4, shrinkage=1.0).fit(train)
    expected = model.neighbors_.toarray() @ train.user_items.toarray()
    items, scores = model.recommend(train.user_ids, k=3)
    columns = train.item_index(items)
    np.testing.assert_allclose(scores, np.take_along_axis(expected, columns, axis=1), rtol=1e-5)


def test_saved_and_loaded_predicts_the_same(tmp_path) -> None:
    train = _frame(_random_residuals(14, 12, 0.4, seed=8))
    model = UserKNN(n_neighbors=3, n_candidates=5).fit(train)
    path = model.save(tmp_path / "user_knn")
    loaded = load_model(path)
    assert isinstance(loaded, UserKNN)
    users = np.repeat(train.user_ids, train.n_items)
    items = np.tile(train.item_ids, train.n_users)
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))


def test_user_neighbours_are_not_offered_as_item_similarities() -> None:
    train = _frame(_random_residuals(12, 12, 0.5, seed=9))  # square: shapes alone cannot tell
    model = UserKNN(n_neighbors=3, n_candidates=5).fit(train)
    assert not has_item_similarity(model)
    assert has_item_similarity(ItemKNN(n_neighbors=3, n_candidates=5).fit(train))
    with pytest.raises(TypeError, match="ItemKNN"):
        similar_items(model, train.item_ids[:2])


@pytest.mark.parametrize("seed", [1, 2])
def test_never_worse_than_the_baseline_on_a_sparse_sample(seed: int) -> None:
    # 12,000 ratings of 2,000 users on 3,000 items: most user pairs share one item or none
    ratings = synthetic_ratings(2_000, 3_000, 12_000, seed=seed)
    split = split_ratings(ratings, seed=seed)
    train = Interactions.from_ratings(split.train)
    knn_rmse = evaluate_ratings(UserKNN().fit(train), split.test)["rmse"]
    assert knn_rmse <= evaluate_ratings(BiasBaseline().fit(train), split.test)["rmse"]


@pytest.mark.slow
def test_beats_the_baseline_on_the_embedded_data() -> None:
    split = split_ratings(load_ratings(), seed=42)
    train = Interactions.from_ratings(split.train)
    knn_rmse = evaluate_ratings(UserKNN().fit(train), split.test)["rmse"]
    base_rmse = evaluate_ratings(BiasBaseline().fit(train), split.test)["rmse"]
    assert knn_rmse < base_rmse - 0.015  # measured 0.8492 vs 0.8717


def test_memory_estimate_is_item_knns_with_users_and_items_swapped() -> None:
    assert UserKNN.estimate_fit_bytes(610, 9_724, 80_000) == ItemKNN.estimate_fit_bytes(
        9_724, 610, 80_000
    )
    assert UserKNN.estimate_fit_bytes(610, 9_724, 80_000) != ItemKNN.estimate_fit_bytes(
        610, 9_724, 80_000
    )
