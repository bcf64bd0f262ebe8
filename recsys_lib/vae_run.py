"""The VAE notebook's steps: the run config (a YAML file plus the notebook's overrides),
a validation set carved out of the training set for early stopping, the plan, the fit,
and the yardsticks the VAE is shown against. Importing this module imports torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys_lib.data import Interactions, split_ratings
from recsys_lib.experiment import PreparedData
from recsys_lib.memory import MemoryMonitor, TrackRecord
from recsys_lib.models import ALS, BiasBaseline, Popularity, Recommender
from recsys_lib.models.vae import RunConfig, VAERecommender, load_config
from recsys_lib.params import VAEParams
from recsys_lib.training import TrainingPlan

__all__ = [
    "DEFAULT_CONFIGS",
    "MODEL_NAMES",
    "VALIDATION_FRACTION",
    "VAEData",
    "fit_vae",
    "plan_vae",
    "vae_data",
    "vae_run_config",
    "yardsticks",
]

DEFAULT_CONFIGS = {"rating_vae": "cpu_quick", "mult_vae": "mult_vae_quick"}
MODEL_NAMES = {"rating_vae": "RatingVAE", "mult_vae": "MultVAE"}
VALIDATION_FRACTION = 0.1


def vae_run_config(params: VAEParams, run_dir: Path) -> RunConfig:
    """The YAML config named by CONFIG (or MODEL's default) with the notebook's overrides;
    checkpoints go to `<run_dir>/checkpoints`, full ones so an interrupted run can resume.

    Raises:
        ValueError: MODEL names another model than the CONFIG file holds.
    """
    name = params.CONFIG or DEFAULT_CONFIGS[params.MODEL or "rating_vae"]
    config = load_config(name)
    if params.MODEL is not None and config.model != params.MODEL:
        raise ValueError(
            f"MODEL={params.MODEL!r} but CONFIG {name!r} is a {config.model} config; "
            f"use CONFIG={DEFAULT_CONFIGS[params.MODEL]!r} or leave CONFIG at None"
        )
    overrides: dict[str, Any] = {
        "epochs": params.EPOCHS,
        "batch_size": params.BATCH_SIZE,
        "max_minutes": params.MAX_MINUTES,
        "device": None if params.DEVICE == "auto" else params.DEVICE,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    overrides.update(
        seed=params.SEED, checkpoint_dir=str(Path(run_dir) / "checkpoints"), full_checkpoints=True
    )
    return config.with_overrides(overrides)


@dataclass(frozen=True)
class VAEData:
    """The VAE's training set and the validation set carved out of it (random
    `VALIDATION_FRACTION` of the training ratings); the test set stays untouched."""

    fit: Interactions
    validation: Interactions

    def summary(self) -> dict[str, int]:
        """Sizes for `results.json`."""
        return {"n_fit": self.fit.nnz, "n_validation": self.validation.nnz}


def vae_data(data: PreparedData, seed: int = 42) -> VAEData:
    """Split the training ratings into fit and validation parts (seeded)."""
    split = split_ratings(data.split.train, "random", test_fraction=VALIDATION_FRACTION, seed=seed)
    return VAEData(Interactions.from_ratings(split.train), Interactions.from_ratings(split.test))


def plan_vae(config: RunConfig, train: Interactions) -> tuple[RunConfig, TrainingPlan]:
    """The memory plan for `config` on `train`; when it will not fit and a smaller
    micro-batch would, the config comes back with that micro-batch (same effective batch).
    """
    plan = config.build().plan(train)
    if plan.verdict == "will not fit" and plan.suggested_micro_batch:
        config = config.with_overrides({"micro_batch_size": plan.suggested_micro_batch})
    return config, plan


def fit_vae(
    config: RunConfig, data: VAEData, monitor: MemoryMonitor
) -> tuple[VAERecommender, TrackRecord]:
    """Build and fit the VAE with early stopping on the validation set, tracked."""
    model = config.build()
    with monitor.track(f"fit {MODEL_NAMES[config.model]}") as record:
        model.fit(data.fit, data.validation)
    return model, record


def yardsticks(model_kind: str, seed: int = 42) -> dict[str, Recommender]:
    """What a VAE is shown against: BiasBaseline for RatingVAE (RMSE); ALS and Popularity
    for MultVAE (ranking)."""
    if model_kind == "rating_vae":
        return {"BiasBaseline": BiasBaseline()}
    return {"Popularity": Popularity(), "ALS": ALS(seed=seed)}
