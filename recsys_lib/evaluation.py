"""Score a fitted model on a held-out ratings frame: rating error and top-k ranking quality."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from recsys_lib.data.interactions import Interactions, index_of
from recsys_lib.data.schema import DataError
from recsys_lib.metrics import mae, ranking_metrics, rmse
from recsys_lib.models.base import DEFAULT_BATCH_USERS, NotFittedError, Recommender

__all__ = ["evaluate_ranking", "evaluate_ratings"]

logger = logging.getLogger(__name__)


def evaluate_ratings(model: Recommender, test: pd.DataFrame) -> dict[str, float | int]:
    """RMSE and MAE (stars) of `model.predict` on every test rating.

    Pairs whose user or item the model never saw are predicted by its baseline fallback,
    kept in the scores, and counted.

    Returns:
        {"rmse": float, "mae": float, "n_unknown_pairs": int}.

    Raises:
        TypeError: the model ranks items and does not predict ratings.
        DataError: `test` lacks a column or is empty.
    """
    train = _fitted_train(model)
    if not model.predicts_ratings:
        raise TypeError(f"{type(model).__name__} ranks items; it has no ratings to evaluate")
    _check_columns(test)
    users, items = test["user_id"].to_numpy(), test["item_id"].to_numpy()
    unknown = (train.user_index(users) < 0) | (train.item_index(items) < 0)
    predicted = model.predict(users, items)
    truth = test["rating"].to_numpy(dtype=np.float32)
    return {
        "rmse": rmse(truth, predicted),
        "mae": mae(truth, predicted),
        "n_unknown_pairs": int(unknown.sum()),
    }


def evaluate_ranking(
    model: Recommender,
    train: Interactions,
    test: pd.DataFrame,
    k: int = 10,
    relevance_threshold: float = 4.0,
    batch_size: int = DEFAULT_BATCH_USERS,
    device: str = "cpu",
    max_users: int | None = None,
    seed: int = 42,
) -> dict[str, float | int]:
    """Top-`k` ranking quality for every test user with a relevant test item.

    A test rating >= `relevance_threshold` stars is relevant. Each user's training items
    are excluded from their recommendations. Relevant items the model cannot recommend
    (never seen in training) stay in the denominators. Test users unknown to training
    ("cold") get the model's popularity fallback and are counted, not dropped.

    Args:
        model: fitted on `train`.
        train: the training interactions (catalogue size for coverage, cold users).
        test: held-out ratings with user_id, item_id and rating columns.
        k: recommendations per user.
        relevance_threshold: stars at or above which a test rating is relevant.
        batch_size: users scored at once (see `Recommender.recommend`).
        device: torch device for scoring ("cpu", "cuda"); numpy is used on the CPU.
        max_users: evaluate a random sample of this many users (None: all).
        seed: seed of that sample.

    Returns:
        "precision@k", "recall@k", "ndcg@k", "map@k", "hit_rate@k", "coverage@k" (floats,
        k substituted) and "n_users_evaluated", "n_cold_users" (ints).

    Raises:
        ValueError: no test rating is relevant, or `model` was fitted on other data.
        DataError: `test` lacks a column.
    """
    fitted = _fitted_train(model)
    if fitted is not train and not _same_ids(fitted, train):
        raise ValueError("the model was fitted on a different training set than `train`")
    _check_columns(test)
    if max_users is not None and max_users < 1:
        raise ValueError(f"max_users must be positive or None, got {max_users}")
    relevant = test["rating"].to_numpy() >= relevance_threshold
    relevant_users = test["user_id"].to_numpy()[relevant]
    relevant_items = test["item_id"].to_numpy()[relevant]
    users = np.unique(relevant_users)
    if len(users) == 0:
        raise ValueError(f"no test rating is >= relevance_threshold={relevance_threshold}")
    if max_users is not None and len(users) > max_users:
        rng = np.random.default_rng(seed)
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    rows = index_of(users, relevant_users)
    sampled = rows >= 0
    recommended, _ = model.recommend(
        users, k, exclude_seen=True, batch_size=batch_size, device=device
    )
    result: dict[str, float | int] = dict(
        ranking_metrics(recommended, rows[sampled], relevant_items[sampled], n_items=train.n_items)
    )
    result["n_users_evaluated"] = len(users)
    result["n_cold_users"] = int((train.user_index(users) < 0).sum())
    logger.debug("ranking evaluation of %s on %d users: %s", type(model).__name__, len(users),
                 result)
    return result


def _fitted_train(model: Recommender) -> Interactions:
    if model.train_ is None:
        raise NotFittedError(f"{type(model).__name__} is not fitted; call fit() first")
    return model.train_


def _same_ids(a: Interactions, b: Interactions) -> bool:
    return (
        a.nnz == b.nnz
        and np.array_equal(a.user_ids, b.user_ids)
        and np.array_equal(a.item_ids, b.item_ids)
    )


def _check_columns(test: pd.DataFrame) -> None:
    missing = [column for column in ("user_id", "item_id", "rating") if column not in test]
    if missing:
        raise DataError(f"test frame lacks column(s) {missing}; it has {list(test.columns)}")
    if len(test) == 0:
        raise DataError("test frame is empty")
