"""Hyper-parameter search with Optuna (the optional `tune` extra): a study over a search
space (`runs.space`), its trials run in-process (`runs.trials`), stored in SQLite in the
study folder so that a killed search resumes; at the end the best parameters, the trials
table (CSV), a plot of the optimisation history and parameter importances, and the best
configuration as a YAML file that `recsys run vae --config` accepts.

Study folder: `study.db` (Optuna), `tune.json` (what was searched, status, best),
`space.yaml` (a copy of the space), `trials/trial-NNN/results.json`, `trials.csv`,
`study.png` and `best_config.yaml` (VAE) or `best_params.yaml` (classical).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from recsys_lib.environment import output_root
from recsys_lib.runs.notify import notify_message
from recsys_lib.runs.record import RunLock, new_run_dir, read_results, write_json_atomic
from recsys_lib.runs.space import SearchSpace
from recsys_lib.runs.trials import TRIALS_DIR, TrialRunner, objective_direction

__all__ = ["STUDY_FILE", "TUNE_FILE", "TuneOutcome", "latest_unfinished_study", "tune"]

logger = logging.getLogger(__name__)

STUDY_FILE = "study.db"
TUNE_FILE = "tune.json"
SPACE_COPY = "space.yaml"
_STUDY_NAME = "recsys"
#: Run-folder keys a best config must not carry (the notebook sets them per run).
_NOT_IN_BEST_CONFIG = ("checkpoint_dir", "full_checkpoints")


@dataclass(frozen=True)
class TuneOutcome:
    """What a search left.

    Attributes:
        study_dir: the study folder.
        metric: the optimised metric; direction: "minimize" or "maximize".
        best_value: the best trial's value (None when no trial completed).
        best_params: the best trial's searched settings.
        trials: one row per trial: number, state, value, seconds, the searched settings.
        files: name -> path of the trials CSV, the plot and the best configuration.
        interrupted: the signal that stopped the search, if any.
    """

    study_dir: Path
    metric: str
    direction: str
    best_value: float | None
    best_params: dict[str, Any]
    trials: pd.DataFrame
    files: dict[str, Path]
    interrupted: str | None = None


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as error:
        raise ImportError("recsys tune needs Optuna: pip install 'recsys-lib[tune]' "
                          "(Kaggle's image ships it)") from error
    return optuna


def tune(
    space: SearchSpace | None,
    n_trials: int,
    *,
    study_dir: str | Path | None = None,
    resume: bool = False,
    timeout_minutes: float | None = None,
    experiment_id: str | None = None,
    seed: int = 42,
    pruner: Any = None,
) -> TuneOutcome:
    """Run (or, with `resume`, continue) a search until the study holds `n_trials`
    finished trials or `timeout_minutes` pass.

    Args:
        space: the search space; None with `resume` takes the study's own.
        n_trials: finished trials the study should hold in all (a resumed study runs the
            rest; a trial a kill cut short is run again).
        study_dir: the study folder; None makes `runs/[<experiment>/]<time>-tune-<nb>`.
        resume: continue the study in `study_dir`.
        timeout_minutes: stop starting trials after this long.
        experiment_id: recorded in every trial (default: the study folder's name).
        seed: seeds the sampler (offset by the trials already run on resume).
        pruner: an Optuna pruner (default: median pruning after 2 trials and 2 epochs).

    Raises:
        ConfigError: the space is invalid (checked before any trial).
        FileNotFoundError: `resume` and `study_dir` holds no study.
        ImportError: Optuna is not installed.
    """
    optuna = _optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if n_trials <= 0:
        raise ValueError(f"--trials must be positive, got {n_trials}")
    if resume:
        if study_dir is None or not (Path(study_dir) / STUDY_FILE).is_file():
            raise FileNotFoundError(f"no study to resume in {study_dir} (no {STUDY_FILE})")
        study_dir = Path(study_dir)
        info = read_results(study_dir / TUNE_FILE)
        space = space or SearchSpace.from_yaml(study_dir / SPACE_COPY)
        experiment_id = experiment_id or info.get("experiment_id")
    else:
        if space is None:
            raise ValueError("a new search needs a search space")
        study_dir = new_run_dir(f"tune-{space.notebook}", study_dir, experiment_id)
        if (study_dir / STUDY_FILE).exists():
            raise FileExistsError(f"{study_dir} already holds a study; resume it with "
                                  f"--resume or choose another folder")
    metric, direction = objective_direction(space)
    experiment_id = experiment_id or study_dir.name
    lock = RunLock.acquire(study_dir)
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{(study_dir / STUDY_FILE).resolve()}")
        if resume:
            study = optuna.load_study(study_name=_STUDY_NAME, storage=storage)
            _requeue_killed(study, storage, study_dir)
        else:
            study = optuna.create_study(study_name=_STUDY_NAME, storage=storage,
                                        direction=direction)
            if Path(space.source).resolve() != (study_dir / SPACE_COPY).resolve():
                shutil.copyfile(space.source, study_dir / SPACE_COPY)
        study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
        study.pruner = pruner or optuna.pruners.MedianPruner(n_startup_trials=2,
                                                             n_warmup_steps=2)
        info = {"status": "running", "notebook": space.notebook, "metric": metric,
                "direction": direction, "n_trials": n_trials, "experiment_id": experiment_id,
                "space": str(study_dir / SPACE_COPY)}
        write_json_atomic(study_dir / TUNE_FILE, info)
        runner = TrialRunner(space, study_dir, experiment_id)
        remaining = n_trials - _finished(study)
        if remaining > 0:
            study.optimize(runner, n_trials=remaining, catch=(Exception,),
                           timeout=None if timeout_minutes is None else timeout_minutes * 60)
        outcome = _conclude(study, space, study_dir, metric, direction, runner.interrupted)
        info.update(status="interrupted" if runner.interrupted else "ok",
                    best_value=outcome.best_value, best_params=outcome.best_params,
                    files={name: str(path) for name, path in outcome.files.items()})
        write_json_atomic(study_dir / TUNE_FILE, info)
    finally:
        lock.release()
    best = ", ".join(f"{key}={value}" for key, value in outcome.best_params.items())
    notify_message(f"recsys tune {space.notebook} {info['status']}: {study_dir}\n  best "
                   f"validation {metric} {outcome.best_value} with {best or 'no trial'}")
    return outcome


def latest_unfinished_study(root: Path | None = None) -> Path:
    """The newest study folder under `root` (default: the runs folder, experiments
    included) whose search did not finish.

    Raises:
        FileNotFoundError: there is none.
    """
    root = root or output_root()
    found = [path.parent for pattern in (f"*/{TUNE_FILE}", f"*/*/{TUNE_FILE}")
             for path in root.glob(pattern) if read_results(path).get("status") != "ok"]
    if not found:
        raise FileNotFoundError(f"no unfinished search under {root} to resume")
    return max(found, key=lambda path: (path / TUNE_FILE).stat().st_mtime)


def _finished(study: Any) -> int:
    """Trials that ended (complete, pruned or failed), leaving out those a kill cut short."""
    from optuna.trial import TrialState

    ended = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return sum(trial.state in ended and not trial.user_attrs.get("killed")
               for trial in study.trials)


def _requeue_killed(study: Any, storage: Any, study_dir: Path) -> None:
    """Trials still "running" in a study nobody runs were cut short by a kill: mark them
    failed (and their records interrupted) and queue their settings again."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = trial._trial_id  # Optuna's storage API addresses trials by this id
        storage.set_trial_user_attr(trial_id, "killed", True)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
        study.enqueue_trial(trial.params, skip_if_exists=False)
        results = study_dir / TRIALS_DIR / f"trial-{trial.number:03d}" / "results.json"
        if results.is_file():
            record = read_results(results)
            if record.get("status") == "running":
                record.update(status="interrupted", interrupted_by="SIGKILL",
                              error="killed; the search was resumed and runs it again")
                write_json_atomic(results, record)
        logger.warning("trial %d was cut short by a kill: it runs again", trial.number)


def _conclude(study: Any, space: SearchSpace, study_dir: Path, metric: str, direction: str,
              interrupted: str | None) -> TuneOutcome:
    """The trials table (CSV), the plot, and the best configuration file."""
    from optuna.trial import TrialState

    from recsys_lib.plots import plot_study, save_figure

    rows = []
    for trial in study.trials:
        values = {d.name: d.decode(trial.params[d.name]) if d.name in trial.params else None
                  for d in space.dimensions}
        seconds = (trial.duration.total_seconds() if trial.duration is not None else None)
        reported = list(trial.intermediate_values.values())
        value = trial.value if trial.value is not None else (reported[-1] if reported else None)
        rows.append({"number": trial.number, "state": trial.state.name.lower(),
                     metric: value, "seconds": seconds, **values})
    table = pd.DataFrame(rows)
    files = {"trials": study_dir / "trials.csv"}
    table.to_csv(files["trials"], index=False)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    best_value, best_params = None, {}
    if complete:
        best = study.best_trial
        best_value = best.value
        best_params = {d.name: d.decode(best.params[d.name]) for d in space.dimensions}
        files["best"] = _write_best(space, study_dir, best.number, best_params, metric,
                                    best_value)
    importances = _importances(study) if len(complete) >= 2 else {}
    figure = plot_study(table, metric, direction, importances)
    files["plot"] = save_figure(figure, study_dir, "study")
    return TuneOutcome(study_dir, metric, direction, best_value, best_params, table, files,
                       interrupted)


def _importances(study: Any) -> dict[str, float]:
    """Parameter importances (fANOVA), empty when they cannot be computed."""
    import optuna

    try:
        return dict(optuna.importance.get_param_importances(study))
    except (ValueError, RuntimeError, ImportError, ZeroDivisionError) as error:
        logger.warning("no parameter importances: %s", error)
        return {}


def _write_best(space: SearchSpace, study_dir: Path, number: int, best: dict[str, Any],
                metric: str, value: float) -> Path:
    """The best configuration: for a VAE, the full config the best trial trained with
    (`recsys run vae --config best_config.yaml`); for a classical model its parameters."""
    params, _ = space.settings(best)
    header = (f"# Best of the search in {study_dir} (trial {number}): validation {metric} "
              f"= {value:.6g}\n")
    options = " ".join(f"-p {key} {value}" for key, value in params.items()
                       if key not in ("CONFIG", "MODEL"))
    if space.notebook == "vae":
        results = read_results(study_dir / TRIALS_DIR / f"trial-{number:03d}")
        config = {key: value for key, value in results["config"].items()
                  if key not in _NOT_IN_BEST_CONFIG}
        path = study_dir / "best_config.yaml"
        how = f"# Confirm on the test set: recsys run vae --config {path} {options}\n"
        path.write_text(header + how + yaml.safe_dump(config, sort_keys=False))
        return path
    path = study_dir / "best_params.yaml"
    how = f"# Confirm on the test set: recsys run classical {options}\n"
    path.write_text(header + how + yaml.safe_dump(params, sort_keys=False))
    return path
