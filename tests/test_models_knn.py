"""ItemKNN: the blocked shrunk residual correlations against a dense brute force, the
prediction formula, and "never worse than its baseline" on held-out splits."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import recsys_lib.models.knn as knn
import recsys_lib.progress as progress
from recsys_lib.data import load_ratings, split_ratings, synthetic_ratings
from recsys_lib.data.interactions import Interactions
from recsys_lib.evaluation import evaluate_ratings
from recsys_lib.models import BiasBaseline, ItemKNN, UserKNN
from recsys_lib.models.knn import _best_per_row, item_neighbors


def _random_residuals(n_users: int, n_items: int, density: float, seed: int) -> sp.csr_matrix:
    """Continuous residuals in [-2, 2] (no tied similarities), every item rated."""
    rng = np.random.default_rng(seed)
    shape = (n_users, n_items)
    rated = rng.random(shape) < density
    rated[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    values = rng.uniform(-2, 2, shape).astype(np.float32)
    return sp.csr_matrix((values[rated], np.nonzero(rated)), shape=shape)


def _brute_force_similarity(residuals: sp.csr_matrix, shrinkage: float,
                            min_support: int = 1) -> np.ndarray:
    """Shrunk correlation over co-raters, pair by pair, in float64."""
    errors = residuals.toarray().astype(np.float64)
    coo = residuals.tocoo()
    rated = np.zeros(residuals.shape, dtype=bool)
    rated[coo.row, coo.col] = True
    n_items = residuals.shape[1]
    similarity = np.zeros((n_items, n_items))
    for i in range(n_items):
        for j in range(n_items):
            common = rated[:, i] & rated[:, j]
            n = common.sum()
            if i == j or n < min_support:
                continue
            a, b = errors[common, i], errors[common, j]
            norm = np.sqrt((a**2).sum() * (b**2).sum())
            if norm > 0:
                similarity[i, j] = (a @ b) / norm * n / (n + shrinkage)
    return similarity


def _frame(matrix: sp.csr_matrix) -> Interactions:
    coo = matrix.tocoo()
    frame = pd.DataFrame(
        {"user_id": coo.row.astype(np.int32) + 1, "item_id": coo.col.astype(np.int32) * 2 + 5,
         "rating": np.clip(np.round(coo.data * 2 + 6) / 2, 0.5, 5).astype(np.float32)}
    )
    return Interactions.from_ratings(frame)


def _brute_force_predictions(model, train: Interactions, k: int, damping: float,
                             amplification: float, user_based: bool = False) -> np.ndarray:
    """Every (user, item) prediction of a fitted ItemKNN (or UserKNN, `user_based`), pair
    by pair from its dense neighbour similarities, clipped like the model's."""
    similarity = model.neighbors_.toarray()
    ratings = train.user_items.toarray()
    rated = ratings > 0
    biases = model.biases_
    baseline = biases.mean + biases.user[:, None] + biases.item[None, :]
    errors = np.where(rated, ratings - baseline, 0.0)
    expected = np.empty_like(ratings)
    for user in range(train.n_users):
        for item in range(train.n_items):
            if user_based:  # the most similar users who rated the item
                weights = np.where(rated[:, item], similarity[user], 0.0)
            else:  # the most similar items the user rated
                weights = np.where(rated[user], similarity[item], 0.0)
            top = np.argsort(-weights, kind="stable")[:k]
            top = top[weights[top] > 0]
            amplified = weights[top] ** amplification
            residuals = errors[top, item] if user_based else errors[user, top]
            term = amplified @ residuals / (amplified.sum() + damping)
            expected[user, item] = baseline[user, item] + term
    return np.clip(expected, biases.low, biases.high)


@pytest.mark.parametrize(("shrinkage", "min_support"), [(0.0, 1), (3.0, 1), (3.0, 4)])
def test_all_neighbours_equal_the_brute_force_similarity(shrinkage: float,
                                                         min_support: int) -> None:
    residuals = _random_residuals(14, 10, 0.5, seed=0)
    neighbors = item_neighbors(residuals, 9, shrinkage=shrinkage, min_support=min_support)
    assert neighbors.dtype == np.float32 and neighbors.shape == (10, 10)
    expected = _brute_force_similarity(residuals, shrinkage, min_support)
    np.testing.assert_allclose(neighbors.toarray(), np.maximum(expected, 0), atol=1e-6)


