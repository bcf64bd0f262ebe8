"""The run record: a run's folder and its `results.json`, read by tests, benchmarks and
`recsys report`.

`results.json` holds `status` ("running", then "ok", "failed" with `error`, or
"interrupted"), `notebook`, `params`, `data`, `metrics` (per model), `environment`, and
timestamps. It is rewritten atomically after every change, so a killed kernel leaves the
last good version.
"""

from __future__ import annotations

import json
import logging
import math
import os
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil

from recsys_lib.environment import environment_info, output_root
from recsys_lib.files import (
    DiskFullError,
    atomic_path,
    disk_full_error,
    is_disk_full,
    remove_stale_temp_files,
)
from recsys_lib.memory.probes import peak_rss_bytes
from recsys_lib.memory.units import to_mb

__all__ = [
    "LOCK_FILE",
    "RESULTS_FILE",
    "TERMINAL_STATUSES",
    "RunExistsError",
    "RunLock",
    "RunRecord",
    "check_run_dir_free",
    "describe_error",
    "new_run_dir",
    "read_results",
    "write_json_atomic",
]

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
LOCK_FILE = ".run.lock"
TERMINAL_STATUSES = ("ok", "failed", "interrupted")


class RunExistsError(RuntimeError):
    """A run folder already holds a run, or another live run is writing to it."""


