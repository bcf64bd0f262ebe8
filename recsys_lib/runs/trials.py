"""One search trial, run in-process through the library (no kernel per trial): the VAE's
steps (pruned on the trainer's per-epoch validation metric) or one classical model's.

Each trial records itself like a notebook run: `<study>/trials/trial-NNN/results.json`
(params, config, training, history, validation metrics), so `recsys report` reads a study
like any other runs folder. Trials score on the validation carve-out of the training
ratings (`runs.vae.VALIDATION_FRACTION`); the test set stays for the confirming run.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys_lib.memory import MemoryMonitor
from recsys_lib.runs.record import RunRecord
from recsys_lib.runs.space import SearchSpace

__all__ = ["TRIALS_DIR", "TrialRunner", "objective_direction"]

logger = logging.getLogger(__name__)

TRIALS_DIR = "trials"
_DATA_KEYS = ("DATA_PATH", "SAMPLE_SIZE", "SAMPLING", "SPLIT", "TEST_FRACTION", "SEED",
              "ON_BAD_ROWS")


class _PruneOnEpoch:
    """A trainer callback: after each epoch, report the validation metric to the trial
    and stop training when Optuna's pruner says so."""

    def __init__(self, trial: Any, model: Any, key: str) -> None:
        self.trial, self.model, self.key = trial, model, key
        self.pruned_at: int | None = None

    def __call__(self, info: Any) -> None:
        """Per step: nothing."""

    def on_epoch_end(self, row: dict[str, Any]) -> None:
        """Report `row[key]` at its epoch; prune (stop training) when the pruner says so."""
        value = row.get(self.key)
        if value is None or not math.isfinite(value):
            return
        self.trial.report(float(value), int(row["epoch"]))
        if self.trial.should_prune():
            self.pruned_at = int(row["epoch"])
            self.model.trainer_.request_stop("callback")


def objective_direction(space: SearchSpace) -> tuple[str, str]:
    """The metric a study optimises and "minimize" or "maximize".

    A VAE study optimises its model's validation metric (RMSE for RatingVAE, NDCG@k for
    MultVAE); a classical one the space's `metric` (default ndcg@10).

    Raises:
        ConfigError: the space's settings are not valid (checked with a first value of
            every dimension, before any trial).
    """
    params, overrides = space.settings(space.first_settings())
    if space.notebook == "vae":
        from recsys_lib.runs.vae import VAEParams, vae_run_config

        vae_params = VAEParams.from_dict({**params, "OVERRIDES": overrides or None},
                                         source=space.source)
        metric, mode = vae_run_config(vae_params, Path(".")).build().validation_metric
        return metric, "minimize" if mode == "min" else "maximize"
    from recsys_lib.config import ConfigError
    from recsys_lib.runs.classical import CLASSICAL_MODELS, ClassicalParams

    ClassicalParams.from_dict(params, source=space.source)
    names = [entry.name for entry in CLASSICAL_MODELS]
    if space.model not in names:
        raise ConfigError(f"{space.source}: model must be one of {', '.join(names)}, got "
                          f"{space.model!r}")
    metric = space.metric or "ndcg@10"
    return metric, "minimize" if metric in ("rmse", "mae") else "maximize"


