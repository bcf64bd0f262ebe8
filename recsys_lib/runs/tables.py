"""Tables the notebooks and the CLI show: a run's results (the metrics a reader compares,
and the diagnostics apart), one user's recommendations next to their favourite movies, and
a comparison of many runs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys_lib.data.interactions import Interactions, count_by
from recsys_lib.models.base import Recommender
from recsys_lib.runs.record import RESULTS_FILE, read_results

__all__ = [
    "best_model",
    "collect_runs",
    "diagnostics_table",
    "example_user",
    "most_rated_item",
    "results_table",
    "similar_movies",
    "user_favourites",
    "user_recommendations",
    "with_titles",
]

logger = logging.getLogger(__name__)

#: Column prefixes of the results table, in order: what a reader compares across models.
_COMPARED = ("rmse", "mae", "precision@", "recall@", "ndcg@", "fit_seconds", "peak_rss_mb",
             "peak_gpu_mb")


def _column_rank(column: str, prefixes: tuple[str, ...]) -> tuple[int, str]:
    for position, prefix in enumerate(prefixes):
        if column.startswith(prefix):
            return position, column
    return len(prefixes), column


def _metrics_frame(metrics: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame.from_dict(dict(metrics), orient="index")
    table.index.name = "model"
    return table


def results_table(
    metrics: Mapping[str, Mapping[str, Any]], yardsticks: tuple[str, ...] = ()
) -> pd.DataFrame:
    """One row per model with the metrics a reader compares: RMSE, MAE, precision, recall
    and NDCG at k, fit seconds and peak MB; empty where a model lacks one (a ranking-only
    model has no RMSE). The `role` column says "yardstick", "rating model" (fitted to
    predict stars; its ranking is a by-product) or "ranker".

    Args:
        metrics: model -> its results.json metrics.
        yardsticks: names of the baseline models the others are compared with.
    """
    table = _metrics_frame(metrics)
    compared = [c for c in table.columns if _column_rank(c, _COMPARED)[0] < len(_COMPARED)]
    table = table[sorted(compared, key=lambda c: _column_rank(c, _COMPARED))]
    rates = table["rmse"].notna() if "rmse" in table else pd.Series(False, index=table.index)
    table.insert(0, "role", ["yardstick" if name in yardsticks
                             else "rating model" if rates[name] else "ranker"
                             for name in table.index])
    return table


def diagnostics_table(metrics: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The other columns of each model's metrics (MAP, hit rate, coverage, evaluation
    seconds, model MB, fallback and cold-start counts)."""
    table = _metrics_frame(metrics)
    rest = [c for c in table.columns if _column_rank(c, _COMPARED)[0] == len(_COMPARED)]
    return table[sorted(rest)]


def best_model(
    metrics: Mapping[str, Mapping[str, Any]], metric: str, yardsticks: tuple[str, ...] = ()
) -> str:
    """The model with the best `metric` (lowest for rmse/mae, else highest) among the
    models that have it, yardsticks left out.

    Raises:
        ValueError: no model other than the yardsticks has the metric.
    """
    scored = {
        name: values[metric]
        for name, values in metrics.items()
        if name not in yardsticks and values.get(metric) is not None
    }
    if not scored:
        raise ValueError(f"no model other than the yardsticks {list(yardsticks)} has {metric}")
    lower_is_better = metric in ("rmse", "mae")
    return (min if lower_is_better else max)(scored, key=scored.__getitem__)


def example_user(
    train: pd.DataFrame | Interactions, test: pd.DataFrame, min_train_ratings: int = 5
) -> int:
    """A user to show recommendations for: the first test user with at least
    `min_train_ratings` training ratings (else the test user with the most); `train` is
    the training frame or its `Interactions`.

    Raises:
        ValueError: no test user has a training rating.
    """
    counts = count_by(train, "user_id")
    candidates = pd.unique(test["user_id"].to_numpy())
    known = [user for user in candidates if counts.get(user, 0) > 0]
    if not known:
        raise ValueError("no test user has a training rating to show recommendations for")
    for user in known:
        if counts[user] >= min_train_ratings:
            return int(user)
    return int(max(known, key=counts.__getitem__))