def test_one_co_rater_gives_a_small_similarity_not_a_perfect_one() -> None:
    # items 0 and 1 share one user (correlation 1), items 0 and 2 share five users
    errors = np.zeros((6, 3), dtype=np.float32)
    errors[0, :2] = [1.0, 1.0]
    errors[1:6, 0] = [1.0, -1.0, 0.5, 2.0, -0.5]
    errors[1:6, 2] = [0.9, -1.1, 0.4, 1.8, -0.7]
    residuals = sp.csr_matrix(errors)
    neighbors = item_neighbors(residuals, 2, shrinkage=10.0).toarray()
    assert neighbors[0, 1] == pytest.approx(1 / 11, abs=1e-6)
    assert neighbors[0, 2] > 0.9 * 5 / 15


def test_top_k_neighbours_are_the_k_most_similar() -> None:
    residuals = _random_residuals(12, 10, 0.5, seed=1)
    similarity = _brute_force_similarity(residuals, 2.0)
    neighbors = item_neighbors(residuals, 3, shrinkage=2.0).toarray()
    for item in range(10):
        expected = np.argsort(-similarity[item], kind="stable")[:3]
        expected = expected[similarity[item, expected] > 0]
        assert set(np.flatnonzero(neighbors[item])) == set(expected)
        np.testing.assert_allclose(neighbors[item, expected], similarity[item, expected],
                                   atol=1e-6)


@pytest.mark.parametrize(("block_size", "n_jobs"), [(1, 1), (3, 2), (7, 2), (None, 1)])
def test_block_size_and_threads_do_not_change_the_result(
    block_size: int | None, n_jobs: int
) -> None:
    residuals = _random_residuals(40, 50, 0.2, seed=2)
    reference = item_neighbors(residuals, 5, block_size=50, n_jobs=1, shrinkage=5.0)
    result = item_neighbors(residuals, 5, block_size=block_size, n_jobs=n_jobs, shrinkage=5.0)
    np.testing.assert_array_equal(result.indptr, reference.indptr)
    np.testing.assert_array_equal(result.indices, reference.indices)
    np.testing.assert_array_equal(result.data, reference.data)


def test_slow_similarity_work_shows_one_progress_line(monkeypatch, capsys) -> None:
    monkeypatch.setenv("RECSYS_PROGRESS", "lines")
    residuals = _random_residuals(40, 50, 0.2, seed=2)
    reference = item_neighbors(residuals, 5, block_size=7, n_jobs=2)
    assert capsys.readouterr().err == ""  # no description: no bar
    item_neighbors(residuals, 5, block_size=7, n_jobs=2, progress="ItemKNN similarities")
    assert capsys.readouterr().err == ""  # quicker than PROGRESS_DELAY_S: no line either
    monkeypatch.setattr(progress, "PROGRESS_DELAY_S", 0.0)
    result = item_neighbors(residuals, 5, block_size=7, n_jobs=2, progress="ItemKNN similarities")
    assert re.fullmatch(r"ItemKNN similarities: 8/8 blocks in \d+\.\d s\n",
                        capsys.readouterr().err)
    np.testing.assert_array_equal(result.data, reference.data)
    for model, shown in ((ItemKNN(n_neighbors=3), "ItemKNN"), (UserKNN(n_neighbors=3), "UserKNN"),
                         (ItemKNN(n_neighbors=3, show_progress=False), None)):
        model.fit(_frame(residuals))
        described = [line.split(":")[0] for line in capsys.readouterr().err.splitlines()]
        assert described == ([f"{shown} similarities"] if shown else [])


@pytest.mark.parametrize("slice_ratings", [1, 9, 40])
def test_sliced_raters_give_the_same_neighbours(slice_ratings: int, monkeypatch) -> None:
    # every block's raters' rows taken a few ratings at a time
    residuals = _random_residuals(50, 40, 0.2, seed=5)
    reference = item_neighbors(residuals, 5, block_size=1, n_jobs=1, shrinkage=5.0)
    monkeypatch.setattr(knn, "_SLICE_RATINGS", slice_ratings)
    one_thread = item_neighbors(residuals, 5, block_size=6, n_jobs=1, shrinkage=5.0)
    two_threads = item_neighbors(residuals, 5, block_size=6, n_jobs=2, shrinkage=5.0)
    np.testing.assert_array_equal(one_thread.indptr, reference.indptr)
    np.testing.assert_array_equal(one_thread.indices, reference.indices)
    np.testing.assert_allclose(one_thread.data, reference.data, rtol=1e-5)
    for part in ("indptr", "indices", "data"):  # threads never change a bit
        np.testing.assert_array_equal(getattr(two_threads, part), getattr(one_thread, part))
    expected = _brute_force_similarity(residuals, 5.0)
    rows = np.repeat(np.arange(40), np.diff(one_thread.indptr))
    np.testing.assert_allclose(one_thread.data, expected[rows, one_thread.indices], atol=1e-6)


