"""Result tables: column order, one user's recommendations and favourites, run comparison."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data import Interactions
from recsys_lib.models import Popularity
from recsys_lib.report import collect_runs, results_table, user_favourites, user_recommendations


def test_results_table_orders_rating_then_ranking_then_cost_columns():
    table = results_table({
        "ALS": {"fit_seconds": 1.0, "ndcg@10": 0.3, "precision@10": 0.2},
        "SVD": {"rmse": 0.9, "ndcg@10": 0.1, "mae": 0.7, "fit_seconds": 2.0},
    })
    assert list(table.columns) == ["rmse", "mae", "precision@10", "ndcg@10", "fit_seconds"]
    assert np.isnan(table.loc["ALS", "rmse"])
    assert table.loc["SVD", "ndcg@10"] == 0.1


@pytest.fixture
def movies():
    return pd.DataFrame({"item_id": [1, 2, 3, 4], "title": ["A", "B", "C", "D"],
                         "genres": ["x", "y", "z", "w"]})


def test_user_favourites_are_the_highest_rated_with_titles(movies):
    ratings = pd.DataFrame({"user_id": [7, 7, 7, 8], "item_id": [1, 2, 3, 1],
                            "rating": [3.0, 5.0, 4.0, 1.0], "timestamp": [1, 2, 3, 4]})
    favourites = user_favourites(ratings, movies, 7, n=2)
    assert favourites["title"].tolist() == ["B", "C"]
    with pytest.raises(ValueError, match="user 99 has no ratings"):
        user_favourites(ratings, movies, 99)


def test_user_recommendations_exclude_seen_items_and_carry_titles(movies):
    train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [1, 2, 1, 3, 1],
                          "rating": [4.0, 4.0, 4.0, 4.0, 4.0]})
    model = Popularity().fit(Interactions.from_ratings(train))
    recs = user_recommendations(model, movies, user_id=1, k=2)
    assert recs["item_id"].tolist() == [3]  # items 1 and 2 are seen; 4 was never rated
    assert recs["title"].tolist() == ["C"]


def test_collect_runs_sorts_best_first_and_keeps_failures(tmp_path):
    for name, status, ndcg in [("a", "ok", 0.1), ("b", "ok", 0.3), ("c", "failed", None)]:
        folder = tmp_path / name
        folder.mkdir()
        payload = {"status": status, "notebook": "classical_cf", "params": {"SEED": 1},
                   "metrics": {"ALS": {"ndcg@10": ndcg}} if ndcg else {}}
        if status == "failed":
            payload["error"] = "ValueError: boom"
        (folder / "results.json").write_text(json.dumps(payload))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "results.json").write_text("{broken")
    table = collect_runs(tmp_path, metric="ndcg@10")
    assert table["run"].tolist()[:2] == ["b", "a"]
    failed = table.set_index("run").loc["c"]
    assert failed["status"] == "failed" and failed["error"] == "ValueError: boom"
    assert table.set_index("run").loc["d", "status"] == "unreadable"
    assert table.loc[0, "param.SEED"] == 1