def new_run_dir(
    notebook: str, results_dir: str | Path | None = None, experiment: str | None = None
) -> Path:
    """Create and return the run folder.

    Args:
        notebook: notebook name, used in the default folder name.
        results_dir: explicit folder (created if missing); None makes
            `<output_root()>/[<experiment>/]<YYYYmmdd-HHMMSS>-<notebook>`, with a numeric
            suffix if taken.
        experiment: the experiment id grouping the run (see `NotebookParams.EXPERIMENT_ID`).
    """
    if results_dir is not None:
        path = Path(results_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = output_root() / experiment if experiment else output_root()
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


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temp file beside `path`, then rename over it (never half-written;
    no temp file survives a failed write).

    Raises:
        DiskFullError: the disk is full.
    """
    text = json.dumps(_jsonable(payload), indent=2, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def describe_error(error: BaseException) -> str:
    """"Type: message" for results.json; a full disk (ENOSPC from any writer) reads
    "DiskFullError: disk full: N MB free on <folder>"."""
    if isinstance(error, OSError) and is_disk_full(error) and not isinstance(error, DiskFullError):
        filename = getattr(error, "filename", None)
        path = Path(filename) if filename else Path.cwd() / "?"
        error = disk_full_error(path.parent, path.name if filename else "")
    return f"{type(error).__name__}: {error}"


class RunLock:
    """The lock file of a run folder, holding the pid of the process that runs it.

    A lock whose process is gone is stale and taken over; a lock held by this process or
    one of its ancestors (the `recsys run` that started this kernel) is shared.
    """

    def __init__(self, path: Path, owned: bool) -> None:
        self.path = path
        self.owned = owned

    @classmethod
    def acquire(cls, run_dir: Path) -> RunLock:
        """Take (or share) the lock of `run_dir`.

        Raises:
            RunExistsError: another live process, not an ancestor, holds it.
        """
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        path = Path(run_dir) / LOCK_FILE
        for _ in range(3):
            try:
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = _lock_holder(path)
                if holder is None or not psutil.pid_exists(holder):
                    path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                if holder == os.getpid() or holder in {p.pid for p in psutil.Process().parents()}:
                    return cls(path, owned=False)
                raise RunExistsError(
                    f"{run_dir} is in use by another run (process {holder}); wait for it to "
                    f"end or choose another RESULTS_DIR"
                ) from None
            with os.fdopen(descriptor, "w") as handle:
                handle.write(str(os.getpid()))
            return cls(path, owned=True)
        raise RunExistsError(f"could not take the lock {path}")

    def release(self) -> None:
        """Remove the lock file if this process took it."""
        if self.owned:
            self.path.unlink(missing_ok=True)
            self.owned = False


def _lock_holder(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def check_run_dir_free(run_dir: Path, *, resume: bool = False) -> dict[str, Any] | None:
    """The run already recorded in `run_dir` (None if there is none).

    Raises:
        RunExistsError: the folder holds a run and `resume` is False, or `resume` is True
            and there is no run to resume or it already finished ok.
    """
    path = Path(run_dir) / RESULTS_FILE
    previous = read_results(path) if path.exists() else None
    if previous is not None and not resume:
        raise RunExistsError(
            f"{run_dir} already holds a {previous.get('notebook', 'notebook')} run (status "
            f"{previous.get('status')!r}, started {previous.get('started_at')}); choose "
            f"another RESULTS_DIR, or resume it with RESUME / `recsys run --resume`"
        )
    if resume and previous is None:
        raise RunExistsError(f"nothing to resume: {run_dir} holds no {RESULTS_FILE}")
    if resume and previous.get("status") == "ok":
        raise RunExistsError(f"nothing to resume: the run in {run_dir} finished ok")
    return previous


def read_results(path: str | Path) -> dict[str, Any]:
    """Read a `results.json` (or the one inside a run folder).

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is not valid JSON or does not hold a mapping.
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    try:
        results = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no {RESULTS_FILE} at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(results, dict):
        raise ValueError(f"{path} holds a {type(results).__name__}, not a results mapping")
    return results


class RunRecord:
    """One run's `results.json`, rewritten after every change.

    Creating a record takes the folder's lock, removes temp files a killed process left
    there, and refuses a folder that already holds a run unless `resume` is True.

    Args:
        run_dir: the run folder (see `new_run_dir`).
        notebook: notebook (or job) name.
        params: the run's parameters, JSON-ready.
        resume: continue the run recorded in `run_dir` (its sections are kept).
        announce: at the end, log the run to its tracker (TRACKING) and post it to
            RECSYS_NOTIFY_URL (see `runs.tracking`, `runs.notify`); a search's trials
            leave this to the search.

    Raises:
        RunExistsError: the folder holds a run (and `resume` is False), or another live
            run writes to it.
    """

    def __init__(
        self,
        run_dir: Path,
        notebook: str,
        params: dict[str, Any],
        *,
        resume: bool = False,
        announce: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.announce = announce
        self.path = self.run_dir / RESULTS_FILE
        self._lock = RunLock.acquire(self.run_dir)
        try:
            previous = check_run_dir_free(self.run_dir, resume=resume)
        except BaseException:
            self._lock.release()
            raise
        remove_stale_temp_files(self.run_dir)
        if previous is None:
            self.results: dict[str, Any] = {
                "status": "running",
                "notebook": notebook,
                "params": dict(params),
                "experiment_id": params.get("EXPERIMENT_ID"),
                "data": {},
                "metrics": {},
                "environment": environment_info(),
                "started_at": _now(),
            }
        else:
            resumed = [*previous.get("resumed_at", []), _now()]
            self.results = {**previous, "status": "running", "resumed_at": resumed}
            for stale in ("error", "interrupted_by", "finished_at", "traceback_tail"):
                self.results.pop(stale, None)
        self._write()

    @property
    def status(self) -> str:
        """"running", "ok", "failed" or "interrupted"."""
        return self.results["status"]

    @property
    def models_dir(self) -> Path:
        """Where fitted models are saved."""
        return self.run_dir / "models"

    def set_data(self, summary: dict[str, Any]) -> None:
        """Merge a data summary (source, counts, sample, split) into the `data` section."""
        self.results["data"].update(summary)
        self._write()

    def add_metrics(self, model: str, metrics: dict[str, Any]) -> None:
        """Merge metrics for one model (rmse, ndcg@10, fit_seconds, peak_rss_mb, ...)."""
        self.results["metrics"].setdefault(model, {}).update(metrics)
        self._write()

    def save_model(self, name: str, model: Any) -> Path:
        """Save a fitted model as `models/<name>.npz` and record its size (`model_mb`)."""
        path = model.save(self.models_dir / f"{name}.npz")
        self.add_metrics(name, {"model_mb": round(to_mb(path.stat().st_size), 3)})
        return path

    def add(self, section: str, value: Any) -> None:
        """Set another top-level section (for example `plan`, `training` or `history`)."""
        if section in ("status", "error"):
            raise ValueError("use finish() or fail() to set the status")
        self.results[section] = value
        self._write()

    def finish(self) -> Path:
        """Mark the run ok (unless it already ended otherwise) and return the results path."""
        if self.status == "running":
            self.results["status"] = "ok"
        self.results["finished_at"] = _now()
        self.results["process_peak_rss_mb"] = round(to_mb(peak_rss_bytes()), 1)
        self._end()
        return self.path

    def fail(self, error: BaseException | str) -> Path:
        """Record the run as failed with the error's type and message (a full disk named
        as such)."""
        if isinstance(error, BaseException):
            message = describe_error(error)
            detail = "".join(traceback.format_exception(error)[-3:])
        else:
            message, detail = str(error), ""
        self.results.update(status="failed", error=message, finished_at=_now())
        if detail:
            self.results["traceback_tail"] = detail
        self._end(raise_disk_full=False)
        logger.error("run failed: %s (recorded in %s)", message, self.path)
        return self.path

    def interrupt(self, signal_name: str, checkpoint: str | Path | None = None) -> Path:
        """Record the run as interrupted by a signal ("SIGTERM", "SIGINT"), with the
        checkpoint written before it stopped, if any."""
        saved = f"; checkpoint {checkpoint} written, resume from it" if checkpoint else ""
        self.results.update(
            status="interrupted",
            interrupted_by=signal_name,
            checkpoint=None if checkpoint is None else str(checkpoint),
            error=f"interrupted by {signal_name}{saved}",
            finished_at=_now(),
        )
        self._end(raise_disk_full=False)
        logger.warning("run interrupted by %s (recorded in %s)", signal_name, self.path)
        return self.path

    def _end(self, *, raise_disk_full: bool = True) -> None:
        """Write the final record, release the folder's lock, then tell the tracker and
        the webhook (each optional; neither can fail the run)."""
        try:
            self._write()
        except DiskFullError as error:
            if raise_disk_full:
                raise
            logger.error("%s: only the status fitted in %s", error, self.path)
        finally:
            self._lock.release()
            if self.announce:
                _announce(self.results, self.run_dir)

    def _write(self) -> None:
        """Rewrite results.json; when the disk is full, the status and error still go into
        the existing file in place (it needs no new space), then DiskFullError is raised."""
        try:
            write_json_atomic(self.path, self.results)
        except DiskFullError as error:
            self.results.update(status="failed", error=f"DiskFullError: {error}")
            _write_in_place(self.path, self.results)
            raise


def _announce(results: dict[str, Any], run_dir: Path) -> None:
    """Log the ended run to its tracker (TRACKING) and post it to RECSYS_NOTIFY_URL."""
    from recsys_lib.runs.notify import notify_run_end
    from recsys_lib.runs.tracking import track_run_end

    track_run_end(results, run_dir)
    notify_run_end(results, run_dir)


def _write_in_place(path: Path, results: dict[str, Any]) -> None:
    """Overwrite `path` with the record's small sections only (status, error, notebook,
    params, timestamps), reusing the file's blocks; best effort."""
    small = {key: results.get(key) for key in ("status", "error", "notebook", "params",
                                               "started_at")}
    try:
        with open(path, "r+b") as handle:
            handle.write(json.dumps(_jsonable(small)).encode())
            handle.truncate()
    except OSError as error:
        logger.error("could not record the status in %s: %s", path, error)


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
