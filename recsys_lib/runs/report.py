"""The runs report: which settings differ between the selected runs, how each trained
(epochs, stop reason, minutes), how many succeeded, and what the failed ones share.

`build_report(runs_dir)` reads every results.json below a folder; `Report.to_text()` is
what `recsys report` prints; `Report.curves()` feeds `plots.plot_validation_curves`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from recsys_lib.runs.record import RESULTS_FILE, read_results

__all__ = ["Report", "build_report", "error_type", "run_settings"]

logger = logging.getLogger(__name__)

#: Settings that name where a run lives, not how it trained: never compared.
_NOT_SETTINGS = frozenset({"RESULTS_DIR", "RESUME", "EXPERIMENT_ID", "OVERRIDES",
                           "checkpoint_dir", "full_checkpoints", "progress"})
#: Statuses counted as failures in the failed-run section.
_FAILED = ("failed", "interrupted", "unreadable")


def run_settings(results: dict[str, Any]) -> dict[str, Any]:
    """How a run was set up: its notebook parameters (UPPER_CASE) and, for a VAE run, its
    full config (lower case, the YAML keys with every override applied)."""
    params = results.get("params") or {}
    config = results.get("config") or {}
    settings = {**params, **config}
    return {key: value for key, value in settings.items() if key not in _NOT_SETTINGS}


def error_type(error: str | None, status: str | None) -> str:
    """The kind of a failure: the exception type of "Type: message", "interrupted" for a
    signal, "unreadable" for a broken results.json."""
    if status in ("interrupted", "unreadable"):
        return str(status)
    head = (error or "").split(":", 1)[0].strip()
    return head if head.isidentifier() else "error"


@dataclass(frozen=True)
class Report:
    """The selected runs.

    Attributes:
        runs: one row per run: run (folder relative to the runs folder), experiment,
            notebook, status, error, epochs, stop_reason, train_minutes and the settings
            that differ between the runs.
        models: one row per (run, model) with its metrics and the run's columns, best
            first by `metric`.
        varying: the settings that differ between the runs.
        metric: the sort key.
        histories: run -> its per-epoch history (results.json `history`), for VAE runs.
    """

    runs: pd.DataFrame
    models: pd.DataFrame
    varying: tuple[str, ...]
    metric: str
    histories: dict[str, pd.DataFrame]

    @property
    def success_rate(self) -> float:
        """Share of runs that ended "ok" (0-1; NaN without runs)."""
        return float((self.runs["status"] == "ok").mean()) if len(self.runs) else float("nan")

    def failures(self) -> pd.DataFrame:
        """One row per kind of failure: error_type, n_runs, runs, shared (the differing
        settings whose value every run of the group has, as "KEY=VALUE" text) and the
        first error message."""
        failed = self.runs[self.runs["status"].isin(_FAILED)]
        rows = []
        for kind, group in failed.groupby("error_type", sort=False):
            shared = [f"{key}={group[key].iloc[0]}" for key in self.varying
                      if group[key].map(str).nunique() == 1]
            rows.append({"error_type": kind, "n_runs": len(group),
                         "runs": ", ".join(group["run"]), "shared": ", ".join(shared),
                         "example": group["error"].iloc[0]})
        columns = ["error_type", "n_runs", "runs", "shared", "example"]
        return pd.DataFrame(rows, columns=columns).sort_values("n_runs", ascending=False,
                                                               kind="stable")

    def curves(self) -> dict[str, pd.DataFrame]:
        """Each run's history labelled by its folder's name and differing settings
        (numbers to 3 significant digits)."""
        labels = {}
        for _, row in self.runs.iterrows():
            if row["run"] in self.histories:
                values = ", ".join(f"{key}={_short(row[key])}" for key in self.varying)
                name = row["run"].rsplit("/", 1)[-1]
                labels[row["run"]] = name + (f" ({values})" if values else "")
        return {labels[run]: history for run, history in self.histories.items()
                if run in labels}

    def to_text(self) -> str:
        """The summary line, the models table and the failed-run section."""
        counts = self.runs["status"].value_counts()
        parts = ", ".join(f"{n} {status}" for status, n in counts.items())
        lines = [f"{len(self.runs)} runs: {parts} (success rate {self.success_rate:.0%})"]
        if self.varying:
            lines.append(f"settings that differ: {', '.join(self.varying)}")
        shown = [c for c in ("run", "experiment", "status", "model", self.metric, "rmse",
                             "ndcg@10", *self.varying, "epochs", "stop_reason",
                             "train_minutes", "peak_rss_mb") if c in self.models]
        table = self.models[list(dict.fromkeys(shown))].dropna(axis=1, how="all")
        lines += ["", table.to_string(index=False, na_rep="", float_format="%.4g")]
        failures = self.failures()
        if len(failures):
            lines += ["", "Failed runs, by error type:"]
            for row in failures.itertuples():
                shared = f"; they share {row.shared}" if row.shared else ""
                lines.append(f"  {row.error_type}: {row.n_runs} run(s) ({row.runs}){shared}")
                lines.append(f"    e.g. {row.example}")
        return "\n".join(lines)


def build_report(
    runs_dir: str | Path, metric: str = "ndcg@10", experiment: str | None = None
) -> Report:
    """The report of every run under `runs_dir` (of `experiment` only, if given).

    Raises:
        FileNotFoundError: `runs_dir` is not a folder.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"no runs folder at {runs_dir}")
    runs, models, histories = [], [], {}
    for path in sorted(runs_dir.glob(f"**/{RESULTS_FILE}")):
        name = path.parent.relative_to(runs_dir).as_posix()
        try:
            results = read_results(path)
        except (OSError, ValueError) as error:
            logger.warning("skipping %s: %s", path, error)
            results = {"status": "unreadable", "error": str(error)}
        row = _run_row(name, results)
        if experiment is not None and row["experiment"] != experiment:
            continue
        runs.append(row)
        metrics = results.get("metrics") if isinstance(results.get("metrics"), dict) else {}
        models += [{"run": name, "model": model, **values}
                   for model, values in metrics.items() if isinstance(values, dict)]
        if isinstance(results.get("history"), list) and results["history"]:
            histories[name] = pd.DataFrame(results["history"])
    settings = [run.pop("_settings") for run in runs]
    varying = _varying([values for run, values in zip(runs, settings, strict=True)
                        if run["status"] != "unreadable"])
    for run, values in zip(runs, settings, strict=True):
        run.update({key: values.get(key) for key in varying})
    run_table = pd.DataFrame(runs, columns=["run", "experiment", "notebook", "status", "error",
                                            "error_type", "epochs", "stop_reason",
                                            "train_minutes", *varying])
    model_table = run_table.merge(pd.DataFrame(models, columns=["run", "model"]) if not models
                                  else pd.DataFrame(models), on="run", how="left")
    if metric in model_table:
        model_table = model_table.sort_values(metric, ascending=metric in ("rmse", "mae"),
                                              na_position="last", kind="stable")
    return Report(run_table, model_table.reset_index(drop=True), tuple(varying), metric,
                  histories)


