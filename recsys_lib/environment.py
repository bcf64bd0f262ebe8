"""Where the code runs (Kaggle, Colab, local), where outputs and caches go, and how much
of a hosted session is left.

Every path can be overridden by an environment variable, so tests and headless runs can
simulate Kaggle or Colab on any machine.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "CACHE_DIR_ENV",
    "COLAB_DIR_ENV",
    "DATA_ENV",
    "HOSTED_SESSION_HOURS",
    "KAGGLE_INPUT_ENV",
    "KAGGLE_WORKING_ENV",
    "OUTPUT_ENV",
    "SESSION_HOURS_ENV",
    "available_cores",
    "cache_dir",
    "colab_data_dir",
    "environment_info",
    "free_disk_mb",
    "is_colab",
    "is_kaggle",
    "kaggle_input_root",
    "kaggle_working_dir",
    "output_root",
    "platform_name",
    "session_limit_hours",
    "session_seconds_left",
    "session_start_time",
    "session_warnings",
]

logger = logging.getLogger(__name__)

DATA_ENV = "RECSYS_DATA"
KAGGLE_INPUT_ENV = "RECSYS_KAGGLE_INPUT"
KAGGLE_WORKING_ENV = "RECSYS_KAGGLE_WORKING"
COLAB_DIR_ENV = "RECSYS_COLAB_DIR"
CACHE_DIR_ENV = "RECSYS_CACHE_DIR"
OUTPUT_ENV = "RECSYS_OUTPUT_DIR"
SESSION_HOURS_ENV = "RECSYS_SESSION_HOURS"

#: Session length assumed on Kaggle and Colab, in hours. Kaggle ends CPU and GPU notebook
#: sessions after 12 hours (TPU sessions and some GPU tiers after 9); Colab's free tier
#: allows at most 12. Set RECSYS_SESSION_HOURS where your limit differs.
HOSTED_SESSION_HOURS = 12.0


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def is_kaggle() -> bool:
    """True inside a Kaggle kernel (KAGGLE_KERNEL_RUN_TYPE is set there)."""
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE"))


def is_colab() -> bool:
    """True inside Google Colab (the google.colab module is loaded there)."""
    return "google.colab" in sys.modules


def platform_name() -> str:
    """"kaggle", "colab" or "local"."""
    if is_kaggle():
        return "kaggle"
    if is_colab():
        return "colab"
    return "local"


def kaggle_input_root() -> Path:
    """Folder holding attached Kaggle data sets (RECSYS_KAGGLE_INPUT, else /kaggle/input)."""
    return Path(os.environ.get(KAGGLE_INPUT_ENV, "/kaggle/input"))


def kaggle_working_dir() -> Path:
    """Kaggle's persistent output folder (RECSYS_KAGGLE_WORKING, else /kaggle/working)."""
    return Path(os.environ.get(KAGGLE_WORKING_ENV, "/kaggle/working"))


def colab_data_dir() -> Path:
    """Drive folder searched for MovieLens on Colab (RECSYS_COLAB_DIR, else MyDrive/movielens)."""
    return Path(os.environ.get(COLAB_DIR_ENV, "/content/drive/MyDrive/movielens"))


def cache_dir() -> Path:
    """Local download cache (RECSYS_CACHE_DIR, else ~/.cache/recsys_lib)."""
    default = Path.home() / ".cache" / "recsys_lib"
    return Path(os.environ.get(CACHE_DIR_ENV, default))


def output_root() -> Path:
    """Folder that run folders go under: RECSYS_OUTPUT_DIR, else /kaggle/working/runs on
    Kaggle (or when RECSYS_KAGGLE_WORKING is set), else ./runs."""
    if OUTPUT_ENV in os.environ:
        return Path(os.environ[OUTPUT_ENV])
    if is_kaggle() or KAGGLE_WORKING_ENV in os.environ:
        return kaggle_working_dir() / "runs"
    return Path("runs")


