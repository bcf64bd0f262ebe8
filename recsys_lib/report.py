"""Tables the notebooks and the CLI show: the results table of a run, one user's
recommendations next to their favourite movies, and a comparison of many runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys_lib.models.base import Recommender
from recsys_lib.tracking import RESULTS_FILE

__all__ = ["collect_runs", "results_table", "user_favourites", "user_recommendations"]

_METRIC_ORDER = ("rmse", "mae", "precision@", "recall@", "ndcg@", "map@", "hit_rate@", "coverage@")


def results_table(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per model, one column per metric (rating metrics, ranking metrics, then
    fit seconds and memory); metrics a model does not have are left empty."""
    table = pd.DataFrame.from_dict(metrics, orient="index")
    table.index.name = "model"

    def rank(column: str) -> tuple[int, str]:
        for position, prefix in enumerate(_METRIC_ORDER):
            if column.startswith(prefix):
                return position, column
        return len(_METRIC_ORDER), column

    return table[sorted(table.columns, key=rank)]


def user_favourites(
    ratings: pd.DataFrame, movies: pd.DataFrame, user_id: int, n: int = 10
) -> pd.DataFrame:
    """The user's `n` highest-rated movies (latest first among equal ratings) with titles."""
    rows = ratings.loc[ratings["user_id"] == user_id]
    if rows.empty:
        raise ValueError(f"user {user_id} has no ratings in this data")
    order = ["rating", "timestamp"] if "timestamp" in rows else ["rating"]
    top = rows.sort_values(order, ascending=False).head(n)
    return _with_titles(top[["item_id", "rating"]], movies)


def user_recommendations(
    model: Recommender, movies: pd.DataFrame, user_id: int, k: int = 10
) -> pd.DataFrame:
    """Top-`k` recommendations for one user with title, genres and score."""
    item_ids, scores = model.recommend(np.array([user_id]), k)
    keep = item_ids[0] >= 0
    frame = pd.DataFrame({"item_id": item_ids[0][keep], "score": scores[0][keep]})
    return _with_titles(frame, movies)


def collect_runs(runs_dir: str | Path, metric: str = "ndcg@10") -> pd.DataFrame:
    """One row per (run, model) under `runs_dir`, best first by `metric`; failed runs
    appear with their error. Lower is better for rmse/mae, higher otherwise."""
    rows: list[dict[str, Any]] = []
    for path in sorted(Path(runs_dir).glob(f"**/{RESULTS_FILE}")):
        try:
            results = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            rows.append({"run": path.parent.name, "status": "unreadable", "error": str(error)})
            continue
        base = {
            "run": path.parent.name,
            "notebook": results.get("notebook"),
            "status": results.get("status"),
            "error": results.get("error"),
            **{f"param.{k}": v for k, v in results.get("params", {}).items()},
        }
        models = results.get("metrics") or {}
        if not models:
            rows.append(base)
        for model, values in models.items():
            rows.append({**base, "model": model, **values})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    if metric in table:
        ascending = metric in ("rmse", "mae")
        table = table.sort_values(metric, ascending=ascending, na_position="last")
    return table.reset_index(drop=True)


def _with_titles(frame: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    merged = frame.merge(movies, on="item_id", how="left")
    merged["title"] = merged["title"].fillna("(unknown title)")
    return merged.reset_index(drop=True)
