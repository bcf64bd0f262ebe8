"""Files that are never half-written: write a temp file beside the target, fsync it, rename
it over the target. A crash or SIGKILL mid-write leaves the previous file intact; a failed
write removes its temp file, and a full disk is reported as "disk full: N MB free on
<folder> (writing <name>)", not as the writer's own error.

Temp files are named `.<name>.<pid>.tmp`, so the ones a killed process left behind can be
told from those of a live writer and removed (`remove_stale_temp_files`). Used by the run
record (results.json), model files and checkpoints.
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

_MB = 2**20
_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.tmp$")  # .<target name>.<pid>.tmp
# What writers that raise no OSError say when a write comes up short (torch's zip writer).
_SHORT_WRITE = re.compile(r"unexpected pos|file write failed|failed writing|iostream error")


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


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def is_disk_full(error: BaseException, folder: Path | None = None,
                 expected_bytes: int = 0) -> bool:
    """Whether `error` means the disk is full: ENOSPC/EDQUOT, or a writer's short-write
    error while `folder` has less free space than the write needed (`expected_bytes`, at
    least 1 MB)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if not _SHORT_WRITE.search(str(error)) or not isinstance(error, (OSError, RuntimeError)):
        return False
    free = None if folder is None else _free_bytes(folder)
    return free is None or free < max(expected_bytes, _MB)


def disk_full_error(folder: Path, name: str = "") -> DiskFullError:
    """A DiskFullError naming the free space on `folder`'s disk (and the file written)."""
    free = _free_bytes(folder)
    where = "unknown" if free is None else f"{free // _MB:,}"
    writing = f" (writing {name})" if name else ""
    return DiskFullError(f"disk full: {where} MB free on {folder}{writing}")


def _write_failure(error: BaseException, path: Path, expected_bytes: int) -> OSError | None:
    """The OSError to raise for a failed write (None: not a write failure, re-raise as it
    is). Free space is read before the temp file is removed: it is what the write met."""
    if is_disk_full(error, path.parent, expected_bytes):
        return disk_full_error(path.parent, path.name)
    if isinstance(error, RuntimeError) and _SHORT_WRITE.search(str(error)):
        free = _free_bytes(path.parent)
        where = "unknown" if free is None else f"{free // _MB:,}"
        return OSError(errno.EIO, f"writing {path} failed ({where} MB free on {path.parent}): "
                                  f"{type(error).__name__}: {error}")
    return None


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, expected_bytes: int = 0) -> Iterator[Path]:
    """Yield a temp path to write; on success it is fsynced and replaces `path`; on any
    failure it is removed, and a full disk raises DiskFullError.

    Args:
        path: the target file (its folder must exist).
        expected_bytes: about what the write needs, to tell a full disk from another
            short write.

    Example:
        with atomic_path(target) as tmp:
            tmp.write_text(text)
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        failure = None if isinstance(error, DiskFullError) else _write_failure(
            error, path, expected_bytes)
        tmp.unlink(missing_ok=True)
        if failure is not None:
            raise failure from error
        raise
    _fsync(path.parent)


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries, making a rename durable) to disk; a no-op where
    it cannot be opened."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def remove_stale_temp_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temp files (`.<name>.<pid>.tmp`) under `folder`, recursively, whose
    writing process no longer runs. A real file, another file, or the temp file of a live
    process (this one included) is never touched.

    Returns:
        The removed paths.
    """
    removed = []
    for candidate in Path(folder).rglob(".*.tmp"):
        match = _TEMP_NAME.match(candidate.name)
        if match is None or not candidate.is_file() or psutil.pid_exists(int(match.group(1))):
            continue
        size = candidate.stat().st_size
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
        logger.info("removed %s (%.1f MB), left by a killed write", candidate, size / _MB)
    return removed