def session_limit_hours() -> float | None:
    """Length of this session in hours: RECSYS_SESSION_HOURS when set, else
    `HOSTED_SESSION_HOURS` on Kaggle or Colab, else None (a local session has no limit).

    Raises:
        ValueError: RECSYS_SESSION_HOURS is not a positive number (the message shows it).
    """
    text = os.environ.get(SESSION_HOURS_ENV)
    if text is not None:
        try:
            hours = float(text)
        except ValueError:
            hours = float("nan")
        if not hours > 0:
            raise ValueError(
                f"{SESSION_HOURS_ENV} must be a positive number of hours, got {text!r}"
            )
        return hours
    if is_kaggle() or is_colab():
        return HOSTED_SESSION_HOURS
    return None


def session_start_time() -> float:
    """Estimated start of this session, in unix seconds.

    Kaggle and Colab start a fresh container per session, and its first process (PID 1)
    lives as long as the session, across kernel restarts; so the estimate is PID 1's
    creation time. Where PID 1 cannot be read, this process's creation time is used, which
    is later than the session's start after a kernel restart (the time left is then
    overestimated). Outside a container PID 1 is the machine's init, so the estimate only
    means something on a hosted platform or where RECSYS_SESSION_HOURS is set.
    """
    import psutil

    try:
        return float(psutil.Process(1).create_time())
    except (psutil.Error, OSError):
        logger.debug("PID 1 unreadable; using this process's start as the session's start")
        return float(psutil.Process().create_time())


def session_seconds_left(now: float | None = None) -> float | None:
    """Seconds left in this session (negative once it is over); None without a limit.

    Args:
        now: the current time in unix seconds; None = `time.time()`.
    """
    hours = session_limit_hours()
    if hours is None:
        return None
    now = time.time() if now is None else now
    return session_start_time() + hours * 3600.0 - now


def free_disk_mb(path: str | os.PathLike[str] | None = None) -> tuple[float, Path]:
    """Free space, in MB (2**20 bytes), on the disk that holds `path`.

    Args:
        path: a folder that may not exist yet (its nearest existing parent is measured);
            None = `output_root()`, where run folders go (/kaggle/working/runs on Kaggle).

    Returns:
        The free MB and the folder actually measured.
    """
    folder = Path(output_root() if path is None else path).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free / 2**20, folder


def session_warnings(
    min_free_disk_mb: float = 1024.0,
    min_minutes_left: float = 30.0,
    *,
    disk_path: str | os.PathLike[str] | None = None,
    now: float | None = None,
) -> list[str]:
    """Warnings, one sentence each, when the disk or the session is about to run out.

    Nothing is checked for time on a local machine unless RECSYS_SESSION_HOURS is set
    (see `session_start_time` for how the time used is estimated). Memory is not checked
    here: `recsys_lib.memory.snapshot()` reports it against the container's limit.

    Args:
        min_free_disk_mb: warn when the output disk has less free space than this, in MB.
        min_minutes_left: warn when fewer minutes than this are left in the session.
        disk_path: folder whose disk is checked; None = `output_root()`.
        now: the current time in unix seconds; None = `time.time()`.

    Returns:
        The warnings (empty when all is well); each is also logged at WARNING level.
    """
    from recsys_lib.memory.units import format_mb

    warnings = []
    free_mb, folder = free_disk_mb(disk_path)
    if free_mb < min_free_disk_mb:
        warnings.append(
            f"Only {format_mb(free_mb)} free on the disk holding {folder} (warning below "
            f"{format_mb(min_free_disk_mb)}): delete old runs or checkpoints before saving more."
        )
    left_s = session_seconds_left(now)
    if left_s is not None and left_s < min_minutes_left * 60.0:
        hours = session_limit_hours()
        used_h = ((time.time() if now is None else now) - session_start_time()) / 3600.0
        warnings.append(
            f"About {max(left_s, 0.0) / 60.0:.0f} minutes left of the {hours:g}-hour "
            f"{platform_name()} session (it started about {used_h:.1f} h ago; warning below "
            f"{min_minutes_left:g} minutes; set {SESSION_HOURS_ENV} if your limit differs): "
            "save your models and results now."
        )
    for warning in warnings:
        logger.warning(warning)
    return warnings


def environment_info() -> dict[str, Any]:
    """Python, package versions, device, platform, CPU count and memory limit of this
    process, JSON-ready (the `environment` section of results.json).

    Versions are read from package metadata, so torch is not imported for this.
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


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
