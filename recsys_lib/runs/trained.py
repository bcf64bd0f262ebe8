"""Using a run's trained models: which it saved, the default one (the best non-yardstick),
its movies' titles, a user's own top-rated movies, and every user's top-k as a CSV."""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys_lib.files import atomic_path
from recsys_lib.models.base import DEFAULT_BATCH_USERS, Recommender
from recsys_lib.models.catalog import load_model
from recsys_lib.models.similarity import has_item_similarity
from recsys_lib.runs.record import read_results
from recsys_lib.runs.tables import with_titles

__all__ = [
    "export_recommendations",
    "load_run_model",
    "run_movies",
    "run_yardsticks",
    "saved_models",
    "user_top_rated",
]

logger = logging.getLogger(__name__)


def saved_models(run_dir: str | Path) -> dict[str, Path]:
    """The models a run saved (`models/<name>.npz`), by name.

    Raises:
        FileNotFoundError: the run saved none.
    """
    folder = Path(run_dir) / "models"
    models = {path.stem: path for path in sorted(folder.glob("*.npz"))}
    if not models:
        raise FileNotFoundError(f"{run_dir} holds no saved models (looked in {folder})")
    return models


def run_yardsticks(results: Mapping[str, Any]) -> tuple[str, ...]:
    """The models a run shows only as yardsticks: a VAE run's are its kind's (everything
    but the VAE), a classical run's those of `recsys_lib.runs.classical.YARDSTICKS`."""
    kind_key = (results.get("config") or {}).get("model")
    if kind_key:
        from recsys_lib.models.vae.registry import vae_kind

        return tuple(vae_kind(kind_key).yardsticks(0))
    from recsys_lib.runs.classical import YARDSTICKS

    return YARDSTICKS


def _ranked(results: Mapping[str, Any], names: list[str], metric: str) -> list[str]:
    """`names`, non-yardsticks first, each group best first by `metric` (missing last)."""
    yardsticks = run_yardsticks(results)
    metrics = results.get("metrics") or {}
    sign = 1.0 if metric in ("rmse", "mae") else -1.0

    def key(name: str) -> tuple[bool, float, str]:
        value = (metrics.get(name) or {}).get(metric)
        return name in yardsticks, sign * value if value is not None else np.inf, name

    return sorted(names, key=key)


def load_run_model(
    run_dir: str | Path,
    name: str | None = None,
    *,
    metric: str = "ndcg@10",
    need_similarity: bool = False,
) -> tuple[str, Recommender]:
    """A saved model of the run and its name.

    Args:
        run_dir: the run folder.
        name: the model's name; None takes the best non-yardstick by `metric` (with
            `need_similarity`, the best with item similarities, yardsticks last).
        metric: the metric that picks the default.
        need_similarity: the model must have item similarities or item factors.

    Raises:
        FileNotFoundError: the run saved no models.
        KeyError: no saved model is called `name` (the saved ones listed).
        TypeError: `need_similarity` and no (or the named) model has item similarities.
    """
    models = saved_models(run_dir)
    if name is not None:
        if name not in models:
            raise KeyError(f"{run_dir} has no model {name!r}; saved: {', '.join(models)}")
        model = load_model(models[name])
        if need_similarity and not has_item_similarity(model):
            raise TypeError(f"{name} has no item similarities or item factors; pick one of "
                            f"the run's ItemKNN, SVD, ALS or EASE models")
        return name, model
    results = read_results(run_dir)
    for candidate in _ranked(results, list(models), metric):
        model = load_model(models[candidate])
        if not need_similarity or has_item_similarity(model):
            logger.info("using %s, the run's best by %s", candidate, metric)
            return candidate, model
    raise TypeError(f"none of the run's models ({', '.join(models)}) has item similarities "
                    f"or item factors")


def run_movies(run_dir: str | Path) -> pd.DataFrame:
    """The movies (item_id, title, genres) of the data the run used (results.json
    `data.source`); an empty frame with those columns when it has no movies file."""
    from recsys_lib.data import DataSource, load_movies

    source = (read_results(run_dir).get("data") or {}).get("source")
    empty = pd.DataFrame({"item_id": pd.Series(dtype=np.int32), "title": pd.Series(dtype=str),
                          "genres": pd.Series(dtype=str)})
    if not source or not source.get("movies_file"):
        logger.warning("%s records no movies file: titles are unknown", run_dir)
        return empty
    paths = {key: Path(source[key]) for key in ("path", "ratings_file", "movies_file")}
    data_source = DataSource(layout=source["layout"], origin=source.get("origin", "given"),
                             reason=source.get("reason", ""), release=source.get("release"),
                             **paths)
    try:
        return load_movies(data_source)
    except (OSError, ValueError) as error:
        logger.warning("could not read the movies of %s: %s", run_dir, error)
        return empty


def user_top_rated(model: Recommender, movies: pd.DataFrame, user_id: int,
                   n: int = 10) -> pd.DataFrame:
    """The user's `n` highest-rated movies in the model's training data (item_id, rating,
    title, genres), highest first, ties to the lower item id.

    Raises:
        KeyError: the user is not in the model's training data.
    """
    train = model.train_
    row = int(train.user_index(np.array([user_id]))[0])
    if row < 0:
        raise KeyError(f"user {user_id} is not in the model's training data "
                       f"({train.n_users:,} users, ids {train.user_ids.min()}-"
                       f"{train.user_ids.max()})")
    start, end = train.user_items.indptr[row : row + 2]
    frame = pd.DataFrame({"item_id": train.item_ids[train.user_items.indices[start:end]],
                          "rating": train.user_items.data[start:end]})
    frame = frame.sort_values(["rating", "item_id"], ascending=[False, True]).head(n)
    return with_titles(frame, movies)


def export_recommendations(
    model: Recommender,
    path: str | Path,
    movies: pd.DataFrame,
    k: int = 10,
    batch_users: int = DEFAULT_BATCH_USERS,
) -> int:
    """Write every training user's top-`k` to a CSV (user_id, rank from 1, item_id,
    score, title), `batch_users` users at a time; the file appears only when complete.

    Returns:
        The number of rows written.
    """
    titles = dict(zip(movies["item_id"].tolist(), movies["title"].tolist(), strict=True))
    users = model.train_.user_ids
    written = 0
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "rank", "item_id", "score", "title"])
        for start in range(0, len(users), batch_users):
            batch = users[start : start + batch_users]
            items, scores = model.recommend(batch, k, batch_size=batch_users)
            for user, user_items, user_scores in zip(batch, items, scores, strict=True):
                for rank, (item, score) in enumerate(zip(user_items, user_scores,
                                                         strict=True), start=1):
                    if item < 0:
                        break
                    writer.writerow([int(user), rank, int(item), f"{score:.6g}",
                                     titles.get(int(item), "")])
                    written += 1
    logger.info("wrote %d recommendations of %d users to %s", written, len(users), path)
    return written