def test_slices_bound_the_memory_of_a_block_of_popular_items(monkeypatch) -> None:
    residuals = _random_residuals(4_000, 100, 0.5, seed=6)  # 2,000 raters per item
    errors_t = residuals.T.tocsr()

    def traced_peak() -> int:
        tracemalloc.start()
        knn._rater_products(residuals, errors_t, 0, 1)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    whole = traced_peak()  # the raters' 100,000 ratings at once: 1.6 MB of slice
    monkeypatch.setattr(knn, "_SLICE_RATINGS", 5_000)
    assert traced_peak() < whole / 4


def test_rater_blocks_are_wider_where_each_item_has_less_work() -> None:
    light = knn.rater_block_size(10_000, 600, squared_ratings=600 * 5_000.0)
    heavy = knn.rater_block_size(160_000, 57_000, squared_ratings=57_000 * 120_000.0)
    assert heavy < light
    assert knn.rater_block_size(100, 50, squared_ratings=1.0) == 50  # never above n_items
    assert knn.rater_block_size(100, 50, squared_ratings=1e12) == 1
    # within the per-worker budget however light the items are
    wide = knn.rater_block_size(1_000, 400_000, squared_ratings=1.0)
    assert wide * knn._BYTES_PER_CELL * 400_000 <= knn.BLOCK_BUDGET_BYTES


@pytest.mark.parametrize("amplification", [1.0, 2.0])
def test_predictions_use_the_k_most_similar_rated_neighbours(monkeypatch, amplification) -> None:
    train = _frame(_random_residuals(15, 12, 0.4, seed=3))
    settings = {"n_neighbors": 3, "shrinkage": 2.0, "damping": 0.5, "n_candidates": 8,
                "amplification": amplification}
    model = ItemKNN(**settings).fit(train)
    expected = _brute_force_predictions(model, train, k=3, damping=0.5,
                                        amplification=amplification)
    ratings = train.user_items.toarray()
    users = np.repeat(train.user_ids, train.n_items)
    items = np.tile(train.item_ids, train.n_users)
    predicted = model.predict(users, items).reshape(ratings.shape)
    np.testing.assert_allclose(predicted, expected, atol=1e-5)

    monkeypatch.setattr(knn, "_CHUNK_NNZ", 7)  # many small chunks give the same answer
    chunked = ItemKNN(**settings).fit(train)
    np.testing.assert_allclose(chunked.predict(users, items).reshape(ratings.shape), expected,
                               atol=1e-5)


def test_ranking_scores_are_ratings_times_similarity() -> None:
    train = _frame(_random_residuals(15, 12, 0.4, seed=4))
    model = ItemKNN(n_neighbors=4, n_candidates=4, shrinkage=1.0).fit(train)
    expected = train.user_items.toarray() @ model.neighbors_.toarray().T
    items, scores = model.recommend(train.user_ids, k=3)
    columns = train.item_index(items)
    np.testing.assert_allclose(scores, np.take_along_axis(expected, columns, axis=1), rtol=1e-5)


def _rmse_pair(ratings: pd.DataFrame, seed: int) -> tuple[float, float]:
    split = split_ratings(ratings, seed=seed)
    train = Interactions.from_ratings(split.train)
    knn_rmse = evaluate_ratings(ItemKNN().fit(train), split.test)["rmse"]
    return knn_rmse, evaluate_ratings(BiasBaseline().fit(train), split.test)["rmse"]


@pytest.mark.parametrize("seed", [1, 2])
def test_never_worse_than_the_baseline_on_a_sparse_sample(seed: int) -> None:
    # 12,000 ratings of 3,000 users on 2,000 items: most item pairs have one co-rater or none
    ratings = synthetic_ratings(3_000, 2_000, 12_000, seed=seed)
    knn_rmse, base_rmse = _rmse_pair(ratings, seed)
    assert knn_rmse <= base_rmse


