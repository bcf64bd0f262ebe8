"""Experiment tracking, optional: with TRACKING="wandb" (`--tracking wandb`) and `wandb`
importable, a run's parameters (and VAE config), per-epoch history and final metrics are
logged to Weights & Biases when the run ends. Offline-safe: WANDB_MODE=offline writes a
local run folder (WANDB_DIR, else the run folder); a tracking error is a logged warning,
never a failed run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["TRACKERS", "track_run_end"]

logger = logging.getLogger(__name__)

#: The TRACKING values a run accepts (None: no tracking).
TRACKERS = ("wandb",)
_EXIT_CODES = {"ok": 0, "failed": 1, "interrupted": 130}


def track_run_end(results: dict[str, Any], run_dir: Path) -> bool:
    """Log the ended run to its tracker (results.json params TRACKING); False when the
    run has none, the tracker is not installed, or logging failed."""
    tracker = (results.get("params") or {}).get("TRACKING")
    if tracker is None:
        return False
    if tracker != "wandb":
        logger.warning("unknown tracker %r (known: %s): not logged", tracker, TRACKERS)
        return False
    try:
        import wandb
    except ImportError:
        logger.warning("TRACKING='wandb' but wandb is not installed (pip install wandb): "
                       "the run is not logged")
        return False
    try:
        _log_wandb(wandb, results, Path(run_dir))
    except Exception as error:  # a tracker's failure must never fail the run
        logger.warning("logging the run to W&B failed: %s", error)
        return False
    return True


def _log_wandb(wandb: Any, results: dict[str, Any], run_dir: Path) -> None:
    params = {key: value for key, value in (results.get("params") or {}).items()
              if key not in ("TRACKING",)}
    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT", "recsys_lib"),
        name=run_dir.name,
        group=results.get("experiment_id"),
        job_type=results.get("notebook"),
        config={"params": params, "config": results.get("config") or {}},
        dir=os.environ.get("WANDB_DIR") or str(run_dir),
        tags=[results.get("status", "unknown")],
    )
    try:
        for row in results.get("history") or []:
            epoch = int(row.get("epoch", 0))
            run.log({key: value for key, value in row.items()
                     if isinstance(value, (int, float)) and not isinstance(value, bool)},
                    step=epoch)
        summary = {f"{model}/{key}": value
                   for model, metrics in (results.get("metrics") or {}).items()
                   for key, value in metrics.items() if isinstance(value, (int, float))}
        summary.update(status=results.get("status"), error=results.get("error"))
        run.summary.update(summary)
    finally:
        run.finish(exit_code=_EXIT_CODES.get(results.get("status"), 1))
