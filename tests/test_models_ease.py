"""EASE: weights against a float64 closed form computed here, the item cap, save/load."""

from __future__ import annotations

import itertools
import logging
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import recsys_lib.models.ease as ease_module
from recsys_lib.data import synthetic_ratings
from recsys_lib.data.interactions import Interactions
from recsys_lib.models import EASE, Recommender
from recsys_lib.models.ease import uses_woodbury

# 5 users x 4 items; item rating counts 4, 2, 3, 1 (item 40 is the least rated)
RATED = np.array(
    [[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=bool
)
ITEM_IDS = np.array([10, 20, 30, 40], dtype=np.int32)


@pytest.fixture
def train() -> Interactions:
    users, items = np.nonzero(RATED)
    stars = np.array([4.0, 2.5, 5.0, 3.0, 1.0, 4.5, 2.0, 3.5, 5.0, 0.5], dtype=np.float32)
    return Interactions.from_ratings(
        pd.DataFrame({"user_id": users + 1, "item_id": ITEM_IDS[items], "rating": stars})
    )


def _weights(model: EASE) -> np.ndarray:
    """B over the kept items, from its rows."""
    return model.weight_rows(np.arange(model.n_items_kept_))


def _closed_form(x: np.ndarray, lam: float) -> np.ndarray:
    """B = I - P / diag(P), P = (X^T X + lam I)^-1, in float64."""
    x = x.astype(np.float64)
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    return np.eye(x.shape[1]) - p / np.diag(p)[None, :]


def test_weights_and_scores_match_the_closed_form(train: Interactions) -> None:
    model = EASE(lam=0.7).fit(train)  # ratings are ignored: X is binary
    expected = _closed_form(RATED, 0.7)
    assert model.weights_.dtype == np.float32
    np.testing.assert_allclose(model.weights_, expected, atol=1e-6)
    assert np.all(np.diag(model.weights_) == 0)
    # user 4 rated items 30 and 40; unseen 10 and 20 ranked by X_u @ B
    items, scores = model.recommend(np.array([4]), k=2)
    user_scores = RATED[3].astype(np.float64) @ expected
    order = np.argsort(-user_scores[[0, 1]])
    np.testing.assert_array_equal(items[0], ITEM_IDS[[0, 1]][order])
    np.testing.assert_allclose(scores[0], user_scores[[0, 1]][order], rtol=1e-5)
    assert model.n_items_kept_ == 4 and model.rating_share_kept_ == 1.0
    assert "4 of 4 items modelled, holding 100.0%" in model.summary()


def test_gram_rows_in_groups_and_blocks_on_two_cores_match_the_closed_form(monkeypatch) -> None:
    monkeypatch.setattr(ease_module, "available_cores", lambda: 2)
    rated = np.random.default_rng(4).random((400, 120)) < 0.1
    x = sp.csr_matrix(rated.astype(np.float32))
    # 8 row groups of 15 rows against their own columns, in one-row blocks (4+ per core)
    weights = ease_module.ease_weights(x, 5.0)
    np.testing.assert_allclose(weights, _closed_form(rated, 5.0), atol=2e-5)
    assert np.all(np.diag(weights) == 0)
    np.testing.assert_array_equal(ease_module.ease_weights(x.tocsc(), 5.0), weights)


def test_a_csc_matrix_is_transposed_without_a_copy_of_its_own() -> None:
    # 3,000 users x 300 items, 90,000 ratings: B is 0.36 MB, a copy of X^T 0.7 MB
    rated = np.random.default_rng(5).random((3_000, 300)) < 0.1
    x = sp.csr_matrix(rated.astype(np.float32))
    copy_bytes = x.data.nbytes + x.indices.nbytes
    peaks = {}
    for matrix in (x, x.tocsc()):
        ease_module.ease_weights(matrix, 5.0)  # first-call allocations of the libraries
        tracemalloc.start()
        try:
            ease_module.ease_weights(matrix, 5.0)
            peaks[matrix.format] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks["csr"] - peaks["csc"] > 0.8 * copy_bytes, (peaks, copy_bytes)


def test_max_items_keeps_the_most_rated_items_and_ranks_the_rest_after_them(
    train: Interactions,
) -> None:
    model = EASE(lam=0.7, max_items=2).fit(train)
    np.testing.assert_array_equal(model.kept_, [0, 2])  # 4 and 3 ratings
    np.testing.assert_allclose(model.weights_, _closed_form(RATED[:, [0, 2]], 0.7), atol=1e-6)
    assert model.rating_share_kept_ == pytest.approx(7 / 10)
    assert model.summary() == (
        "EASE(lambda=0.7): 2 of 4 items modelled, capped by max_items=2, "
        "holding 70.0% of the training ratings"
    )
    # user 5 saw only item 10: kept item 30 first, then the dropped ones by rating count
    items, scores = model.recommend(np.array([5]), k=3)
    np.testing.assert_array_equal(items[0], [30, 20, 40])
    assert np.isfinite(scores).all() and (np.diff(scores[0]) < 0).all()
    # user 4 saw 30 and 40: the dropped item 20 comes after the kept item 10 even though
    # its EASE score would not be computed at all
    items, _ = model.recommend(np.array([4]), k=2)
    np.testing.assert_array_equal(items[0], [10, 20])
    # with a dense B the scored users' kept columns are built per batch, not held
    scores = model._kept_scores(np.arange(train.n_users))
    np.testing.assert_allclose(scores, RATED[:, [0, 2]] @ model.weights_, rtol=1e-6)
    assert model._kept_interactions is None


def test_memory_budget_caps_the_items_to_what_fits(train: Interactions) -> None:
    n_users, nnz = train.n_users, train.nnz
    two_items = EASE.estimate_fit_bytes(n_users, 2, nnz, max_items=None)
    three_items = EASE.estimate_fit_bytes(n_users, 3, nnz, max_items=None)
    budget_mb = (two_items + three_items) / 2 / 2**20
    assert EASE.max_items_fitting(n_users, nnz, int(budget_mb * 2**20)) == 2
    model = EASE(lam=0.7, memory_budget_mb=budget_mb).fit(train)
    assert model.n_items_kept_ == 2
    assert "capped by a memory budget of" in model.summary()


def test_estimate_counts_one_float32_items_squared_array() -> None:
    small = EASE.estimate_fit_bytes(5_000, 1_000, 10_000, max_items=None)
    large = EASE.estimate_fit_bytes(5_000, 3_000, 10_000, max_items=None)
    assert large - small == 4 * (3_000**2 - 1_000**2) + 4 * 2_000  # + the column pointers
    assert EASE(max_items=1_000).estimate_fit_bytes(5_000, 3_000, 10_000) == small


def test_estimate_with_fewer_users_than_items_counts_woodbury_arrays_not_items_squared():
    small = EASE.estimate_fit_bytes(100, 1_000, 10_000, max_items=None)
    large = EASE.estimate_fit_bytes(100, 3_000, 10_000, max_items=None)
    # S's float32 column per item, + the column pointers
    assert large - small == 2_000 * (4 * 100 + 4)
    fixed = small - 1_000 * (4 * 100 + 4)
    # the float32 users x users inverse beside S
    assert fixed - EASE.estimate_fit_bytes(100, 0, 10_000, max_items=None) == 4 * 100**2
    assert EASE.max_items_fitting(100, 10_000, large) == 3_000
    assert EASE.max_items_fitting(100, 10_000, large - 1) == 2_999


def test_far_fewer_users_than_items_match_the_closed_form() -> None:
    # 4 users x 13 items (13 of the 15 non-empty columns; user 1's top unrated items
    # 9% apart): the weights come from the users x users inverse (Woodbury)
    columns = [bits for bits in itertools.product([0, 1], repeat=4) if any(bits)]
    rated = np.array([c for i, c in enumerate(columns) if i not in (4, 8)], dtype=bool).T
    assert uses_woodbury(4, 13)
    users, items = np.nonzero(rated)
    train = Interactions.from_ratings(pd.DataFrame(
        {"user_id": users + 1, "item_id": items + 1, "rating": np.full(len(users), 4.0)}
    ))
    for lam in (0.7, 500.0):
        model = EASE(lam=lam).fit(train)
        assert model.weights_ is None and model.solved_.shape == (4, 13)  # no 13 x 13 array
        expected = _closed_form(rated, lam)
        weights = _weights(model)
        assert weights.dtype == np.float32 and np.all(np.diag(weights) == 0)
        np.testing.assert_allclose(weights, expected, atol=1e-6 * np.abs(expected).max())
        # user 1's unrated items ranked by X_u @ B
        items, scores = model.recommend(np.array([1]), k=3)
        user_scores = rated[0].astype(np.float64) @ expected
        unrated = np.flatnonzero(~rated[0])
        order = unrated[np.argsort(-user_scores[unrated], kind="stable")][:3]
        np.testing.assert_array_equal(items[0], order + 1)
        np.testing.assert_allclose(scores[0], user_scores[order], rtol=1e-4, atol=1e-7)


def test_woodbury_factors_take_the_inverse_and_s_at_most(monkeypatch) -> None:
    # 400 users x 3,545 items: the float32 inverse (0.6 MB) and S (5.7 MB), and no second
    # users x items array (the two that were held at once took this fit to 12.1 MB)
    import scipy.linalg.lapack  # noqa: F401  (its import is not the fit's memory)

    monkeypatch.setattr("recsys_lib.models.row_chunks.CHUNK_CELLS", 30_000)
    matrix = Interactions.from_ratings(synthetic_ratings(400, 8_000, 20_000, seed=2)).user_items
    n_users, n_items = matrix.shape
    assert uses_woodbury(n_users, n_items)
    ease_module.ease_factors(matrix[:50], 50.0)  # first-call allocations of the libraries
    tracemalloc.start()
    try:
        solved, _ = ease_module.ease_factors(matrix, 50.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert solved.shape == (n_users, n_items) and solved.flags.c_contiguous
    planned = ease_module._woodbury_bytes(n_users, n_items)
    assert planned == 4 * n_users**2 + 4 * n_users * n_items
    # beyond the plan: the binary copies of the matrix, g's per-rating gather and two
    # chunks' products
    assert peak <= planned + 5 * 8 * matrix.nnz + 2 * 4 * 30_000, (peak, planned)


def test_fewer_users_than_items_but_a_smaller_dense_array_stay_dense() -> None:
    # 8 users x 10 items: Woodbury's arrays (1,664 bytes) outweigh B's 400
    assert not uses_woodbury(8, 10)
    rated = np.random.default_rng(1).random((8, 10)) < 0.4
    rated[np.arange(8), np.arange(8)] = True  # every user rates something
    rated[0, 8:] = True  # and every item is rated
    users, items = np.nonzero(rated)
    train = Interactions.from_ratings(pd.DataFrame(
        {"user_id": users + 1, "item_id": items + 1, "rating": np.full(len(users), 4.0)}
    ))
    model = EASE(lam=2.0).fit(train)
    assert model.solved_ is None and model.weights_.shape == (10, 10)
    np.testing.assert_allclose(model.weights_, _closed_form(rated, 2.0), atol=1e-5)
    assert EASE.estimate_fit_bytes(8, 10, 30) == EASE.estimate_fit_bytes(10, 10, 30) - 8


def test_capped_model_round_trips(train: Interactions, tmp_path) -> None:
    model = EASE(lam=2.0, max_items=3).fit(train)
    loaded = EASE.load(model.save(tmp_path / "ease"))
    assert loaded.summary() == model.summary()
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    users = train.user_ids
    for got, expected in zip(loaded.recommend(users, 4), model.recommend(users, 4), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("n_users", [30, 900])  # Woodbury's form / a dense B
def test_saved_file_holds_the_recipe_not_the_weights_and_loads_equal(
    n_users: int, tmp_path, caplog
) -> None:
    ratings = synthetic_ratings(n_users, 400, 12 * n_users, seed=5)
    model = EASE(lam=50.0).fit(Interactions.from_ratings(ratings))
    path = model.save(tmp_path / "ease")
    train = model.train_.user_items
    matrix_bytes = train.data.nbytes + train.indices.nbytes + train.indptr.nbytes
    # the training matrix, the id maps and popularity, a few small arrays: not 4 x 400^2 bytes
    assert path.stat().st_size < matrix_bytes + 16 * 400 + 16 * n_users + 8_000
    assert path.stat().st_size < 4 * model.n_items_kept_**2 / 4
    with caplog.at_level(logging.WARNING, logger="recsys_lib.models.ease"):
        loaded = Recommender.load(path)
    assert isinstance(loaded, EASE) and not caplog.records
    assert uses_woodbury(n_users, model.n_items_kept_) == (n_users == 30)
    assert (loaded.weights_ is None) == (n_users == 30)
    np.testing.assert_array_equal(_weights(loaded), _weights(model))
    users = model.train_.user_ids
    for got, expected in zip(loaded.recommend(users, 10), model.recommend(users, 10), strict=True):
        np.testing.assert_array_equal(got, expected)


def test_a_file_saved_with_its_weights_still_loads_them(train: Interactions, tmp_path) -> None:
    model = EASE(lam=2.0).fit(train)
    model.weights_ = model.weights_ + np.float32(1.0)  # not what a refit would give
    state = model._get_state
    model._get_state = lambda: {**state(), "weights": model.weights_}
    loaded = EASE.load(model.save(tmp_path / "old"))
    np.testing.assert_array_equal(loaded.weights_, model.weights_)


def test_load_warns_when_the_recomputed_weights_differ(
    train: Interactions, tmp_path, caplog
) -> None:
    model = EASE(lam=2.0).fit(train)
    model.weights_ = model.weights_ * np.float32(2.0)  # the checksum saved is sum |2B|
    with caplog.at_level(logging.WARNING, logger="recsys_lib.models.ease"):
        loaded = EASE.load(model.save(tmp_path / "ease"))
    assert "differ from the saved fit's" in caplog.text
    np.testing.assert_allclose(loaded.weights_, model.weights_ / 2, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"lam": 0}, "lam"), ({"max_items": 0}, "max_items"), ({"memory_budget_mb": -1}, "budget")],
)
def test_bad_parameters_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EASE(**kwargs)