@pytest.mark.slow
def test_beats_the_baseline_on_the_embedded_data() -> None:
    knn_rmse, base_rmse = _rmse_pair(load_ratings(), 42)
    assert knn_rmse < base_rmse - 0.02  # measured 0.8386 vs 0.8717


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"shrinkage": -1}, "shrinkage"),
        ({"min_support": 0}, "min_support"),
        ({"damping": -0.1}, "damping"),
        ({"amplification": 0}, "amplification"),
        ({"n_neighbors": 10, "n_candidates": 5}, "n_candidates"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ItemKNN(**kwargs)


@pytest.mark.parametrize("positive_share", [0.03, 0.6])  # sorted positives; selection
def test_positive_top_k_keeps_what_top_k_keeps_of_the_positives(positive_share) -> None:
    from recsys_lib.models.scoring import top_k_numpy

    rng = np.random.default_rng(4)
    rows = np.round(rng.normal(size=(60, 300)), 1).astype(np.float32)  # many ties
    rows[rng.random(rows.shape) > positive_share] = 0
    rows[rng.random(rows.shape) < 0.2] *= -1
    rows[7] = 0  # a row with no positive entry
    for k in (1, 5, 40):
        found, columns, values = knn.positive_top_k(rows, k)
        best, best_values = top_k_numpy(rows, k)
        keep = best_values > 0
        expected = sp.csr_matrix((best_values[keep], (np.nonzero(keep)[0], best[keep])),
                                 shape=rows.shape)
        got = sp.csr_matrix((values, (found, columns)), shape=rows.shape)
        assert got.nnz == expected.nnz and (got != expected).nnz == 0
        assert got.dtype == np.float32 and found.dtype == columns.dtype == np.int32


def test_positive_top_k_sorts_every_positive_of_a_row_its_sample_misjudged() -> None:
    from recsys_lib.models.scoring import top_k_numpy

    rng = np.random.default_rng(5)
    n_columns, k = 4 * knn._SELECTION_SAMPLE, 5
    stride = n_columns // knn._SELECTION_SAMPLE
    rows = (rng.random((4, n_columns)) * 0.01).astype(np.float32)
    rows[rng.random(rows.shape) < 0.5] = 0
    # row 1's only large entries sit on sampled columns, as many as the sample's bar
    # is set by: fewer than k reach it
    sampled = np.arange(0, n_columns, stride)
    rank = -(-knn._SELECTION_SURPLUS * k * len(sampled) // n_columns)
    assert rank < k
    rows[1, rng.choice(sampled, rank, replace=False)] = 1.0
    found, columns, values = knn.positive_top_k(rows, k)
    best, best_values = top_k_numpy(rows, k)
    assert np.array_equal(found, np.repeat(np.arange(4), k))
    assert np.array_equal(columns, best.ravel()) and np.array_equal(values, best_values.ravel())


def test_capped_rows_keeps_a_seeded_subset_of_each_long_row() -> None:
    matrix = sp.random(30, 50, density=0.3, format="csr", random_state=3, dtype=np.float32)
    counts = np.diff(matrix.indptr)
    cap = int(np.median(counts))
    capped = knn.capped_rows(matrix, cap, seed=5)
    assert np.array_equal(np.diff(capped.indptr), np.minimum(counts, cap))
    for row in range(30):
        original = dict(zip(matrix[row].indices, matrix[row].data, strict=True))
        kept = dict(zip(capped[row].indices, capped[row].data, strict=True))
        assert kept.items() <= original.items()  # entries of the row, values unchanged
        if counts[row] <= cap:
            assert kept == original
    again = knn.capped_rows(matrix, cap, seed=5)
    assert (again != capped).nnz == 0 and (knn.capped_rows(matrix, cap, seed=6) != capped).nnz
    assert knn.capped_rows(matrix, int(counts.max()), seed=5) is matrix


def test_similarity_cap_computes_the_neighbours_from_each_users_capped_ratings() -> None:
    train = Interactions.from_ratings(synthetic_ratings(80, 120, 3_000, seed=4))
    capped = ItemKNN(n_neighbors=5, similarity_cap=20).fit(train)
    residuals = capped.biases_.residuals(train.user_items)
    expected = knn.item_neighbors(knn.capped_rows(residuals, 20), capped.n_candidates)
    assert (capped.neighbors_ != expected).nnz == 0
    uncapped = ItemKNN(n_neighbors=5, similarity_cap=None).fit(train)
    assert (capped.neighbors_ != uncapped.neighbors_).nnz > 0
    heaviest = int(np.diff(train.user_items.indptr).max())
    same = ItemKNN(n_neighbors=5, similarity_cap=heaviest).fit(train)
    assert (same.neighbors_ != uncapped.neighbors_).nnz == 0
    with pytest.raises(ValueError, match="similarity_cap"):
        ItemKNN(similarity_cap=0)


def test_best_per_row_is_the_lexsort_choice_with_ties_and_signs() -> None:
    rng = np.random.default_rng(5)
    rows = np.sort(rng.integers(0, 300, 20_000))
    # few distinct values: many ties, negatives, and both zeros
    values = rng.choice(np.array([-2.5, -1.0, -0.0, 0.0, 0.5, 1.0, 3.0], np.float32), 20_000)
    counts = np.bincount(rows, minlength=300)
    starts = np.cumsum(counts) - counts
    for k in (1, 3, 50):
        chosen = _best_per_row(rows, values, starts, k)
        order = np.lexsort((-values, rows))
        expected = order[np.arange(len(order)) - starts[rows[order]] < k]
        np.testing.assert_array_equal(chosen, expected)
