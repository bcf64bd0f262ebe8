"""The notebooks the library runs, one entry each, and how a notebook starts its run.

Adding a notebook: `notebooks/NAME.py` (+ its paired `.ipynb`), a `recsys_lib/runs/` module
holding its parameters class and steps, and one `NotebookSpec` entry below.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys_lib.config import ConfigError
from recsys_lib.environment import output_root
from recsys_lib.runs.params import NotebookParams
from recsys_lib.runs.record import RESULTS_FILE, RunRecord, new_run_dir, read_results
from recsys_lib.runs.signals import RunInterrupted, interrupt_on_sigterm

__all__ = [
    "NOTEBOOKS",
    "NotebookRun",
    "NotebookSpec",
    "latest_unfinished_run",
    "notebook_spec",
    "resumed_params",
    "start_run",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotebookSpec:
    """One notebook.

    Attributes:
        key: its name on the command line (`recsys run KEY`).
        stem: its file name without suffix (`notebooks/<stem>.ipynb`), also the
            `notebook` field of results.json and the run folder's suffix.
        params: "module:Class" of its parameters (imported on use: the VAE's module
            imports torch).
    """

    key: str
    stem: str
    params: str

    def params_type(self) -> type[NotebookParams]:
        """The notebook's parameters class."""
        module, _, name = self.params.partition(":")
        return getattr(importlib.import_module(module), name)


NOTEBOOKS: dict[str, NotebookSpec] = {
    spec.key: spec
    for spec in (
        NotebookSpec("classical", "classical_cf", "recsys_lib.runs.classical:ClassicalParams"),
        NotebookSpec("vae", "vae_training", "recsys_lib.runs.vae:VAEParams"),
    )
}


def notebook_spec(name: str) -> NotebookSpec:
    """The notebook named by its key ("classical") or its stem ("classical_cf").

    Raises:
        KeyError: no such notebook; the message lists the known ones.
    """
    for spec in NOTEBOOKS.values():
        if name in (spec.key, spec.stem):
            return spec
    known = ", ".join(f"{spec.key} ({spec.stem})" for spec in NOTEBOOKS.values())
    raise KeyError(f"unknown notebook {name!r}; known: {known}")


@dataclass
class NotebookRun:
    """A started notebook run: its validated parameters and its record."""

    params: Any
    record: RunRecord

    @property
    def run_dir(self) -> Any:
        """The run folder."""
        return self.record.run_dir


def start_run(notebook: str, namespace: Mapping[str, Any]) -> NotebookRun:
    """Start a notebook run: validate its parameters, create (or, with RESUME, reopen) the
    run folder and `results.json`, and inside IPython make SIGTERM interrupt the run and
    record a later cell's error as the failure (or the interruption).

    Args:
        notebook: the notebook's key or stem ("classical_cf").
        namespace: where its UPPER_CASE parameters live (the notebook's `globals()`).

    Raises:
        ConfigError: a parameter is unknown (misspelt) or invalid; `results.json` records
            the failure first. With RESUME: a parameter set to another value than the
            resumed run's (nothing is written then).
        RunExistsError: RESULTS_DIR already holds a run, or another run writes there.
    """
    spec = notebook_spec(notebook)
    params_type = spec.params_type()
    raw = params_type.collect(namespace)
    if raw.get("RESUME"):
        params, record = _resume(spec, params_type, raw)
    else:
        results_dir = raw.get("RESULTS_DIR")
        experiment = raw.get("EXPERIMENT_ID")
        run_dir = new_run_dir(spec.stem, results_dir if isinstance(results_dir, str) else None,
                              experiment if isinstance(experiment, str) else None)
        record = RunRecord(run_dir, spec.stem, raw)
        try:
            params = params_type.from_dict(raw, source="the notebook's parameters")
        except ValueError as error:
            record.fail(error)
            raise
        record.add("params", params.as_dict())
    _watch_notebook(record)
    return NotebookRun(params, record)


def _resume(
    spec: NotebookSpec, params_type: type[NotebookParams], raw: dict[str, Any]
) -> tuple[NotebookParams, RunRecord]:
    """The resumed run's own parameters (see `resumed_params`) and its reopened record."""
    run_dir = latest_unfinished_run(spec.stem) if raw["RESUME"] is True else Path(raw["RESUME"])
    original = resumed_params(params_type, run_dir, raw)
    resumed = {**original, "RESUME": str(run_dir), "RESULTS_DIR": str(run_dir)}
    params = params_type.from_dict(resumed, source=f"{run_dir / RESULTS_FILE}")
    record = RunRecord(run_dir, spec.stem, params.as_dict(), resume=True)
    logger.info("resuming the run in %s", run_dir)
    return params, record


def resumed_params(
    params_type: type[NotebookParams], run_dir: Path, given: Mapping[str, Any]
) -> dict[str, Any]:
    """The parameters the run in `run_dir` started with, checked against `given`: a
    parameter given with a value other than its default must equal the run's, except the
    machine's (`MACHINE_PARAMS`: GPUS), which take the given value.

    Raises:
        ConfigError: `params_type` cannot resume, or a given parameter differs (named).
        FileNotFoundError, ValueError: `run_dir` holds no readable results.json.
    """
    if "RESUME" not in params_type.field_names():
        raise ConfigError(f"{params_type.__name__} cannot resume a run (no RESUME parameter)")
    original = read_results(run_dir).get("params", {})
    defaults = params_type().as_dict()
    ignored = ("RESUME", "RESULTS_DIR", *params_type.MACHINE_PARAMS)
    differing = [
        f"{name}={value!r} (the run has {original.get(name)!r})"
        for name, value in given.items()
        if name not in ignored and value != defaults.get(name) and value != original.get(name)
    ]
    if differing:
        raise ConfigError(
            f"resuming {run_dir} with other parameters than it started with: "
            f"{', '.join(differing)}; leave them at their defaults, or start a new run"
        )
    machine = {name: given[name] for name in params_type.MACHINE_PARAMS if name in given}
    return {**original, **machine}


def latest_unfinished_run(stem: str, root: Path | None = None) -> Path:
    """The newest run folder of notebook `stem` under `root` (default: the runs folder) or
    an experiment's folder in it, whose status is not "ok".

    Raises:
        FileNotFoundError: there is none.
    """
    root = root or output_root()
    candidates = []
    for path in [*root.glob(f"*/{RESULTS_FILE}"), *root.glob(f"*/*/{RESULTS_FILE}")]:
        try:
            results = read_results(path)
        except ValueError:
            continue
        if results.get("notebook") == stem and results.get("status") != "ok":
            candidates.append((results.get("started_at") or "", path.parent))
    if not candidates:
        raise FileNotFoundError(f"no unfinished {stem} run under {root} to resume")
    return max(candidates)[1]


def _watch_notebook(record: RunRecord) -> bool:
    """Inside IPython: make SIGTERM interrupt the running cell, and register a
    `post_run_cell` callback that records the first failing cell's error (a signal as
    "interrupted"). Returns False outside IPython."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return False

    def record_cell_error(result: Any) -> None:
        error = result.error_in_exec or result.error_before_exec
        if error is None or record.status != "running":
            return
        if isinstance(error, RunInterrupted):
            record.interrupt(error.signal_name, error.checkpoint)
        elif isinstance(error, KeyboardInterrupt):
            record.interrupt("SIGINT")
        else:
            record.fail(error)

    interrupt_on_sigterm()
    shell.events.register("post_run_cell", record_cell_error)
    return True
