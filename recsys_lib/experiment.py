"""The steps a notebook run takes, shared by the notebooks and the benchmarks: load and
split the data, build the models, and fit-evaluate-save each one with its memory measured."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys_lib.data import (
    DataSource,
    Interactions,
    Split,
    describe_ratings,
    find_source,
    load_ratings,
    split_ratings,
)
from recsys_lib.evaluation import evaluate_ranking, evaluate_ratings
from recsys_lib.memory import MemoryMonitor, Preflight, TrackRecord, preflight
from recsys_lib.models import ALS, SVD, BiasBaseline, ItemKNN, Popularity, Recommender

if TYPE_CHECKING:
    from recsys_lib.params import ClassicalParams, NotebookParams
    from recsys_lib.tracking import RunRecorder

__all__ = [
    "PreparedData",
    "classical_models",
    "evaluate_fitted",
    "fit_and_evaluate",
    "plan_fit",
    "prepare_data",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedData:
    """What the data step produces: the source, the loaded ratings, the split, and the
    training `Interactions` that every model fits on."""

    source: DataSource
    ratings: pd.DataFrame
    split: Split
    train: Interactions

    @property
    def footprint_mb(self) -> float:
        """MB held by the ratings frame, both split frames and the training matrix."""
        frames = (self.ratings, self.split.train, self.split.test)
        frame_bytes = sum(int(f.memory_usage(deep=True).sum()) for f in frames)
        return (frame_bytes + self.train.nbytes) / 2**20

    def summary(self) -> dict[str, Any]:
        """JSON-ready description for `results.json` "data"."""
        described = describe_ratings(self.ratings)
        return {
            "source": self.source.as_dict(),
            "format": self.source.layout,
            "n_ratings": described["n_ratings"],
            "n_users": described["n_users"],
            "n_items": described["n_items"],
            "density": described["density"],
            "sample": self.ratings.attrs.get("sample", {}),
            "split": self.split.summary(),
            "footprint_mb": round(self.footprint_mb, 2),
        }

    def footprint_table(self) -> pd.DataFrame:
        """One row per data structure with its size in MB."""
        rows = [
            ("ratings frame", len(self.ratings), self.ratings.memory_usage(deep=True).sum()),
            ("train frame", len(self.split.train), self.split.train.memory_usage(deep=True).sum()),
            ("test frame", len(self.split.test), self.split.test.memory_usage(deep=True).sum()),
            ("train CSR matrix (float32)", self.train.nnz, self.train.nbytes),
        ]
        return pd.DataFrame(
            [(name, n, round(size / 2**20, 3)) for name, n, size in rows],
            columns=["structure", "rows / nnz", "MB"],
        )


def prepare_data(params: NotebookParams, monitor: MemoryMonitor | None = None) -> PreparedData:
    """Find the source, load (sampling while streaming), split and encode the training set."""
    monitor = monitor or MemoryMonitor()
    source = find_source(params.DATA_PATH)
    with monitor.track("load data"):
        ratings = load_ratings(
            source, sample_size=params.SAMPLE_SIZE, strategy=params.SAMPLING, seed=params.SEED
        )
    with monitor.track("split"):
        split = split_ratings(
            ratings, params.SPLIT, test_fraction=params.TEST_FRACTION, seed=params.SEED
        )
        train = Interactions.from_ratings(split.train)
    return PreparedData(source, ratings, split, train)


def classical_models(params: ClassicalParams, n_items: int) -> dict[str, Recommender]:
    """The classical notebook's models, yardsticks first, built from its parameters.

    Raises:
        ValueError: KNN_NEIGHBORS is not below the number of training items.
    """
    if n_items <= params.KNN_NEIGHBORS:
        raise ValueError(
            f"KNN_NEIGHBORS={params.KNN_NEIGHBORS} needs more items than that; "
            f"the training set has {n_items}"
        )
    return {
        "BiasBaseline": BiasBaseline(),
        "Popularity": Popularity(),
        "SVD": SVD(n_components=params.SVD_COMPONENTS, seed=params.SEED),
        "ItemKNN": ItemKNN(n_neighbors=params.KNN_NEIGHBORS),
        "ALS": ALS(factors=params.ALS_FACTORS, iterations=params.ALS_ITERATIONS, seed=params.SEED),
    }


def plan_fit(model: Recommender, train: Interactions, name: str | None = None) -> Preflight:
    """Preflight verdict for fitting `model` on `train`, from its memory estimate."""
    estimate = model.estimate_fit_bytes(train.n_users, train.n_items, train.nnz)
    return preflight(estimate, label=f"{name or type(model).__name__} fit")


def fit_and_evaluate(
    name: str,
    model: Recommender,
    data: PreparedData,
    *,
    monitor: MemoryMonitor,
    run: RunRecorder | None = None,
    k: int = 10,
    device: str = "cpu",
    eval_users: int | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """Fit `model` on the training set, then `evaluate_fitted` it (metrics returned)."""
    with monitor.track(f"fit {name}") as fit_record:
        model.fit(data.train)
    return evaluate_fitted(
        name,
        model,
        data,
        fit_record,
        monitor=monitor,
        run=run,
        k=k,
        device=device,
        eval_users=eval_users,
        seed=seed,
    )


def evaluate_fitted(
    name: str,
    model: Recommender,
    data: PreparedData,
    fit_record: TrackRecord,
    *,
    monitor: MemoryMonitor,
    run: RunRecorder | None = None,
    k: int = 10,
    device: str = "cpu",
    eval_users: int | None = None,
    seed: int = 42,
) -> dict[str, Any]:
    """Evaluate a fitted model on the test set, save it in the run folder, and record the
    metrics (also returned).

    Args:
        fit_record: the `track` record of the fit (its time and peak memory are reported).

    Returns:
        rmse/mae (rating models), ranking metrics at `k`, fit_seconds, peak_rss_mb,
        peak_gpu_mb (when CUDA), model_mb (saved file size) and fallback counts.
    """
    metrics: dict[str, Any] = {}
    with monitor.track(f"evaluate {name}") as eval_record:
        if model.predicts_ratings:
            metrics.update(evaluate_ratings(model, data.split.test))
        metrics.update(
            evaluate_ranking(
                model,
                model.train_,
                data.split.test,
                k=k,
                device=device,
                max_users=eval_users,
                seed=seed,
            )
        )
    metrics.update(
        fit_seconds=round(fit_record.seconds, 3),
        evaluate_seconds=round(eval_record.seconds, 3),
        peak_rss_mb=round(fit_record.peak_rss_mb, 1),
    )
    if fit_record.peak_gpu_mb is not None:
        metrics["peak_gpu_mb"] = round(fit_record.peak_gpu_mb, 1)
    if run is not None:
        path = model.save(run.run_dir / "models" / f"{name}.npz")
        metrics["model_mb"] = round(path.stat().st_size / 2**20, 3)
        run.add_metrics(name, metrics)
    logger.info("%s: %s", name, {key: _short(value) for key, value in metrics.items()})
    return metrics


def _short(value: Any) -> Any:
    return round(value, 4) if isinstance(value, (float, np.floating)) else value
