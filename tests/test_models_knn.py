"""ItemKNN: the blocked top-k similarity against brute-force dense cosine, and its formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import recsys_lib.models.knn as knn
from recsys_lib.data.interactions import Interactions
from recsys_lib.models import ItemKNN
from recsys_lib.models.knn import item_neighbors


def _random_ratings(n_users: int, n_items: int, density: float, seed: int) -> sp.csr_matrix:
    """Continuous ratings in [0.5, 5] (no tied similarities), every item rated."""
    rng = np.random.default_rng(seed)
    shape = (n_users, n_items)
    dense = np.where(rng.random(shape) < density, rng.uniform(0.5, 5, shape), 0)
    dense[rng.integers(0, n_users, n_items), np.arange(n_items)] = 3.0
    return sp.csr_matrix(dense.astype(np.float32))


def _brute_force_cosine(matrix: sp.csr_matrix) -> np.ndarray:
    dense = matrix.toarray().astype(np.float64)
    unit = dense / np.linalg.norm(dense, axis=0)
    similarity = unit.T @ unit
    np.fill_diagonal(similarity, 0.0)
    return similarity


def _train_frame(matrix: sp.csr_matrix) -> Interactions:
    coo = matrix.tocoo()
    frame = pd.DataFrame(
        {"user_id": coo.row.astype(np.int32) + 1, "item_id": coo.col.astype(np.int32) * 2 + 5,
         "rating": coo.data.astype(np.float32)}
    )
    return Interactions.from_ratings(frame)


def test_all_neighbours_equal_dense_cosine() -> None:
    matrix = _random_ratings(12, 10, 0.5, seed=0)
    neighbors = item_neighbors(matrix, n_neighbors=9)
    assert neighbors.dtype == np.float32 and neighbors.shape == (10, 10)
    np.testing.assert_allclose(neighbors.toarray(), _brute_force_cosine(matrix), atol=1e-6)


def test_top_k_neighbours_are_the_k_most_similar() -> None:
    matrix = _random_ratings(12, 10, 0.5, seed=1)
    similarity = _brute_force_cosine(matrix)
    neighbors = item_neighbors(matrix, n_neighbors=3).toarray()
    for item in range(10):
        expected = np.argsort(-similarity[item], kind="stable")[:3]
        assert set(np.flatnonzero(neighbors[item])) == set(expected)
        np.testing.assert_allclose(neighbors[item, expected], similarity[item, expected], atol=1e-6)


def test_ties_go_to_the_lower_item_and_unrelated_items_are_never_neighbours() -> None:
    # items 1, 2 and 3 have identical columns; item 4 shares no user with items 0..3
    dense = np.array(
        [[5, 4, 4, 4, 0], [3, 2, 2, 2, 0], [0, 0, 0, 0, 1]], dtype=np.float32
    )
    neighbors = item_neighbors(sp.csr_matrix(dense), n_neighbors=2).toarray()
    assert np.flatnonzero(neighbors[0]).tolist() == [1, 2]
    assert np.flatnonzero(neighbors[3]).tolist() == [1, 2]
    assert np.flatnonzero(neighbors[4]).tolist() == []  # no item shares a user with it


@pytest.mark.parametrize(("block_size", "n_jobs"), [(1, 1), (3, 2), (7, 2), (None, 1)])
def test_block_size_and_threads_do_not_change_the_result(
    block_size: int | None, n_jobs: int
) -> None:
    matrix = _random_ratings(50, 40, 0.2, seed=2)
    reference = item_neighbors(matrix, n_neighbors=5, block_size=40, n_jobs=1)
    result = item_neighbors(matrix, n_neighbors=5, block_size=block_size, n_jobs=n_jobs)
    np.testing.assert_array_equal(result.indptr, reference.indptr)
    np.testing.assert_array_equal(result.indices, reference.indices)
    np.testing.assert_array_equal(result.data, reference.data)


def test_predictions_follow_the_baseline_adjusted_weighted_average(monkeypatch) -> None:
    train = _train_frame(_random_ratings(15, 12, 0.4, seed=3))
    model = ItemKNN(n_neighbors=4, shrinkage=0.5).fit(train)
    similarity = model.neighbors_.toarray()
    ratings = train.user_items.toarray()
    biases = model.biases_
    baseline = biases.mean + biases.user[:, None] + biases.item[None, :]
    expected = np.empty_like(ratings)
    for user in range(train.n_users):
        rated = ratings[user] > 0
        for item in range(train.n_items):
            weights = similarity[item] * rated
            term = weights @ (ratings[user] - baseline[user]) / (np.abs(weights).sum() + 0.5)
            expected[user, item] = baseline[user, item] + term
    expected = np.clip(expected, biases.low, biases.high)
    users = np.repeat(train.user_ids, train.n_items)
    items = np.tile(train.item_ids, train.n_users)
    predicted = model.predict(users, items).reshape(ratings.shape)
    np.testing.assert_allclose(predicted, expected, atol=1e-5)

    monkeypatch.setattr(knn, "_CHUNK_NNZ", 7)  # many small chunks give the same answer
    chunked = ItemKNN(n_neighbors=4, shrinkage=0.5).fit(train).predict(users, items)
    np.testing.assert_allclose(chunked.reshape(ratings.shape), expected, atol=1e-5)


def test_ranking_scores_are_ratings_times_similarity() -> None:
    train = _train_frame(_random_ratings(15, 12, 0.4, seed=4))
    model = ItemKNN(n_neighbors=4).fit(train)
    expected = train.user_items.toarray() @ model.neighbors_.toarray().T
    items, scores = model.recommend(train.user_ids, k=3)
    columns = train.item_index(items)
    np.testing.assert_allclose(scores, np.take_along_axis(expected, columns, axis=1), rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"n_neighbors": 0}, "n_neighbors"), ({"shrinkage": -1}, "shrinkage")]
)
def test_bad_parameters_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ItemKNN(**kwargs)
