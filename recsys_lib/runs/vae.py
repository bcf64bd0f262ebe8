"""The VAE notebook (`notebooks/vae_training`): its parameters, the run config (a YAML file
plus the notebook's overrides), the validation carve-out for early stopping, the memory
plan and the fit. Importing this module imports torch."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from recsys_lib.data import Interactions, split_ratings
from recsys_lib.device import resolve_device
from recsys_lib.memory import MemoryMonitor, TrackRecord
from recsys_lib.models.base import Recommender
from recsys_lib.models.vae import VAE_KINDS, RunConfig, VAERecommender, load_config, vae_kind
from recsys_lib.runs.overrides import apply_overrides
from recsys_lib.runs.params import NotebookParams, check_choice, check_positive
from recsys_lib.runs.signals import RunInterrupted
from recsys_lib.training import TrainingPlan
from recsys_lib.training.early_warnings import EarlyWarning
from recsys_lib.training.launch import launch
from recsys_lib.training.replicas import Replicas

logger = logging.getLogger(__name__)

__all__ = [
    "VALIDATION_FRACTION",
    "TrainedVAE",
    "TrainingDiverged",
    "VAEData",
    "VAEParams",
    "fit_vae",
    "member_configs",
    "plan_vae",
    "refit_epochs",
    "refit_vae",
    "train_on_rank",
    "train_vae",
    "training_warnings",
    "training_world_size",
    "vae_data",
    "vae_run_config",
]

VALIDATION_FRACTION = 0.1
#: Trainer stop reasons that a signal caused, and the signal.
SIGNAL_STOPS = {"sigterm": "SIGTERM", "sigint": "SIGINT"}


@dataclass(frozen=True)
class VAEParams(NotebookParams):
    """Parameters of `vae_training`: a YAML config (None: MODEL's default config) plus
    overrides (None keeps the config's value).

    Attributes:
        CONFIG: a config name (cpu_quick, mult_vae_quick, kaggle_t4, a6000) or a YAML path.
        MODEL: a VAE kind (see `recsys_lib.models.vae.VAE_KINDS`); None takes the config's.
        EPOCHS: passes over the training data.
        BATCH_SIZE: effective batch (ratings or users per optimizer step).
        MAX_MINUTES: time budget of the fit, in minutes.
        DEVICE: "auto", "cpu" or "cuda".
        TOP_K: recommendations per user in the ranking metrics.
        RESUME: a run folder to continue from its last checkpoint, or True for the latest
            unfinished run of this notebook (see `recsys_lib.runs.notebooks.start_run`).
        OVERRIDES: any config keys to override ({"kl_weight": 0.02}), applied last.
        TARGET_RMSE: RatingVAE stops once its validation RMSE is at or below it (stars).
        TARGET_NDCG: MultVAE stops once its validation NDCG@k is at or above it.
        MODEL_SEED: seed of the model's initialisation, dropout and batch order; None:
            SEED (which always drives the sample and the splits).
        ENSEMBLE_SEEDS: members trained on the same split, with model seeds MODEL_SEED,
            MODEL_SEED + 1, ...; with more than one, their predictions and scores are
            averaged (`recsys_lib.models.vae.SeedEnsemble`).
        GPUS: CUDA cards to train on, one process each (data parallel: each trains on its
            share of every batch); None: every visible card. Ignored on the CPU.
    """

    CONFIG: str | None = None
    MODEL: str | None = None
    EPOCHS: int | None = None
    BATCH_SIZE: int | None = None
    MAX_MINUTES: float | None = None
    DEVICE: str = "auto"
    TOP_K: int = 10
    RESUME: str | bool | None = None
    OVERRIDES: dict[str, Any] | None = None
    TARGET_RMSE: float | None = None
    TARGET_NDCG: float | None = None
    MODEL_SEED: int | None = None
    ENSEMBLE_SEEDS: int = 1
    GPUS: int | None = None

    MACHINE_PARAMS: ClassVar[tuple[str, ...]] = ("GPUS",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.CONFIG == "":
            raise ValueError("CONFIG must be a config name, a YAML path or None, got ''")
        if self.MODEL is not None:
            check_choice(self, "MODEL", tuple(VAE_KINDS))
        for name in ("EPOCHS", "BATCH_SIZE", "MAX_MINUTES", "TARGET_RMSE", "TARGET_NDCG",
                     "GPUS"):
            check_positive(self, name, optional=True)
        check_positive(self, "TOP_K")
        check_positive(self, "ENSEMBLE_SEEDS")
        if self.RESUME is False or self.RESUME == "":
            raise ValueError("RESUME must be a run folder, True or None")


def vae_run_config(params: VAEParams, run_dir: Path) -> RunConfig:
    """The YAML config named by CONFIG (or MODEL's default) with the notebook's overrides;
    checkpoints go to `<run_dir>/checkpoints`, full ones so an interrupted run can resume.

    Raises:
        ValueError: MODEL names another model than the CONFIG file holds.
    """
    name = params.CONFIG or vae_kind(params.MODEL or "rating_vae").default_config
    config = load_config(name)
    if params.MODEL is not None and config.model != params.MODEL:
        raise ValueError(
            f"MODEL={params.MODEL!r} but CONFIG {name!r} is a {config.model} config; "
            f"use CONFIG={vae_kind(params.MODEL).default_config!r} or leave CONFIG at None"
        )
    overrides: dict[str, Any] = {
        "epochs": params.EPOCHS,
        "batch_size": params.BATCH_SIZE,
        "max_minutes": params.MAX_MINUTES,
        "device": None if params.DEVICE == "auto" else params.DEVICE,
        "target_rmse": params.TARGET_RMSE,
        "target_ndcg": params.TARGET_NDCG,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    seed = params.SEED if params.MODEL_SEED is None else params.MODEL_SEED
    overrides.update(
        seed=seed, checkpoint_dir=str(Path(run_dir) / "checkpoints"), full_checkpoints=True
    )
    return apply_overrides(config.with_overrides(overrides), params.OVERRIDES)


def member_configs(config: RunConfig, n_members: int) -> dict[str, RunConfig]:
    """The configs of an ensemble's members by display name: one member is the model
    itself ("RatingVAE"); more are "RatingVAE seed 42", "RatingVAE seed 43", ... with
    model seeds counting up from `config`'s and checkpoints in `seed-<n>` subfolders."""
    name = vae_kind(config.model).name
    if n_members == 1:
        return {name: config}
    members = {}
    for seed in range(config.trainer.seed, config.trainer.seed + n_members):
        overrides: dict[str, Any] = {"seed": seed}
        if config.trainer.checkpoint_dir is not None:
            overrides["checkpoint_dir"] = str(Path(config.trainer.checkpoint_dir) / f"seed-{seed}")
        members[f"{name} seed {seed}"] = config.with_overrides(overrides)
    return members


@dataclass(frozen=True)
class VAEData:
    """The VAE's training set and the validation set carved out of it (random
    `VALIDATION_FRACTION` of the training ratings); the test set stays untouched."""

    fit: Interactions
    validation: Interactions

    def summary(self) -> dict[str, dict[str, int]]:
        """Sizes for `results.json` "data" (its "validation" entry)."""
        return {"validation": {"n_fit": self.fit.nnz, "n_validation": self.validation.nnz}}


def vae_data(train: Interactions, seed: int = 42) -> VAEData:
    """Split the training ratings into fit and validation parts (seeded), from the encoded
    training set (by user, then item)."""
    split = split_ratings(train.to_frame(), "random", test_fraction=VALIDATION_FRACTION,
                          seed=seed)
    return VAEData(Interactions.from_ratings(split.train), Interactions.from_ratings(split.test))


def training_world_size(gpus: int | None, device: str | None) -> int:
    """Training processes: one per CUDA card used (`gpus`; None: every visible card), one
    on the CPU.

    Raises:
        ValueError: `gpus` asks for more cards than are visible.
    """
    if resolve_device(device) != "cuda":
        if gpus is not None and gpus > 1:
            logger.warning("GPUS=%d, but training runs on the CPU: one process", gpus)
        return 1
    visible = torch.cuda.device_count()
    if gpus is not None and gpus > visible:
        raise ValueError(f"GPUS={gpus}, but {visible} CUDA card(s) are visible")
    return visible if gpus is None else gpus


def plan_vae(config: RunConfig, train: Interactions, *, world_size: int = 1
             ) -> tuple[RunConfig, TrainingPlan]:
    """The memory plan for `config` on `train` (each card's, with `world_size` > 1); when
    it will not fit and a smaller micro-batch would, the config comes back with that
    micro-batch (same effective batch).
    """
    plan = config.build().plan(train, world_size=world_size)
    if plan.verdict == "will not fit" and plan.suggested_micro_batch:
        config = config.with_overrides({"micro_batch_size": plan.suggested_micro_batch})
    return config, plan


class TrainingDiverged(RuntimeError):
    """Training stopped because the loss kept being NaN/Inf (the message says where)."""


def fit_vae(
    config: RunConfig, data: VAEData, memory: MemoryMonitor, *, resume: bool = False
) -> tuple[VAERecommender, TrackRecord]:
    """Build and fit the VAE with early stopping on the validation set, tracked.

    Args:
        resume: continue from the run's last full checkpoint (`<checkpoint_dir>/last.pt`);
            without one, training starts from the beginning (logged).

    Raises:
        RunInterrupted: a signal stopped training; the checkpoint it wrote is named.
        TrainingDiverged: the NaN/Inf guard stopped training.
    """
    model = config.build()
    resume_from = _resume_checkpoint(config, resume)
    if resume and resume_from is None:
        logger.warning("no checkpoint in %s: training starts from the beginning",
                       config.trainer.checkpoint_dir)
    with memory.track(f"fit {vae_kind(config.model).name}") as record:
        model.fit(data.fit, data.validation, resume_from=resume_from)
    _check_stop(model)
    return model, record


def refit_epochs(model: VAERecommender) -> int:
    """The epoch count early stopping chose: the best validation epoch of `model`'s fit
    (all epochs run when it had no validation)."""
    result = model.result_
    if result is None:
        raise ValueError("the model is not fitted")
    return result.best_epoch or max(len(result.history), 1)


def refit_vae(
    config: RunConfig, train: Interactions, epochs: int, memory: MemoryMonitor, *,
    resume: bool = False,
) -> tuple[VAERecommender, TrackRecord]:
    """Fit the VAE again on all of `train` for `epochs` epochs (the count early stopping
    chose on the carve-out), without validation: the reported model then saw every
    training rating, like the yardsticks it is compared with. The learning rate follows
    the selection run's schedule (spanning its `epochs`), so the refit retraces the run
    it stops where early stopping chose. Checkpoints go to `<checkpoint_dir>/refit`.

    Raises:
        RunInterrupted: a signal stopped training; the checkpoint it wrote is named.
        TrainingDiverged: the NaN/Inf guard stopped training.
    """
    folder = config.trainer.checkpoint_dir
    trainer = config.trainer
    overrides: dict[str, Any] = {"epochs": epochs, "patience": None,
                                 "schedule_epochs": trainer.schedule_epochs or trainer.epochs}
    if folder is not None:
        overrides["checkpoint_dir"] = str(Path(folder) / "refit")
    config = config.with_overrides(overrides)
    model = config.build()
    resume_from = _resume_checkpoint(config, resume)
    with memory.track(f"refit {vae_kind(config.model).name}") as record:
        model.fit(train, resume_from=resume_from)
    _check_stop(model)
    return model, record


@dataclass
class TrainedVAE:
    """The VAE fits of a run: for each ensemble member (one without an ensemble) its
    selection fit on the fit part, which picks the epoch count, and its refit on all the
    training ratings, the model reported.

    Attributes:
        name: the kind's display name (the reported model's name in results.json).
        selections: member name -> the selection fit.
        members: member name -> the refit.
        fits: member name -> the memory monitor's record of both fits.
        record: the record of the whole training.
    """

    name: str
    selections: dict[str, VAERecommender] = field(default_factory=dict)
    members: dict[str, VAERecommender] = field(default_factory=dict)
    fits: dict[str, TrackRecord] = field(default_factory=dict)
    record: TrackRecord | None = None

    @property
    def model(self) -> Recommender:
        """The reported model: the single member, or the SeedEnsemble of all of them."""
        from recsys_lib.models.vae import SeedEnsemble

        return self.members.get(self.name) or SeedEnsemble(list(self.members.values()))

    @property
    def selection(self) -> VAERecommender:
        """The first member's selection fit (its history is the one plotted)."""
        return next(iter(self.selections.values()))

    def scored(self) -> dict[str, tuple[Recommender, TrackRecord]]:
        """What the evaluation scores, by name: each member, then the ensemble (if any),
        with the record of its fit."""
        scored = {name: (model, self.fits[name]) for name, model in self.members.items()}
        scored[self.name] = (self.model, self.fits.get(self.name, self.record))
        return scored

    def warnings(self) -> list[EarlyWarning]:
        """The early warnings of every fit."""
        return training_warnings(*self.selections.values(), *self.members.values())

    def summary(self) -> dict[str, dict[str, Any]]:
        """results.json "members": per member, its epoch selection and its refit."""
        return {name: {"training": self.selections[name].result_.summary(),
                       "refit": {"epochs": refit_epochs(self.selections[name]),
                                 **self.members[name].result_.summary()}}
                for name in self.members}


def train_vae(
    config: RunConfig, data: VAEData, train: Interactions, memory: MemoryMonitor, *,
    ensemble_seeds: int = 1, resume: bool = False, world_size: int = 1,
) -> TrainedVAE:
    """Train each member (`member_configs`): select the epoch count on `data` (fit part,
    early stopping on the validation carve-out), then refit on all of `train`.

    With `world_size` > 1, that many worker processes (one per GPU) train together, data
    parallel (`recsys_lib.training.launch`), and rank 0's fits come back; checkpoints are
    the same files as in one process, so a run resumes at any world size.

    Raises:
        RunInterrupted: a signal stopped training; the checkpoint it wrote is named.
        TrainingDiverged: the NaN/Inf guard stopped training.
        WorkerDied: a worker process was killed (data parallel only).
    """
    if world_size > 1:
        label = f"train {vae_kind(config.model).name} on {world_size} processes"
        with memory.track(label):
            trained = launch(train_on_rank, world_size,
                             (config, data, train, ensemble_seeds, resume))
        for warning in trained.warnings():  # the workers' logs do not reach a notebook
            logger.warning("%s", warning)
        return trained
    trained = TrainedVAE(vae_kind(config.model).name)
    with memory.track(f"train {trained.name}") as trained.record:
        for name, member_config in member_configs(config, ensemble_seeds).items():
            with memory.track(f"train {name}") as trained.fits[name]:
                trained.selections[name], _ = fit_vae(member_config, data, memory,
                                                      resume=resume)
                epochs = refit_epochs(trained.selections[name])
                trained.members[name], _ = refit_vae(member_config, train, epochs, memory,
                                                     resume=resume)
            logger.info("%s: %s; refitted on all %d training ratings for %d epochs", name,
                        trained.selections[name].result_.message, train.nnz, epochs)
    return trained


def train_on_rank(config: RunConfig, data: VAEData, train: Interactions,
                  ensemble_seeds: int = 1, resume: bool = False) -> TrainedVAE | None:
    """One data-parallel worker's `train_vae` (the process group already joined): rank 0
    returns the fits, without their Trainers (threads do not cross processes); the
    others return None."""
    trained = train_vae(config, data, train, MemoryMonitor(), ensemble_seeds=ensemble_seeds,
                        resume=resume)
    if not Replicas.current().is_main:
        return None
    for model in (*trained.selections.values(), *trained.members.values()):
        model.trainer_ = None
    return trained


def training_warnings(*models: VAERecommender) -> list[EarlyWarning]:
    """The early warnings of the fits of `models` (the selection run, then the refit),
    each kind once: the first fit's, then the kinds a later fit adds."""
    warnings: list[EarlyWarning] = []
    for model in models:
        kinds = {warning.kind for warning in warnings}
        warnings += [w for w in model.result_.warnings if w.kind not in kinds]
    return warnings


def _resume_checkpoint(config: RunConfig, resume: bool) -> Path | None:
    """The full checkpoint a resumed fit continues from (`<checkpoint_dir>/last.pt`), or
    None when not resuming or none was written."""
    last = Path(config.trainer.checkpoint_dir or ".") / "last.pt"
    return last if resume and last.is_file() else None


def _check_stop(model: VAERecommender) -> None:
    """Raise when a signal or the NaN/Inf guard ended `model`'s fit."""
    result = model.result_
    if result.stop_reason in SIGNAL_STOPS:
        raise RunInterrupted(SIGNAL_STOPS[result.stop_reason], result.last_path)
    if result.stop_reason == "diverged":
        raise TrainingDiverged(result.message)
