"""Run the notebooks headlessly with papermill: one run folder per run, grids of runs, and
the outcome read back from each run's `results.json`."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import recsys_lib
from recsys_lib.runs.notebooks import NOTEBOOKS, notebook_spec, resumed_params
from recsys_lib.runs.notify import notify_run_end
from recsys_lib.runs.record import (
    RESULTS_FILE,
    TERMINAL_STATUSES,
    RunLock,
    check_run_dir_free,
    new_run_dir,
    read_results,
    write_json_atomic,
)
from recsys_lib.runs.signals import SignalForwarder, forward_signals

__all__ = [
    "NOTEBOOKS_ENV",
    "RunOutcome",
    "combo_folder_names",
    "notebook_path",
    "run_grid",
    "run_notebook",
]

logger = logging.getLogger(__name__)

NOTEBOOKS_ENV = "RECSYS_NOTEBOOKS"


@dataclass(frozen=True)
class RunOutcome:
    """What one notebook run left: its folder, executed notebook and results."""

    run_dir: Path
    executed: Path
    results: dict[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the run finished with status "ok"."""
        return self.results.get("status") == "ok"

    @property
    def interrupted_by(self) -> str | None:
        """The signal that interrupted the run ("SIGTERM", "SIGINT"), else None."""
        if self.results.get("status") != "interrupted":
            return None
        return self.results.get("interrupted_by")


def notebook_path(name: str) -> Path:
    """The `.ipynb` of a notebook (its key "classical" or stem "classical_cf"), from
    RECSYS_NOTEBOOKS, the source tree beside the package, or ./notebooks.

    Raises:
        KeyError: no such notebook.
        FileNotFoundError: its file is in none of those folders.
    """
    stem = notebook_spec(name).stem
    folders = [Path(os.environ[NOTEBOOKS_ENV])] if NOTEBOOKS_ENV in os.environ else []
    folders += [Path(recsys_lib.__file__).resolve().parent.parent / "notebooks", Path("notebooks")]
    for folder in folders:
        path = folder / f"{stem}.ipynb"
        if path.is_file():
            return path
    looked = ", ".join(str(folder) for folder in folders)
    raise FileNotFoundError(
        f"notebook {stem}.ipynb not found (looked in {looked}); known runs: "
        f"{', '.join(NOTEBOOKS)}; set {NOTEBOOKS_ENV} to the notebooks folder"
    )


def _results_dir(argument: str | Path | None, parameter: Any) -> str | Path | None:
    """The run folder asked for by `results_dir` or by a RESULTS_DIR parameter.

    Raises:
        ValueError: both are given and name different folders.
    """
    if parameter is None:
        return argument
    if argument is not None and Path(argument).resolve() != Path(parameter).resolve():
        raise ValueError(f"results_dir {argument} and the RESULTS_DIR parameter {parameter} "
                         "name different folders; give one")
    return parameter


