"""Run folders and `results.json`: what every notebook run leaves behind, read by tests,
benchmarks and `recsys report`.

`results.json` (see DESIGN.md) holds `status` ("running", "ok" or "failed" with `error`),
`notebook`, `params`, `data`, `metrics` (per model), `environment`, and timestamps. It is
rewritten atomically after every change, so a killed kernel leaves the last good version.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import sys
import traceback
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from recsys_lib.environment import output_root, platform_name
from recsys_lib.params import NotebookParams

ParamsT = TypeVar("ParamsT", bound=NotebookParams)

__all__ = [
    "RESULTS_FILE",
    "RunRecorder",
    "environment_info",
    "new_run_dir",
    "process_peak_rss_mb",
    "read_results",
    "start_run",
    "write_json_atomic",
]

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"


def new_run_dir(notebook: str, results_dir: str | Path | None = None) -> Path:
    """Create and return the run folder.

    Args:
        notebook: notebook name, used in the default folder name.
        results_dir: explicit folder (created if missing); None makes
            `<output_root()>/<YYYYmmdd-HHMMSS>-<notebook>`, with a numeric suffix if taken.
    """
    if results_dir is not None:
        path = Path(results_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = output_root()
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        suffix = f"-{attempt}" if attempt else ""
        path = root / f"{stamp}-{notebook}{suffix}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {root}")


def environment_info() -> dict[str, Any]:
    """Python, torch, device, CPU count and memory limit of this process, JSON-ready.

    Torch's version is read from package metadata, so torch is not imported for this.
    """
    from recsys_lib.device import resolve_device
    from recsys_lib.memory import snapshot

    snap = snapshot()
    return {
        "python": platform.python_version(),
        "torch": _package_version("torch"),
        "numpy": _package_version("numpy"),
        "implicit": _package_version("implicit"),
        "recsys_lib": _package_version("recsys-lib"),
        "device": resolve_device(None),
        "platform": platform_name(),
        "cpu_count": os.cpu_count(),
        "memory_limit_mb": round(snap.limit_mb, 1),
        "memory_limit_source": snap.limit_source,
        "gpus": [gpu.name for gpu in snap.gpus],
    }


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temp file beside `path`, then rename over it (never half-written)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_jsonable(payload), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)


def read_results(path: str | Path) -> dict[str, Any]:
    """Read a `results.json` (or the one inside a run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no {RESULTS_FILE} at {path}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error


class RunRecorder:
    """Builds `results.json` for one run and rewrites it after every change.

    Args:
        run_dir: the run folder (see `new_run_dir`).
        notebook: notebook (or job) name.
        params: the run's parameters, JSON-ready.
    """

    def __init__(self, run_dir: Path, notebook: str, params: dict[str, Any]) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / RESULTS_FILE
        self.params: Any = None
        self.results: dict[str, Any] = {
            "status": "running",
            "notebook": notebook,
            "params": dict(params),
            "data": {},
            "metrics": {},
            "environment": environment_info(),
            "started_at": _now(),
        }
        self._write()

    @property
    def status(self) -> str:
        return self.results["status"]

    def set_data(self, **data: Any) -> None:
        """Merge entries into the `data` section (source, counts, sample, split)."""
        self.results["data"].update(data)
        self._write()

    def add_metrics(self, model: str, metrics: dict[str, Any]) -> None:
        """Merge metrics for one model (rmse, ndcg@10, fit_seconds, peak_rss_mb, ...)."""
        self.results["metrics"].setdefault(model, {}).update(metrics)
        self._write()

    def add(self, section: str, value: Any) -> None:
        """Set another top-level section (for example `artifacts` or `history`)."""
        if section in ("status", "error"):
            raise ValueError("use finish() or fail() to set the status")
        self.results[section] = value
        self._write()

    def finish(self) -> Path:
        """Mark the run ok (unless it already failed) and return the results path."""
        if self.results["status"] != "failed":
            self.results["status"] = "ok"
        self.results["finished_at"] = _now()
        self.results["process_peak_rss_mb"] = round(process_peak_rss_mb(), 1)
        self._write()
        return self.path

    def fail(self, error: BaseException | str) -> Path:
        """Record the run as failed with the error's type and message."""
        if isinstance(error, BaseException):
            message = f"{type(error).__name__}: {error}"
            detail = "".join(traceback.format_exception(error)[-3:])
        else:
            message, detail = str(error), ""
        self.results.update(status="failed", error=message, finished_at=_now())
        if detail:
            self.results["traceback_tail"] = detail
        self._write()
        logger.error("run failed: %s (recorded in %s)", message, self.path)
        return self.path

    def watch_notebook(self) -> bool:
        """Record a failure automatically when any later notebook cell raises.

        Registers an IPython `post_run_cell` callback; returns False outside IPython.
        """
        shell = _ipython_shell()
        if shell is None:
            return False

        def record_cell_error(result: Any) -> None:
            error = result.error_in_exec or result.error_before_exec
            if error is not None and self.status != "failed":
                self.fail(error)

        shell.events.register("post_run_cell", record_cell_error)
        return True

    def _write(self) -> None:
        write_json_atomic(self.path, self.results)


def start_run(notebook: str, params_type: type[ParamsT], namespace: dict[str, Any]) -> RunRecorder:
    """Start a notebook run: validate its parameters, create the run folder and
    `results.json`, and (inside a notebook) record any later cell error as the failure.

    Args:
        notebook: notebook name ("classical_cf", "vae_training").
        params_type: the notebook's parameter dataclass (see `recsys_lib.params`).
        namespace: where the UPPER_CASE parameters live (the notebook's `globals()`).

    Returns:
        The recorder; `recorder.params` holds the validated parameters.

    Raises:
        ValueError: a parameter is invalid; `results.json` records the failure first.
    """
    raw = params_type.collect(namespace)
    recorder = RunRecorder(new_run_dir(notebook, raw.get("RESULTS_DIR")), notebook, raw)
    try:
        recorder.params = params_type(**raw)
    except (TypeError, ValueError) as error:
        recorder.fail(error)
        raise
    recorder.watch_notebook()
    return recorder


def process_peak_rss_mb() -> float:
    """Peak resident memory of this process since it started, in MB (getrusage; the
    current RSS where getrusage does not exist)."""
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _ipython_shell() -> Any:
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    """Plain JSON types; numpy scalars unwrapped; NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
