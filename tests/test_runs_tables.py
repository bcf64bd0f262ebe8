"""Result tables: column order, one user's recommendations and favourites, run comparison."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data import Interactions
from recsys_lib.models import Popularity
from recsys_lib.runs.tables import (
    best_model,
    collect_runs,
    diagnostics_table,
    example_user,
    most_rated_item,
    results_table,
    similar_movies,
    user_favourites,
    user_recommendations,
)

METRICS = {
    "BiasBaseline": {"rmse": 0.95, "mae": 0.75, "ndcg@10": 0.02, "fit_seconds": 0.1,
                     "map@10": 0.01, "n_unknown_pairs": 3},
    "ALS": {"fit_seconds": 1.0, "ndcg@10": 0.3, "precision@10": 0.2, "coverage@10": 0.4},
    "SVD": {"rmse": 0.9, "ndcg@10": 0.1, "mae": 0.7, "fit_seconds": 2.0, "peak_rss_mb": 300.0,
            "evaluate_seconds": 0.5},
}


def test_results_table_shows_the_compared_metrics_in_order():
    table = results_table(METRICS, yardsticks=("BiasBaseline",))
    assert list(table.columns) == ["role", "rmse", "mae", "precision@10", "ndcg@10",
                                   "fit_seconds", "peak_rss_mb"]
    assert np.isnan(table.loc["ALS", "rmse"])
    assert table.loc["SVD", "ndcg@10"] == 0.1
    assert table["role"].tolist() == ["yardstick", "ranker", "rating model"]


def test_diagnostics_table_holds_the_rest():
    table = diagnostics_table(METRICS)
    assert list(table.columns) == ["coverage@10", "evaluate_seconds", "map@10",
                                   "n_unknown_pairs"]


def test_best_model_leaves_the_yardsticks_out_and_knows_lower_is_better():
    assert best_model(METRICS, "ndcg@10", ("BiasBaseline",)) == "ALS"
    assert best_model(METRICS, "rmse", ("SVD",)) == "BiasBaseline"
    assert best_model(METRICS, "rmse") == "SVD"
    with pytest.raises(ValueError, match="no model other than the yardsticks"):
        best_model(METRICS, "rmse", ("SVD", "BiasBaseline"))


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
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "results.json").write_text('{"status": "ok", "metrics": [1, 2]}')
    table = collect_runs(tmp_path, metric="ndcg@10")
    assert table["run"].tolist()[:2] == ["b", "a"]
    failed = table.set_index("run").loc["c"]
    assert failed["status"] == "failed" and failed["error"] == "ValueError: boom"
    assert table.set_index("run").loc["d", "status"] == "unreadable"
    shapeless = table.set_index("run").loc["e"]
    assert shapeless["status"] == "unreadable" and "must be mappings" in shapeless["error"]
    assert table.loc[0, "param.SEED"] == 1


def test_most_rated_item_and_its_similar_movies(movies):
    from recsys_lib.models import EASE

    train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3, 4], "item_id": [1, 2, 1, 2, 1, 3, 4],
                          "rating": [5.0, 5.0, 4.0, 4.0, 3.0, 2.0, 4.0]})
    assert most_rated_item(train) == 1
    model = EASE(lam=1.0).fit(Interactions.from_ratings(train))
    table = similar_movies(model, movies, 1, k=2)
    assert table["rank"].tolist() == [1, 2]
    assert 1 not in table["item_id"].tolist()
    assert table.loc[0, "title"] == "B"  # item 2 is rated with item 1 by both its users


def test_the_training_interactions_stand_in_for_the_training_frame(movies):
    train = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3], "item_id": [3, 2, 4, 2, 1, 2],
                          "rating": [4.0, 5.0, 4.0, 3.0, 2.0, 5.0]})
    test = pd.DataFrame({"user_id": [9, 2, 1], "item_id": [1, 3, 1], "rating": [4.0] * 3})
    encoded = Interactions.from_ratings(train)
    assert example_user(encoded, test, min_train_ratings=3) == example_user(train, test, 3) == 1
    assert example_user(encoded, test, min_train_ratings=5) == 1  # the test user with the most
    assert most_rated_item(encoded) == most_rated_item(train) == 2
    favourites = user_favourites(encoded, movies, 1)
    assert favourites["item_id"].tolist() == [2, 3, 4]  # 5 stars, then the 4s by id
    with pytest.raises(ValueError, match="user 9 has no ratings"):
        user_favourites(encoded, movies, 9)
