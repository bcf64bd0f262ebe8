"""Run the notebooks headlessly with papermill: one run folder per run, grids of runs,
and the outcome read back from each run's `results.json`."""

from __future__ import annotations

import ast
import itertools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import recsys_lib
from recsys_lib.tracking import RESULTS_FILE, new_run_dir, read_results, write_json_atomic

__all__ = [
    "NOTEBOOKS",
    "NOTEBOOKS_ENV",
    "RunOutcome",
    "notebook_path",
    "parse_grid",
    "parse_value",
    "run_grid",
    "run_notebook",
]

logger = logging.getLogger(__name__)

NOTEBOOKS = {"classical": "classical_cf", "vae": "vae_training"}
NOTEBOOKS_ENV = "RECSYS_NOTEBOOKS"


@dataclass(frozen=True)
class RunOutcome:
    """What one notebook run left: its folder, executed notebook and results."""

    run_dir: Path
    executed: Path
    results: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.results.get("status") == "ok"


def notebook_path(name: str) -> Path:
    """The `.ipynb` for "classical" or "vae" (or a notebook stem), from RECSYS_NOTEBOOKS,
    the source tree beside the package, or ./notebooks."""
    stem = NOTEBOOKS.get(name, name)
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


def parse_value(text: str) -> Any:
    """A parameter value from the command line: None, True/False, int, float, else str."""
    if text in ("None", "none", "null"):
        return None
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, (int, float)) else text


def parse_grid(specs: list[str]) -> list[dict[str, Any]]:
    """Every combination of `NAME=v1,v2,...` specs, in order (an empty list gives one run).

    Raises:
        ValueError: a spec is not `NAME=VALUES`, or a name repeats.
    """
    axes: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not name or not values:
            raise ValueError(f"grid spec {spec!r} must look like NAME=v1,v2 (e.g. SEED=1,2,3)")
        if name in axes:
            raise ValueError(f"grid parameter {name} is given twice")
        axes[name] = [parse_value(value.strip()) for value in values.split(",")]
    return [dict(zip(axes, combo, strict=False)) for combo in itertools.product(*axes.values())]


def run_notebook(
    name: str,
    parameters: dict[str, Any] | None = None,
    *,
    results_dir: str | Path | None = None,
    progress: bool = True,
    timeout_s: float | None = None,
) -> RunOutcome:
    """Execute a notebook into a new run folder and return its outcome (never raises for a
    failed run: the failure is in `results["status"]` and `results["error"]`)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    source = notebook_path(name)
    run_dir = new_run_dir(source.stem, results_dir)
    executed = run_dir / f"{source.stem}.executed.ipynb"
    params = {**(parameters or {}), "RESULTS_DIR": str(run_dir.resolve())}
    error: str | None = None
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
    results = _results_after(run_dir, source.stem, params, error)
    return RunOutcome(run_dir, executed, results)


def run_grid(
    name: str,
    base: dict[str, Any],
    grid: list[dict[str, Any]],
    *,
    progress: bool = True,
) -> list[RunOutcome]:
    """One run per grid combination (over `base` parameters), in sequence; a failing run
    is recorded and the rest go on."""
    outcomes = []
    for position, combo in enumerate(grid or [{}], start=1):
        logger.info("run %d/%d: %s", position, len(grid or [{}]), combo)
        outcomes.append(run_notebook(name, {**base, **combo}, progress=progress))
    return outcomes


def _results_after(
    run_dir: Path, notebook: str, params: dict[str, Any], error: str | None
) -> dict[str, Any]:
    """The run's results.json; written here when the kernel died before writing one, and
    marked failed when the notebook raised but the file still says otherwise."""
    path = run_dir / RESULTS_FILE
    results = read_results(path) if path.exists() else {"notebook": notebook, "params": params}
    if error is not None and results.get("status") != "failed":
        results.update(status="failed", error=error)
        write_json_atomic(path, results)
    elif error is None and results.get("status") not in ("ok", "failed"):
        results.update(status="failed", error="the notebook ended without finishing the run")
        write_json_atomic(path, results)
    return results