def _run_row(name: str, results: dict[str, Any]) -> dict[str, Any]:
    params = results.get("params") if isinstance(results.get("params"), dict) else {}
    training = results.get("training") if isinstance(results.get("training"), dict) else {}
    metrics = results.get("metrics") if isinstance(results.get("metrics"), dict) else {}
    if training.get("seconds") is not None:
        seconds = training["seconds"]
    else:
        fits = [values.get("fit_seconds") for values in metrics.values()
                if isinstance(values, dict) and values.get("fit_seconds") is not None]
        seconds = sum(fits) if fits else None
    status = results.get("status")
    return {
        "run": name,
        "experiment": results.get("experiment_id") or params.get("EXPERIMENT_ID"),
        "notebook": results.get("notebook"),
        "status": status,
        "error": results.get("error"),
        "error_type": error_type(results.get("error"), status) if status in _FAILED else None,
        "epochs": training.get("epochs_run"),
        "stop_reason": training.get("stop_reason"),
        "train_minutes": None if seconds is None else round(seconds / 60, 3),
        "_settings": run_settings({"params": params, "config": results.get("config")}),
    }


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _varying(settings: list[dict[str, Any]]) -> list[str]:
    """Keys whose value (a missing one counted as None) is not the same in every run."""
    keys = list(dict.fromkeys(key for values in settings for key in values))
    return [key for key in keys if len({repr(values.get(key)) for values in settings}) > 1]
