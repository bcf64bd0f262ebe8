"""Rating and ranking metrics on arrays, vectorised over users (no Python loops).

Ranking metrics take `recommended`, an int array of shape (n_users, k) holding item ids
best first (-1 pads rows with fewer than k items), and the relevant set as parallel arrays
`(relevant_rows, relevant_items)`: row `relevant_rows[j]` of `recommended` has relevant
item `relevant_items[j]` (duplicate pairs count once); rows of `recommended` hold
distinct items. Each metric is the mean over the
rows of `recommended`; a row with no relevant item scores 0.

Definitions (k = recommended.shape[1], R_u = user u's relevant items, hit_r = 1 when the
item at rank r is in R_u):

- precision@k = hits / k
- recall@k = hits / |R_u| (the standard denominator, so recall@k < 1 when |R_u| > k)
- hit_rate@k = 1 when any hit
- ndcg@k = sum_r hit_r / log2(r + 1) over ranks r = 1..k, divided by the ideal DCG of
  min(k, |R_u|) hits at the top
- map@k = sum_r precision@r * hit_r / min(k, |R_u|)
- coverage@k = distinct recommended items / catalogue size
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "catalogue_coverage",
    "hit_matrix",
    "hit_rate_at_k",
    "mae",
    "map_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "ranking_metrics",
    "recall_at_k",
    "relevant_counts",
    "rmse",
]


def _errors(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {y_true.shape} vs {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("cannot score an empty set of ratings")
    return y_pred - y_true


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error, in stars (accumulated in float64)."""
    return float(np.sqrt(np.mean(_errors(y_true, y_pred) ** 2)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error, in stars (accumulated in float64)."""
    return float(np.mean(np.abs(_errors(y_true, y_pred))))


def _pair_keys(rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """int64 keys identifying (row, item id) pairs; item ids must fit in 32 bits."""
    items = np.asarray(items, dtype=np.int64) & 0xFFFFFFFF
    return (np.asarray(rows, dtype=np.int64) << 32) | items


def _check(recommended: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray) -> None:
    if recommended.ndim != 2:
        raise ValueError(f"recommended must be 2-d (n_users, k), got shape {recommended.shape}")
    if np.shape(relevant_rows) != np.shape(relevant_items):
        raise ValueError(
            "relevant_rows and relevant_items differ in shape: "
            f"{np.shape(relevant_rows)} vs {np.shape(relevant_items)}"
        )
    rows = np.asarray(relevant_rows)
    if rows.size and (rows.min() < 0 or rows.max() >= len(recommended)):
        raise ValueError(
            f"relevant_rows must lie in [0, {len(recommended)}), got {rows.min()}..{rows.max()}"
        )


def hit_matrix(
    recommended: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray
) -> np.ndarray:
    """Boolean array shaped like `recommended`: True where the item is relevant to its row.

    Rows are expected to hold distinct items (as `Recommender.recommend` returns them);
    padding (-1) is never a hit.
    """
    recommended = np.asarray(recommended)
    _check(recommended, relevant_rows, relevant_items)
    n_rows, k = recommended.shape
    keys = _pair_keys(np.repeat(np.arange(n_rows), k), recommended.ravel())
    hits = np.isin(keys, _pair_keys(relevant_rows, relevant_items)).reshape(n_rows, k)
    return hits & (recommended >= 0)


def relevant_counts(
    n_rows: int, relevant_rows: np.ndarray, relevant_items: np.ndarray
) -> np.ndarray:
    """int64 number of distinct relevant items per row."""
    keys = np.unique(_pair_keys(relevant_rows, relevant_items))
    return np.bincount(keys >> 32, minlength=n_rows).astype(np.int64)


def _per_row(hits: np.ndarray, n_relevant: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row precision, recall, ndcg, map and hit rate from a hit matrix (float64)."""
    n_rows, k = hits.shape
    n_hits = hits.sum(axis=1)
    has_relevant = n_relevant > 0
    safe_relevant = np.maximum(n_relevant, 1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(k, n_relevant)]
    dcg = hits @ discounts
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    average_precision = (precision_at_rank * hits).sum(axis=1) / np.minimum(k, safe_relevant)
    return {
        "precision": n_hits / k if k else np.zeros(n_rows),
        "recall": np.where(has_relevant, n_hits / safe_relevant, 0.0),
        "ndcg": np.divide(dcg, ideal, out=np.zeros(n_rows), where=ideal > 0),
        "map": np.where(has_relevant, average_precision, 0.0),
        "hit_rate": (n_hits > 0).astype(np.float64),
    }


def _mean_metric(
    name: str, recommended: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray
) -> float:
    hits = hit_matrix(recommended, relevant_rows, relevant_items)
    if len(hits) == 0:
        raise ValueError("cannot score an empty set of users")
    n_relevant = relevant_counts(len(hits), relevant_rows, relevant_items)
    return float(_per_row(hits, n_relevant)[name].mean())


def precision_at_k(
    recommended: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray
) -> float:
    """Mean fraction of the k recommendations that are relevant (padding counts as a miss)."""
    return _mean_metric("precision", recommended, relevant_rows, relevant_items)


def recall_at_k(
    recommended: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray
) -> float:
    """Mean fraction of each row's relevant items that were recommended (denominator |R_u|)."""
    return _mean_metric("recall", recommended, relevant_rows, relevant_items)


def ndcg_at_k(
    recommended: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray
) -> float:
    """Mean normalised DCG with log2 discounts; ideal DCG over min(k, |R_u|) hits."""
    return _mean_metric("ndcg", recommended, relevant_rows, relevant_items)


def map_at_k(
    recommended: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray
) -> float:
    """Mean average precision, each row's sum normalised by min(k, |R_u|)."""
    return _mean_metric("map", recommended, relevant_rows, relevant_items)


def hit_rate_at_k(
    recommended: np.ndarray, relevant_rows: np.ndarray, relevant_items: np.ndarray
) -> float:
    """Fraction of rows with at least one relevant item among their k recommendations."""
    return _mean_metric("hit_rate", recommended, relevant_rows, relevant_items)


def catalogue_coverage(recommended: np.ndarray, n_items: int) -> float:
    """Distinct recommended item ids (padding left out) over the catalogue size `n_items`."""
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    recommended = np.asarray(recommended)
    return float(len(np.unique(recommended[recommended >= 0])) / n_items)


def ranking_metrics(
    recommended: np.ndarray,
    relevant_rows: np.ndarray,
    relevant_items: np.ndarray,
    *,
    n_items: int,
) -> dict[str, float]:
    """All ranking metrics at once, keyed "precision@k", "recall@k", "ndcg@k", "map@k",
    "hit_rate@k" and "coverage@k" with k = recommended.shape[1]."""
    hits = hit_matrix(recommended, relevant_rows, relevant_items)
    if len(hits) == 0:
        raise ValueError("cannot score an empty set of users")
    k = hits.shape[1]
    per_row = _per_row(hits, relevant_counts(len(hits), relevant_rows, relevant_items))
    result = {f"{name}@{k}": float(values.mean()) for name, values in per_row.items()}
    result[f"coverage@{k}"] = catalogue_coverage(recommended, n_items)
    return result