def run_notebook(
    name: str,
    parameters: dict[str, Any] | None = None,
    *,
    results_dir: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    timeout_s: float | None = None,
    grace_s: float | None = None,
) -> RunOutcome:
    """Execute a notebook into a new run folder (or resume the run in `resume`) and return
    its outcome. A failed or interrupted run does not raise: see `results["status"]`.

    SIGTERM and SIGINT received meanwhile are forwarded to the kernel, which checkpoints
    and records "interrupted"; after `grace_s` seconds (RECSYS_SIGNAL_GRACE_S, else 120)
    it is killed.

    Raises:
        RunExistsError: `results_dir` already holds a run, or another run writes there;
            `resume` holds no run or one that finished ok.
        ConfigError: with `resume`, a parameter differs from the run's (checked before
            the kernel starts).
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = notebook_path(name)
    experiment = (parameters or {}).get("EXPERIMENT_ID")
    results_dir = _results_dir(results_dir, (parameters or {}).get("RESULTS_DIR"))
    run_dir = (Path(resume) if resume is not None
               else new_run_dir(source.stem, results_dir, experiment))
    params = {**(parameters or {}), "RESULTS_DIR": str(run_dir.resolve())}
    if resume is not None:
        params["RESUME"] = str(run_dir.resolve())
    lock = RunLock.acquire(run_dir)
    try:
        check_run_dir_free(run_dir, resume=resume is not None)
        if resume is not None:
            resumed_params(notebook_spec(name).params_type(), run_dir, parameters or {})
        executed = _executed_path(run_dir, source.stem)
        error: str | None = None
        with forward_signals(grace_s) as forwarder:
            try:
                papermill.execute_notebook(
                    str(source),
                    str(executed),
                    parameters=params,
                    progress_bar=progress,
                    kernel_name="python3",
                    cwd=str(run_dir),
                    execution_timeout=timeout_s,
                )
            except PapermillExecutionError as failure:
                error = f"{failure.ename}: {failure.evalue} (cell {failure.exec_count})"
            except Exception as failure:  # the kernel died or could not start
                error = f"{type(failure).__name__}: {failure}"
        results = _results_after(run_dir, source.stem, params, error, forwarder)
    finally:
        lock.release()
    return RunOutcome(run_dir, executed, results)


def _executed_path(run_dir: Path, stem: str) -> Path:
    """Where the executed notebook goes; a resumed run's does not replace the first one's."""
    path = run_dir / f"{stem}.executed.ipynb"
    attempt = 1
    while path.exists():
        path = run_dir / f"{stem}.resumed-{attempt}.executed.ipynb"
        attempt += 1
    return path


def run_grid(
    name: str,
    base: dict[str, Any],
    grid: list[dict[str, Any]],
    *,
    progress: bool = True,
    results_dir: str | Path | None = None,
) -> list[RunOutcome]:
    """One run per grid combination (over `base` parameters), in sequence; a failing run
    is recorded and the rest go on; an interrupted one stops the grid.

    Args:
        results_dir: a folder holding one sub-folder per combination, named for the values
            that vary (`SEED-1_kl_weight-0.02`); None: each run's default folder.
    """
    combos = grid or [{}]
    folders = combo_folder_names(combos)
    outcomes = []
    for position, (combo, folder) in enumerate(zip(combos, folders, strict=True), start=1):
        logger.info("run %d/%d: %s", position, len(combos), combo)
        run_dir = None if results_dir is None else Path(results_dir) / folder
        outcome = run_notebook(name, {**base, **combo}, progress=progress, results_dir=run_dir)
        outcomes.append(outcome)
        if outcome.interrupted_by:
            logger.warning("%s: the remaining %d run(s) are not started",
                           outcome.interrupted_by, len(combos) - position)
            break
    return outcomes


def combo_folder_names(combos: list[dict[str, Any]]) -> list[str]:
    """A folder name per grid combination from the values that differ between them
    (OVERRIDES' keys included): `SEED-1_hidden_dims-64x32`; "run-N" when none differ."""
    flat = [{**{k: v for k, v in combo.items() if k != "OVERRIDES"},
             **(combo.get("OVERRIDES") or {})} for combo in combos]
    keys = list(dict.fromkeys(key for values in flat for key in values))
    varying = [key for key in keys if len({repr(values.get(key)) for values in flat}) > 1]

    def shown(value: Any) -> str:
        text = "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-") or "none"

    names = ["_".join(f"{key}-{shown(values.get(key))}" for key in varying) or
             f"run-{position}" for position, values in enumerate(flat, start=1)]
    return [name if names.count(name) == 1 else f"{name}-{position}"
            for position, name in enumerate(names, start=1)]


def _results_after(
    run_dir: Path,
    notebook: str,
    params: dict[str, Any],
    error: str | None,
    forwarder: SignalForwarder | None = None,
) -> dict[str, Any]:
    """The run's results.json, given a terminal status when the kernel could not: written
    here when the kernel died before writing one; "interrupted" when a signal came and the
    kernel did not record it; "failed" when the notebook raised or ended early."""
    path = run_dir / RESULTS_FILE
    results = read_results(path) if path.exists() else {"notebook": notebook, "params": params}
    if results.get("status") in TERMINAL_STATUSES and (error is None or results["status"] !=
                                                       "ok"):
        return results
    if forwarder is not None and forwarder.received:
        killed = (f"; the kernel did not stop within {forwarder.grace_s:.0f} s and was killed"
                  if forwarder.killed else "")
        results.update(status="interrupted", interrupted_by=forwarder.received,
                       error=f"interrupted by {forwarder.received}{killed}")
    elif error is not None:
        results.update(status="failed", error=error)
    else:
        results.update(status="failed", error="the notebook ended without finishing the run")
    write_json_atomic(path, results)
    notify_run_end(results, run_dir)  # the kernel could not: tell the webhook here
    return results
