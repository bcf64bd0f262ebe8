"""Score a fitted model on a held-out ratings frame: rating error and top-k ranking quality."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from recsys_lib.data.interactions import Interactions, index_of
from recsys_lib.data.sampling import seeded_subset
from recsys_lib.data.schema import DataError
from recsys_lib.metrics import mae, ranking_metrics, rmse
from recsys_lib.models.base import NotFittedError, Recommender

__all__ = ["evaluate_ranking", "evaluate_ratings"]

logger = logging.getLogger(__name__)


def evaluate_ratings(
    model: Recommender, test: pd.DataFrame, max_users: int | None = None, seed: int = 42
) -> dict[str, float | int]:
    """RMSE and MAE (stars) of `model.predict` on every test rating, or on every test
    rating of a seeded sample of `max_users` test users (None: all users).

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
    if max_users is not None and max_users < 1:
        raise ValueError(f"max_users must be positive or None, got {max_users}")
    users, items = test["user_id"].to_numpy(), test["item_id"].to_numpy()
    truth = test["rating"].to_numpy(dtype=np.float32)
    if max_users is not None:
        chosen = np.isin(users, seeded_subset(np.unique(users), max_users, seed))
        users, items, truth = users[chosen], items[chosen], truth[chosen]
    unknown = (train.user_index(users) < 0) | (train.item_index(items) < 0)
    predicted = model.predict(users, items)
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
    batch_size: int | None = None,
    device: str = "cpu",
    max_users: int | None = None,
    seed: int = 42,
    seen: Interactions | None = None,
    progress: str | None = None,
) -> dict[str, float | int]:
    """Top-`k` ranking quality for every test user with a relevant test item.

    A test rating >= `relevance_threshold` stars is relevant. Each user's training items
    are excluded from their recommendations, and so is every item of `seen` (for example
    the validation ratings a model early-stopped on: it saw them, so recommending them
    again would count as a miss that no honest model makes). Relevant items the model
    cannot recommend (never seen in training) stay in the denominators. Test users unknown
    to training ("cold") get the model's popularity fallback and are counted, not dropped.

    Args:
        model: fitted on `train`.
        train: the training interactions (catalogue size for coverage, cold users).
        test: held-out ratings with user_id, item_id and rating columns.
        k: recommendations per user.
        relevance_threshold: stars at or above which a test rating is relevant.
        batch_size: users scored at once (None: `Recommender.recommend`'s default).
        device: torch device for scoring ("cpu", "cuda"); numpy is used on the CPU.
        max_users: evaluate a random sample of this many users (None: all).
        seed: seed of that sample.
        seen: interactions to exclude besides `train` (users and items matched by raw
            id; usually the whole training set of a model fitted on part of it); None
            excludes `train`'s only.
        progress: the description of a progress bar over the scored users (shown once
            the scoring has taken `PROGRESS_DELAY_S`, see `Recommender.recommend`);
            None: no bar.

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
    if max_users is not None:
        users = seeded_subset(users, max_users, seed)
    rows = index_of(users, relevant_users)
    sampled = rows >= 0
    extra = _extra_seen(train, seen, users)
    depth = min(k + int(np.bincount(extra[0]).max(initial=0)), max(train.n_items, k))
    recommended, _ = model.recommend(
        users, depth, exclude_seen=True, batch_size=batch_size, device=device,
        progress=progress,
    )
    recommended = _drop_pairs(recommended, extra, k)
    result: dict[str, float | int] = dict(
        ranking_metrics(recommended, rows[sampled], relevant_items[sampled], n_items=train.n_items)
    )
    result["n_users_evaluated"] = len(users)
    result["n_cold_users"] = int((train.user_index(users) < 0).sum())
    logger.debug("ranking evaluation of %s on %d users: %s", type(model).__name__, len(users),
                 result)
    return result


def _extra_seen(
    train: Interactions, seen: Interactions | None, users: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(position in `users`, raw item id) of the `seen` pairs of `users` that `train`
    lacks (int64 arrays); empty without `seen`."""
    if seen is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    frame = seen.to_frame()
    positions = index_of(users, frame["user_id"].to_numpy())
    items = frame["item_id"].to_numpy().astype(np.int64)
    keep = positions >= 0
    rows, cols = train.user_index(frame["user_id"].to_numpy()), train.item_index(items)
    known = keep & (rows >= 0) & (cols >= 0)
    in_train = np.zeros(len(frame), dtype=bool)
    if known.any():
        in_train[known] = np.asarray(
            train.user_items[rows[known], cols[known]]).ravel() != 0
    keep &= ~in_train
    return positions[keep].astype(np.int64), items[keep]


def _drop_pairs(recommended: np.ndarray, pairs: tuple[np.ndarray, np.ndarray],
                k: int) -> np.ndarray:
    """The first `k` items of each row of `recommended` (raw ids, -1 padding) that are
    not among `pairs` (row, item), order kept."""
    rows, items = pairs
    if len(rows) == 0:
        return recommended[:, :k]
    width = int(max(recommended.max(initial=0), items.max(initial=0))) + 2
    keys = rows * width + items
    grid = np.arange(len(recommended), dtype=np.int64)[:, None] * width + recommended
    masked = np.isin(grid, keys) & (recommended >= 0)
    order = np.argsort(masked, axis=1, kind="stable")
    return np.take_along_axis(recommended, order, axis=1)[:, :k]


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
