"""similar_items: nearest items from neighbours, factors or an item-item weight matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data import Interactions
from recsys_lib.models import ALS, SVD, ItemKNN, Popularity, has_item_similarity, similar_items


def two_blocks(seed: int = 0) -> Interactions:
    """Users 1-30 rate items 1-10, users 31-60 items 11-20 (80% of each block, seeded)."""
    rng = np.random.default_rng(seed)
    rows = [(user, item, float(rng.integers(1, 6)))
            for user in range(1, 61) for item in range(1, 21)
            if (user <= 30) == (item <= 10) and rng.random() < 0.8]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    return Interactions.from_ratings(frame.astype({"user_id": "int32", "item_id": "int32",
                                                   "rating": "float32"}))


def two_tastes(seed: int = 0) -> Interactions:
    """Users 1-30 rate items 1-10 high and 11-20 low, users 31-60 the reverse (80% of the
    pairs rated, seeded): what rating residuals (SVD, ItemKNN) separate."""
    rng = np.random.default_rng(seed)
    rows = [(user, item, 4.5 if (user <= 30) == (item <= 10) else 1.5)
            for user in range(1, 61) for item in range(1, 21) if rng.random() < 0.8]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    return Interactions.from_ratings(frame.astype({"user_id": "int32", "item_id": "int32",
                                                   "rating": "float32"}))


@pytest.mark.parametrize(
    ("model", "data"),
    [(ItemKNN(n_neighbors=5), two_tastes), (SVD(n_components=2, seed=1), two_tastes),
     (ALS(factors=4, iterations=5, seed=1), two_blocks)],
    ids=["ItemKNN", "SVD", "ALS"],
)
def test_the_nearest_items_are_in_the_same_block(model, data):
    model.fit(data())
    items, scores = similar_items(model, np.array([1, 15]), k=5)
    assert items.shape == (2, 5) and items.dtype == np.int32
    assert set(items[0]) <= set(range(2, 11))  # block A, never item 1 itself
    assert set(items[1]) <= set(range(11, 21)) - {15}
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # most similar first


def test_factor_similarity_is_the_cosine_by_hand():
    model = SVD(n_components=2).fit(two_blocks())
    model.item_factors_ = np.zeros_like(model.item_factors_)
    model.item_factors_[:3] = [[1, 0], [1, 1], [0, 1]]  # items 1, 2, 3
    items, scores = similar_items(model, np.array([1]), k=2)
    assert items[0].tolist() == [2, 3]
    np.testing.assert_allclose(scores[0], [1 / np.sqrt(2), 0.0], atol=1e-6)


def test_a_weight_matrix_over_kept_items_is_read_through_kept():
    model = Popularity().fit(two_blocks())
    model.kept_ = np.array([0, 4, 9])  # columns of items 1, 5, 10
    weights = np.array([[0, 0.2, 0.7], [0.1, 0, 0.3], [0.5, 0.4, 0]], dtype=np.float32)
    model.weight_rows = lambda positions: weights[positions]
    items, scores = similar_items(model, np.array([1]), k=3)
    assert items[0].tolist() == [10, 5, -1]
    np.testing.assert_allclose(scores[0][:2], [0.7, 0.2])
    with pytest.raises(ValueError, match="most-rated items"):
        similar_items(model, np.array([2]))


def test_a_model_without_item_similarities_is_refused():
    model = Popularity().fit(two_blocks())
    assert not has_item_similarity(model)
    with pytest.raises(TypeError, match="Popularity has no item similarities"):
        similar_items(model, np.array([1]))


def test_an_unknown_item_is_named():
    model = ItemKNN(n_neighbors=3).fit(two_blocks())
    with pytest.raises(ValueError, match=r"item id\(s\) \[999\] are not in ItemKNN"):
        similar_items(model, np.array([1, 999]))
