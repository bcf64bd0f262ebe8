"""Every metric against a hand-computed example."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_lib.metrics import (
    catalogue_coverage,
    hit_matrix,
    hit_rate_at_k,
    mae,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    relevant_counts,
    rmse,
)

# Row 0 recommends 1, 2, 3 and finds 2 (relevant: 2, 9). Row 1 recommends 4, 5 and a pad,
# finding both (relevant: 4, 5, 6, 7). The pair (1, 4) is listed twice and counts once.
RECOMMENDED = np.array([[1, 2, 3], [4, 5, -1]], dtype=np.int32)
RELEVANT_ROWS = np.array([0, 0, 1, 1, 1, 1, 1])
RELEVANT_ITEMS = np.array([2, 9, 4, 5, 6, 7, 4])
D2 = 1 / np.log2(3)  # discount at rank 2; rank 1 has 1, rank 3 has 1/2
EXAMPLE = {
    "precision": (1 / 3 + 2 / 3) / 2,
    "recall": (1 / 2 + 2 / 4) / 2,
    "ndcg": (D2 / (1 + D2) + (1 + D2) / (1 + D2 + 0.5)) / 2,
    "map": ((1 / 2) / 2 + (1 / 1 + 2 / 2) / 3) / 2,
    "hit_rate": 1.0,
}


def test_rmse_and_mae() -> None:
    truth, predicted = np.float32([4.0, 2.0, 5.0, 1.0]), np.float32([3.0, 2.0, 3.0, 2.0])
    assert rmse(truth, predicted) == pytest.approx(np.sqrt((1 + 0 + 4 + 1) / 4))
    assert mae(truth, predicted) == pytest.approx((1 + 0 + 2 + 1) / 4)
    with pytest.raises(ValueError, match="differ in shape"):
        rmse(truth, predicted[:2])
    with pytest.raises(ValueError, match="empty"):
        mae(np.float32([]), np.float32([]))


def test_hit_matrix_and_relevant_counts() -> None:
    hits = hit_matrix(RECOMMENDED, RELEVANT_ROWS, RELEVANT_ITEMS)
    assert hits.tolist() == [[False, True, False], [True, True, False]]
    assert relevant_counts(2, RELEVANT_ROWS, RELEVANT_ITEMS).tolist() == [2, 4]


@pytest.mark.parametrize(
    ("function", "name"),
    [
        (precision_at_k, "precision"),
        (recall_at_k, "recall"),
        (ndcg_at_k, "ndcg"),
        (map_at_k, "map"),
        (hit_rate_at_k, "hit_rate"),
    ],
)
def test_each_ranking_metric_matches_the_hand_computed_value(function, name: str) -> None:
    assert function(RECOMMENDED, RELEVANT_ROWS, RELEVANT_ITEMS) == pytest.approx(EXAMPLE[name])


def test_ranking_metrics_gives_every_metric_keyed_by_k() -> None:
    result = ranking_metrics(RECOMMENDED, RELEVANT_ROWS, RELEVANT_ITEMS, n_items=10)
    expected = {f"{name}@3": value for name, value in EXAMPLE.items()}
    expected["coverage@3"] = 5 / 10
    assert result == pytest.approx(expected)


def test_perfect_ranking_scores_one_and_rows_without_relevant_items_score_zero() -> None:
    recommended = np.array([[7, 8], [1, 2]])
    result = ranking_metrics(recommended, np.array([0, 0]), np.array([8, 7]), n_items=4)
    # row 0 is perfect (its two relevant items, in some order); row 1 has none
    assert result["precision@2"] == result["recall@2"] == pytest.approx(0.5)
    assert result["ndcg@2"] == result["map@2"] == result["hit_rate@2"] == pytest.approx(0.5)


def test_catalogue_coverage_ignores_padding_and_repeats() -> None:
    assert catalogue_coverage(np.array([[1, 2], [2, -1]]), n_items=8) == pytest.approx(2 / 8)
    with pytest.raises(ValueError, match="n_items"):
        catalogue_coverage(RECOMMENDED, n_items=0)


def test_malformed_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="2-d"):
        precision_at_k(np.array([1, 2]), np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="relevant_rows and relevant_items differ"):
        recall_at_k(RECOMMENDED, np.array([0, 1]), np.array([1]))
    with pytest.raises(ValueError, match=r"relevant_rows must lie in \[0, 2\)"):
        ndcg_at_k(RECOMMENDED, np.array([2]), np.array([1]))
