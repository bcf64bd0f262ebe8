"""top_k_numpy: the threshold path picks what a sort of every column picks."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_lib.models import scoring
from recsys_lib.models.scoring import descending_by_row, top_k_numpy


def _reference(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k per row by a stable sort of every column: ties to the lower column."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(scores, order, axis=1)
    return np.where(np.isfinite(best), order, -1).astype(np.int32), best


@pytest.mark.parametrize("k", [1, 10, 40])
def test_wide_rows_get_the_sorted_choice_with_ties_and_excluded_items(k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.standard_normal((60, 6_000)).astype(np.float32)  # a sample of every 2nd
    scores[:20] = np.round(scores[:20])  # a handful of values: ties everywhere
    scores[rng.random(scores.shape) < 0.2] = -np.inf  # seen items
    scores[20] = -np.inf  # nothing to recommend
    scores[21, :] = -np.inf
    scores[21, [5, 700, 5_999]] = [1.0, 3.0, 1.0]  # fewer than k left
    scores[22, ::2] = -np.inf  # the sample's columns all excluded: a -inf threshold
    scores[23, 3_001::2] = 9.0  # the best items are all off the sample's stride, and equal
    assert scores.shape[1] >= scoring._THRESHOLD_MIN_ITEMS_PER_PICK * k  # the threshold path
    index, best = top_k_numpy(scores, k)
    expected_index, expected_best = _reference(scores, k)
    np.testing.assert_array_equal(index, expected_index)
    np.testing.assert_array_equal(best, expected_best)
    assert (index[20] == -1).all()
    np.testing.assert_array_equal(index[21, :3], [700, 5, 5_999][: min(k, 3)])


def test_descending_by_row_is_lexsorts_order() -> None:
    rng = np.random.default_rng(2)
    rows = np.sort(rng.integers(0, 50, 5_000))
    values = rng.choice(np.array([-np.inf, -1.5, -0.0, 0.0, 2.0, np.inf], np.float32), 5_000)
    np.testing.assert_array_equal(descending_by_row(rows, values),
                                  np.lexsort((-values, rows)))
