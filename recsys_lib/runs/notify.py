"""A webhook message when a run ends: with RECSYS_NOTIFY_URL set, a Discord-compatible
JSON body (`{"content": "..."}`) is posted when a run finishes, fails or is interrupted.

Offline-safe: a 5-second timeout, and a failed post is a logged warning, never a failed run.
Standard library only (urllib).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["NOTIFY_ENV", "TIMEOUT_S", "notify_message", "notify_run_end", "post_json",
           "run_message"]

logger = logging.getLogger(__name__)

NOTIFY_ENV = "RECSYS_NOTIFY_URL"
TIMEOUT_S = 5.0
#: Discord refuses longer messages.
MAX_CHARS = 2000
_MARKS = {"ok": "finished", "failed": "FAILED", "interrupted": "interrupted"}


def run_message(results: dict[str, Any], run_dir: Path) -> str:
    """One short message: the run, its status, its headline metrics or its error."""
    status = results.get("status", "?")
    experiment = f" [{results['experiment_id']}]" if results.get("experiment_id") else ""
    lines = [f"recsys {results.get('notebook', 'run')}{experiment} {_MARKS.get(status, status)}"
             f": {run_dir}"]
    if status == "ok":
        for model, metrics in (results.get("metrics") or {}).items():
            shown = ", ".join(f"{key} {metrics[key]:.4g}" for key in ("rmse", "ndcg@10")
                              if isinstance(metrics.get(key), (int, float)))
            if shown:
                lines.append(f"  {model}: {shown}")
    elif results.get("error"):
        lines.append(f"  {results['error']}")
    return "\n".join(lines)


def post_json(url: str, payload: dict[str, Any], timeout_s: float = TIMEOUT_S) -> bool:
    """POST `payload` as JSON; False (and a logged warning) when it does not go through."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "recsys_lib"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
        return True
    except (urllib.error.URLError, OSError, ValueError) as error:
        logger.warning("notification to %s failed: %s", url, error)
        return False


def notify_run_end(results: dict[str, Any], run_dir: Path) -> bool:
    """Post the run's end to RECSYS_NOTIFY_URL; False when unset or the post failed."""
    return notify_message(run_message(results, run_dir))


def notify_message(text: str) -> bool:
    """Post `text` (cut to Discord's 2000 characters) to RECSYS_NOTIFY_URL; False when
    unset or the post failed."""
    url = os.environ.get(NOTIFY_ENV)
    if not url:
        return False
    content = text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 3] + "..."
    return post_json(url, {"content": content})
