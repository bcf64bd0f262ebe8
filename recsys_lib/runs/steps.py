"""The steps every notebook takes: find, load and split the data; check a fit against the
memory available; score a fitted model on the held-out ratings.

Fitting is the notebook's own line (`model.fit(data.train)` inside `memory.track(...)`),
so a reader sees it; saving is `RunRecord.save_model`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys_lib.data import (
    DataSource,
    Interactions,
    SplitRecord,
    describe_ratings,
    find_source,
    load_ratings,
    split_ratings,
)
from recsys_lib.evaluation import evaluate_ranking, evaluate_ratings
from recsys_lib.memory import (
    MemoryMonitor,
    Preflight,
    TrackRecord,
    preflight,
    release_freed_heap,
)
from recsys_lib.models import Recommender
from recsys_lib.runs.params import NotebookParams

__all__ = [
    "EvaluationContext",
    "ModelScores",
    "PreparedData",
    "plan_fit",
    "prepare_data",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedData:
    """What the data step produces: the source, a description of the loaded ratings, the
    split's record with its held-out ratings, and the training `Interactions` that every
    model fits on.

    Neither the loaded frame nor the training frame is kept: the encoded matrix holds the
    training ratings, and each frame would cost a MovieLens 25M run 305-500 MB more.

    Attributes:
        source: where the ratings came from.
        loaded: `describe_ratings` of the loaded (and sampled) frame, taken before the
            split: counts, density, rating range, its memory and the sample record.
        split: the train/test split's record: its held-out ratings (`split.test`) and
            counts.
        train: the encoded training ratings.
    """

    source: DataSource
    loaded: dict[str, Any]
    split: SplitRecord
    train: Interactions

    @property
    def footprint_mb(self) -> float:
        """MB held by the test frame and the training matrix."""
        return (int(self.split.test.memory_usage(deep=True).sum()) + self.train.nbytes) / 2**20

    def summary(self) -> dict[str, Any]:
        """JSON-ready description for `results.json` "data"."""
        return {
            "source": self.source.as_dict(),
            "format": self.source.layout,
            "n_ratings": self.loaded["n_ratings"],
            "n_users": self.loaded["n_users"],
            "n_items": self.loaded["n_items"],
            "density": self.loaded["density"],
            "sample": self.loaded["sample"] or {},
            "split": self.split.summary(),
            "footprint_mb": round(self.footprint_mb, 2),
        }

    def notes(self) -> list[str]:
        """What a reader should know about the loaded data: a sample larger than the data,
        malformed rows skipped."""
        sample = self.loaded["sample"] or {}
        notes = [sample["note"]] if sample.get("note") else []
        if sample.get("n_bad_rows_skipped"):
            notes.append(f"{sample['n_bad_rows_skipped']:,} malformed rows were skipped "
                         f"(ON_BAD_ROWS='skip')")
        return notes

    def footprint_table(self) -> pd.DataFrame:
        """One row per data structure held with its size in MB (the loaded frame, freed
        after the split, last)."""
        rows = [
            ("test frame", len(self.split.test), self.split.test.memory_usage(deep=True).sum()),
            ("train CSR matrix (float32)", self.train.nnz, self.train.nbytes),
            ("loaded frame (freed after the split)", self.loaded["n_ratings"],
             self.loaded["memory_mb"] * 2**20),
        ]
        return pd.DataFrame(
            [(name, n, round(size / 2**20, 3)) for name, n, size in rows],
            columns=["structure", "rows / nnz", "MB"],
        )


def prepare_data(params: NotebookParams, memory: MemoryMonitor | None = None) -> PreparedData:
    """Find the source, load (sampling while streaming), split and encode the training set,
    each step tracked by `memory`; the loaded frame is described, then freed once split,
    and the training frame once encoded."""
    memory = memory or MemoryMonitor()
    source = find_source(params.DATA_PATH)
    with memory.track("load data"):
        ratings = load_ratings(
            source,
            sample_size=params.SAMPLE_SIZE,
            strategy=params.SAMPLING,
            seed=params.SEED,
            on_bad_rows=params.ON_BAD_ROWS,
        )
        loaded = describe_ratings(ratings)
    with memory.track("split"):
        split = split_ratings(
            ratings, params.SPLIT, test_fraction=params.TEST_FRACTION, seed=params.SEED
        )
        del ratings
        train = Interactions.from_ratings(split.train)
        record = split.record()
        del split
    return PreparedData(source, loaded, record, train)


def plan_fit(model: Recommender, train: Interactions, name: str | None = None) -> Preflight:
    """Preflight verdict for fitting `model` on `train`, from its memory estimate."""
    estimate = model.estimate_fit_bytes(train.n_users, train.n_items, train.nnz)
    return preflight(estimate, label=f"{name or type(model).__name__} fit")


@dataclass(frozen=True)
class ModelScores:
    """One fitted model's scores on the held-out ratings, with its fit's cost.

    Attributes:
        name: the model's name in the run.
        metrics: rmse/mae and n_unknown_pairs (rating models), then the ranking metrics
            at k (see `evaluate_ranking`).
        fit: the memory monitor's record of the fit (seconds, peak RSS and GPU MB).
        evaluation: the record of the evaluation.
    """

    name: str
    metrics: dict[str, float | int]
    fit: TrackRecord
    evaluation: TrackRecord

    def summary(self) -> dict[str, float | int]:
        """The model's `results.json` metrics: the scores, fit_seconds, evaluate_seconds,
        peak_rss_mb and, on CUDA, peak_gpu_mb."""
        summary: dict[str, float | int] = {
            **self.metrics,
            "fit_seconds": round(self.fit.seconds, 3),
            "evaluate_seconds": round(self.evaluation.seconds, 3),
            "peak_rss_mb": round(self.fit.peak_rss_mb, 1),
        }
        if self.fit.peak_gpu_mb is not None:
            summary["peak_gpu_mb"] = round(self.fit.peak_gpu_mb, 1)
        return summary

    def describe(self) -> str:
        """One line for a notebook: fit cost and the headline scores."""
        scores = ", ".join(
            f"{name} {self.metrics[name]:.4f}"
            for name in ("rmse", *(key for key in self.metrics if key.startswith("ndcg@")))
            if name in self.metrics
        )
        return (
            f"  {self.name}: fitted in {self.fit.seconds:.2f} s, peak RSS "
            f"{self.fit.peak_rss_mb:.0f} MB; {scores}"
        )


@dataclass(frozen=True)
class EvaluationContext:
    """How every model of a run is scored: the held-out ratings, the cut-off, the device
    that scores, the user sample and the memory monitor that times it.

    Attributes:
        test: held-out ratings (user_id, item_id, rating).
        k: recommendations per user.
        device: torch device for batched scoring ("cpu", "cuda").
        max_users: score a seeded sample of this many test users (None: all): their
            rating errors, and the ranking of as many users with a relevant test rating.
        seed: seed of that sample.
        memory: tracks the evaluation's time and memory.
    """

    test: pd.DataFrame
    memory: MemoryMonitor
    k: int = 10
    device: str = "cpu"
    max_users: int | None = None
    seed: int = 42

    def evaluate(self, name: str, model: Recommender, fit: TrackRecord, *,
                 seen: Interactions | None = None) -> ModelScores:
        """Score a fitted model: rating error when it predicts ratings, then ranking quality
        with each user's training items excluded.

        Args:
            name: the model's name in the run.
            model: fitted.
            fit: the `memory.track` record of its fit.
            seen: every interaction the model saw, when it fitted on part of them (a VAE
                that early-stopped on a validation carve-out): all are excluded from its
                recommendations. None: `model.train_`.
        """
        metrics: dict[str, float | int] = {}
        with self.memory.track(f"evaluate {name}") as record:
            if model.predicts_ratings:
                metrics.update(evaluate_ratings(model, self.test, self.max_users, self.seed))
            metrics.update(
                evaluate_ranking(
                    model,
                    model.train_,
                    self.test,
                    k=self.k,
                    device=self.device,
                    max_users=self.max_users,
                    seed=self.seed,
                    seen=seen,
                    progress=f"{name} rankings",
                )
            )
        release_freed_heap()  # what the scoring batches freed, before the next step
        scores = ModelScores(name, metrics, fit, record)
        logger.info("%s: %s", name, {key: _short(value) for key, value in metrics.items()})
        return scores


def _short(value: Any) -> Any:
    return round(value, 4) if isinstance(value, (float, np.floating)) else value
