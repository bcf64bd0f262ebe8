"""Files that are never half-written: write to a temp file beside the target, rename it
over the target, and on any failure remove the temp file. A full disk is reported as
"disk full: N MB free on <folder>", not as the writer's own error.

Temp files are named `.<name>.<pid>.tmp`, so the ones a killed process left behind can be
told from those of a live writer and removed (`remove_stale_temp_files`).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

__all__ = [
    "DiskFullError",
    "atomic_path",
    "disk_full_error",
    "is_disk_full",
    "remove_stale_temp_files",
    "temp_path",
]

logger = logging.getLogger(__name__)

_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.tmp$")
#: Messages of writers that do not raise OSError(ENOSPC) on a full disk (torch's zip writer).
_FULL_DISK_WORDS = ("No space left on device", "unexpected pos", "file write failed")


class DiskFullError(OSError):
    """A write failed because the disk is full; the message says how much is free where
    (errno is ENOSPC)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return str(self.strerror)


def temp_path(path: Path) -> Path:
    """The temp file this process writes before renaming it to `path`."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def is_disk_full(error: BaseException) -> bool:
    """Whether `error` means the disk is full (ENOSPC/EDQUOT, or a writer's equivalent)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(error, (OSError, RuntimeError)) and any(
        words in str(error) for words in _FULL_DISK_WORDS
    )


def disk_full_error(folder: Path, error: BaseException | None = None) -> DiskFullError:
    """A DiskFullError naming the free space on `folder`'s disk (and the original error)."""
    try:
        free_mb = shutil.disk_usage(folder).free / 2**20
        free = f"{free_mb:,.0f} MB free"
    except OSError:
        free = "free space unknown"
    cause = f" ({type(error).__name__}: {error})" if error is not None else ""
    return DiskFullError(f"disk full: {free} on {folder}{cause}")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `path`, on failure it is removed
    and a full disk raises DiskFullError.

    Example:
        with atomic_path(target) as tmp:
            tmp.write_text(text)
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        tmp.replace(path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if is_disk_full(error) and not isinstance(error, DiskFullError):
            raise disk_full_error(path.parent, error) from error
        raise


def remove_stale_temp_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temp files under `folder` (recursively) whose writing process is gone.

    Returns:
        The removed paths.
    """
    removed = []
    for candidate in Path(folder).rglob(".*.tmp"):
        match = _TEMP_NAME.match(candidate.name)
        if match is None or not candidate.is_file():
            continue
        pid = int(match.group(1))
        if psutil.pid_exists(pid):
            continue
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
    if removed:
        logger.info("removed %d stale temp file(s) under %s", len(removed), folder)
    return removed