@dataclass
class TrialRunner:
    """Runs the trials of one study (an Optuna objective: `runner(trial) -> value`).

    Attributes:
        space: the search space.
        study_dir: the study folder (trials go to `trials/trial-NNN`).
        experiment_id: recorded in every trial's results.json.
        interrupted: the signal that stopped the last trial, if any.
    """

    space: SearchSpace
    study_dir: Path
    experiment_id: str
    interrupted: str | None = None
    _data: dict[tuple, Any] = field(default_factory=dict)

    def __call__(self, trial: Any) -> float:
        chosen = {d.name: d.suggest(trial) for d in self.space.dimensions}
        trial_dir = self.study_dir / TRIALS_DIR / f"trial-{trial.number:03d}"
        params, overrides = self.space.settings(chosen)
        raw = {**params, "RESULTS_DIR": str(trial_dir), "EXPERIMENT_ID": self.experiment_id}
        notebook = "vae_training" if self.space.notebook == "vae" else "classical_cf"
        record = RunRecord(trial_dir, notebook, {**raw, "OVERRIDES": overrides or None},
                           announce=False)
        record.add("trial", {"number": trial.number, "study": str(self.study_dir),
                             "chosen": chosen, "evaluated_on": "validation"})
        try:
            if self.space.notebook == "vae":
                value = self._vae(trial, record, raw, overrides)
            else:
                value = self._classical(record, raw)
        except BaseException as error:
            self._record_end(record, error, trial)
            raise
        record.finish()
        return value

    def _record_end(self, record: RunRecord, error: BaseException, trial: Any) -> None:
        import optuna

        from recsys_lib.runs.signals import RunInterrupted

        if record.status != "running":
            return
        if isinstance(error, optuna.TrialPruned):
            record.finish()
        elif isinstance(error, RunInterrupted | KeyboardInterrupt):
            name = getattr(error, "signal_name", "SIGINT")
            record.interrupt(name, getattr(error, "checkpoint", None))
            self.interrupted = name
            trial.study.stop()
        else:
            record.fail(error)

    def _prepared(self, params: Any) -> tuple[Any, Any]:
        """The data and its fit/validation split, loaded once per data setting."""
        from recsys_lib.runs.steps import prepare_data
        from recsys_lib.runs.vae import vae_data

        key = tuple(getattr(params, name) for name in _DATA_KEYS)
        if key not in self._data:
            data = prepare_data(params)
            self._data = {key: (data, vae_data(data.train, seed=params.SEED))}
        return self._data[key]

    def _vae(self, trial: Any, record: RunRecord, raw: dict[str, Any],
             overrides: dict[str, Any]) -> float:
        import optuna

        from recsys_lib.runs.signals import RunInterrupted
        from recsys_lib.runs.vae import (
            SIGNAL_STOPS,
            TrainingDiverged,
            VAEParams,
            plan_vae,
            vae_run_config,
        )

        params = VAEParams.from_dict({**raw, "OVERRIDES": overrides or None},
                                     source=f"trial {trial.number}")
        data, split = self._prepared(params)
        record.set_data({**data.summary(), "validation": split.summary()})
        config, _ = plan_vae(vae_run_config(params, Path(raw["RESULTS_DIR"])), split.fit)
        record.add("config", config.to_dict())
        model = config.build()
        metric, _ = model.validation_metric
        pruning = _PruneOnEpoch(trial, model, f"val_{metric}")
        model.callbacks.append(pruning)
        memory = MemoryMonitor()
        with memory.track(f"fit {config.kind.name}") as fit:
            model.fit(split.fit, split.validation)
        result = model.result_
        summary = result.summary()
        if pruning.pruned_at is not None:
            summary["stop_reason"] = "pruned"  # the trainer saw a callback's stop request
        record.add("training", summary)
        record.add("history", result.history.to_dict(orient="records"))
        if result.stop_reason in SIGNAL_STOPS:
            raise RunInterrupted(SIGNAL_STOPS[result.stop_reason], result.last_path)
        if result.stop_reason == "diverged":
            raise TrainingDiverged(result.message)
        record.add_metrics(config.kind.name, {
            metric: result.best_metric, "fit_seconds": round(fit.seconds, 3),
            "peak_rss_mb": round(fit.peak_rss_mb, 1)})
        if pruning.pruned_at is not None:
            record.add("trial", {**record.results["trial"], "pruned_at_epoch": pruning.pruned_at})
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
        if result.best_metric is None:
            raise ValueError(f"trial {trial.number}: no epoch finished ({result.message})")
        return float(result.best_metric)

    def _classical(self, record: RunRecord, raw: dict[str, Any]) -> float:
        from recsys_lib.device import resolve_device
        from recsys_lib.runs.classical import ClassicalParams, classical_models
        from recsys_lib.runs.steps import EvaluationContext

        params = ClassicalParams.from_dict(raw, source="the trial's parameters")
        data, split = self._prepared(params)
        record.set_data({**data.summary(), "validation": split.summary()})
        name = self.space.model
        model = classical_models(params, split.fit.n_items)[name]
        memory = MemoryMonitor()
        with memory.track(f"fit {name}") as fit:
            model.fit(split.fit)
        evaluation = EvaluationContext(split.validation.to_frame(), memory, k=params.TOP_K,
                                       device=resolve_device(params.DEVICE),
                                       max_users=params.EVAL_USERS, seed=params.SEED)
        scores = evaluation.evaluate(name, model, fit)
        record.add_metrics(name, scores.summary())
        metric = self.space.metric or "ndcg@10"
        if metric not in scores.metrics:
            raise ValueError(f"{name} has no {metric}; it has {', '.join(scores.metrics)}")
        return float(scores.metrics[metric])
