"""BiasBaseline and the Biases it fits: hand-computed values on a 3x3 example."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import recsys_lib.models.baseline as baseline
from recsys_lib.data.interactions import Interactions
from recsys_lib.models import BiasBaseline
from recsys_lib.models.baseline import Biases

# users 1..3 x items 10, 20, 30; mean 3.0
RATINGS = pd.DataFrame(
    {
        "user_id": np.array([1, 1, 2, 2, 3, 3], dtype=np.int32),
        "item_id": np.array([10, 20, 10, 30, 20, 30], dtype=np.int32),
        "rating": np.array([5.0, 3.0, 4.0, 1.0, 2.0, 3.0], dtype=np.float32),
    }
)


@pytest.fixture
def train() -> Interactions:
    return Interactions.from_ratings(RATINGS)


def test_one_pass_biases_match_hand_computation(train: Interactions) -> None:
    model = BiasBaseline(reg_items=1.0, reg_users=2.0, n_iterations=1).fit(train)
    biases = model.biases_
    # item bias: sum(r - 3) / (n_i + 1): item 10: (2 + 1) / 3; 20: (0 - 1) / 3; 30: (-2 + 0) / 3
    np.testing.assert_allclose(biases.item, [1.0, -1 / 3, -2 / 3], atol=1e-6)
    # user bias: sum(r - 3 - b_i) / (n_u + 2): user 1: (1 + 1/3) / 4; 2: (0 - 4/3) / 4;
    # 3: (-2/3 + 2/3) / 4
    np.testing.assert_allclose(biases.user, [1 / 3, -1 / 3, 0.0], atol=1e-6)
    assert biases.mean == pytest.approx(3.0)
    assert biases.user.dtype == biases.item.dtype == np.float32

    predicted = model.predict(np.array([1, 1, 99, 99]), np.array([30, 10, 10, 77]))
    np.testing.assert_allclose(predicted, [3 + 1 / 3 - 2 / 3, 3 + 1 / 3 + 1, 4.0, 3.0], atol=1e-6)
    assert model.fallback_counts == {"predict_unknown_user": 2, "predict_unknown_item": 1}


def test_many_alternations_reach_the_joint_fixed_point(train: Interactions) -> None:
    biases = BiasBaseline(reg_items=1.0, reg_users=2.0, n_iterations=200).fit(train).biases_
    dense = train.user_items.toarray()
    rated = dense > 0
    residual = np.where(rated, dense - biases.mean, 0.0)
    item = (residual - biases.user[:, None] * rated).sum(0) / (rated.sum(0) + 1.0)
    user = (residual - biases.item[None, :] * rated).sum(1) / (rated.sum(1) + 2.0)
    np.testing.assert_allclose(biases.item, item, atol=1e-5)
    np.testing.assert_allclose(biases.user, user, atol=1e-5)


def test_predictions_are_clipped_to_the_training_range() -> None:
    biases = Biases(mean=4.0, user=np.float32([1.5]), item=np.float32([-4.0]), low=1.0, high=5.0)
    raw = biases.predict(np.array([0, 0, -1]), np.array([-1, 0, 0]))
    np.testing.assert_allclose(raw, [5.5, 1.5, 0.0])
    np.testing.assert_allclose(biases.clip(raw), [5.0, 1.5, 1.0])


def test_residuals_subtract_the_baseline_on_stored_entries(train: Interactions) -> None:
    biases = BiasBaseline(n_iterations=2).fit(train).biases_
    residuals = biases.residuals(train.user_items)
    coo = train.user_items.tocoo()
    expected = coo.data - (biases.mean + biases.user[coo.row] + biases.item[coo.col])
    np.testing.assert_allclose(residuals.tocoo().data, expected, atol=1e-6)
    assert residuals.dtype == np.float32 and residuals.nnz == train.nnz


def test_residuals_of_selected_rows_and_of_items_by_row_match_the_whole(
    train: Interactions,
) -> None:
    biases = BiasBaseline(n_iterations=2).fit(train).biases_
    whole = biases.residuals(train.user_items).toarray()
    rows = np.array([2, 0, 2])  # a repeat, out of order
    selected = biases.residuals(train.user_items[rows], rows)
    np.testing.assert_array_equal(selected.toarray(), whole[rows])
    item_users = train.user_items.T.tocsr()
    np.testing.assert_array_equal(biases.residuals(item_users, by_item=True).toarray(), whole.T)
    items = np.array([1, 0])
    by_item = biases.residuals(item_users[items], items, by_item=True)
    np.testing.assert_array_equal(by_item.toarray(), whole.T[items])


def test_ranks_unseen_items_by_item_bias(train: Interactions) -> None:
    model = BiasBaseline(reg_items=1.0, reg_users=2.0, n_iterations=1).fit(train)
    items, scores = model.recommend(np.array([3]), k=1)  # user 3 saw items 20 and 30
    assert items.tolist() == [[10]]
    assert scores[0, 0] == pytest.approx(3.0 + 0.0 + 1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_iterations": 0}, "n_iterations"), ({"reg_items": -1.0}, "regularisation")],
)
def test_bad_parameters_are_named(train: Interactions, kwargs: dict, message: str) -> None:
    model = BiasBaseline(**kwargs)
    with pytest.raises(ValueError, match=message):
        model.fit(train)
    assert model.train_ is None  # a failed fit leaves the model unfitted


def test_biases_by_spans_of_rows_are_the_one_pass_biases(monkeypatch) -> None:
    rng = np.random.default_rng(8)
    dense = np.where(rng.random((40, 30)) < 0.3, rng.integers(1, 11, (40, 30)) / 2, 0.0)
    dense[[3, 17]] = 0.0  # users without a rating (an id map of more users)
    matrix = sp.csr_matrix(dense.astype(np.float32))
    whole = baseline.Biases.fit(matrix)
    monkeypatch.setattr(baseline, "_SPAN_RATINGS", 7)  # spans of a row or two
    spans = baseline.row_spans(np.diff(matrix.indptr), 7)
    assert len(spans) > 10 and spans[0][0] == 0 and spans[-1][1] == matrix.shape[0]
    assert all(a[1] == b[0] for a, b in pairwise(spans))
    chunked = baseline.Biases.fit(matrix)
    np.testing.assert_array_equal(chunked.user, whole.user)
    np.testing.assert_array_equal(chunked.item, whole.item)
    assert chunked.user[3] == chunked.user[17] == 0.0
    # the damped alternating means, computed from their definition
    mean = dense[dense > 0].mean()
    user = np.zeros(40)
    rated = dense > 0
    for _ in range(baseline.DEFAULT_BIAS_ITERATIONS):
        item = ((dense - mean - user[:, None]) * rated).sum(0) / (rated.sum(0) + 10.0)
        user = ((dense - mean - item[None, :]) * rated).sum(1) / (rated.sum(1) + 15.0)
    np.testing.assert_allclose(whole.user, user, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole.item, item, rtol=1e-5, atol=1e-6)