def user_favourites(
    ratings: pd.DataFrame | Interactions, movies: pd.DataFrame, user_id: int, n: int = 10
) -> pd.DataFrame:
    """The user's `n` highest-rated movies with titles, from a ratings frame (latest first
    among equal ratings where it has timestamps) or `Interactions` (lowest id first)."""
    if isinstance(ratings, Interactions):
        rows = ratings.to_frame(np.array([user_id]))
    else:
        rows = ratings.loc[ratings["user_id"] == user_id]
    if rows.empty:
        raise ValueError(f"user {user_id} has no ratings in this data")
    order = ["rating", "timestamp"] if "timestamp" in rows else ["rating"]
    top = rows.sort_values(order, ascending=False, kind="stable").head(n)
    return with_titles(top[["item_id", "rating"]], movies)


def user_recommendations(
    model: Recommender, movies: pd.DataFrame, user_id: int, k: int = 10
) -> pd.DataFrame:
    """Top-`k` recommendations for one user with title, genres and score (fewer when the
    user has seen all but a few items)."""
    item_ids, scores = model.recommend(np.array([user_id]), k)
    keep = item_ids[0] >= 0
    frame = pd.DataFrame({"item_id": item_ids[0][keep], "score": scores[0][keep]})
    return with_titles(frame, movies)


def most_rated_item(ratings: pd.DataFrame | Interactions) -> int:
    """The item with the most ratings (the lowest id among ties) of a ratings frame or
    `Interactions`: a title everyone knows."""
    counts = count_by(ratings, "item_id")
    return int(counts[counts == counts.max()].index.min())


def similar_movies(
    model: Recommender, movies: pd.DataFrame, item_id: int, k: int = 10
) -> pd.DataFrame:
    """The `k` items most similar to `item_id` in a model with item similarities or factors
    (see `recsys_lib.models.similar_items`), ranked, with similarity, title and genres."""
    from recsys_lib.models.similarity import similar_items

    items, scores = similar_items(model, np.array([item_id]), k)
    keep = items[0] >= 0
    frame = pd.DataFrame({"item_id": items[0][keep], "similarity": scores[0][keep]})
    table = with_titles(frame, movies)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def collect_runs(
    runs_dir: str | Path, metric: str = "ndcg@10", experiment: str | None = None
) -> pd.DataFrame:
    """One row per (run, model) under `runs_dir`, best first by `metric`; failed runs
    appear with their error, unreadable results files with status "unreadable" and what is
    wrong with them. Lower is better for rmse/mae, higher otherwise.

    Args:
        experiment: keep only the runs of this experiment id (results.json
            `experiment_id`, else the EXPERIMENT_ID parameter).
    """
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(runs_dir).glob(f"**/{RESULTS_FILE}")):
        run = path.parent.relative_to(runs_dir).as_posix()
        try:
            rows.extend({"run": run, **row} for row in _run_rows(path))
        except (OSError, ValueError) as error:
            logger.warning("skipping %s: %s", path, error)
            rows.append({"run": run, "status": "unreadable", "error": str(error)})
    table = pd.DataFrame(rows)
    if experiment is not None and not table.empty:
        table = table[table.get("experiment", pd.Series(index=table.index)) == experiment]
    if table.empty:
        return table
    if metric in table:
        ascending = metric in ("rmse", "mae")
        table = table.sort_values(metric, ascending=ascending, na_position="last")
    return table.reset_index(drop=True)


def _run_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of one results.json.

    Raises:
        ValueError: the file is not JSON, or a section is not of the contract's shape.
    """
    results = read_results(path)
    params, models = results.get("params") or {}, results.get("metrics") or {}
    if not isinstance(params, dict) or not isinstance(models, dict):
        raise ValueError(f"{path}: 'params' and 'metrics' must be mappings")
    base = {
        "notebook": results.get("notebook"),
        "experiment": results.get("experiment_id") or params.get("EXPERIMENT_ID"),
        "status": results.get("status"),
        "error": results.get("error"),
        **{f"param.{key}": value for key, value in params.items()},
    }
    if not models:
        return [base]
    for model, values in models.items():
        if not isinstance(values, dict):
            raise ValueError(f"{path}: metrics of {model!r} must be a mapping")
    return [{**base, "model": model, **values} for model, values in models.items()]


def with_titles(frame: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """`frame` (with item_id) joined with the movies' columns (title, genres), its order
    kept; an item without a movie row reads "(unknown title)"."""
    merged = frame.merge(movies, on="item_id", how="left")
    merged["title"] = merged["title"].fillna("(unknown title)")
    return merged.reset_index(drop=True)
