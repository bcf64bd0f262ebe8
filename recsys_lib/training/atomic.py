"""Atomic checkpoint writes: a temporary file beside the target (`.<name>.<pid>.tmp`),
fsync, rename. A crash or SIGKILL mid-write leaves the previous file intact; a failed write
removes its temporary file and a full disk is reported as such (an `OSError` with errno
ENOSPC: "disk full: N MB free on <folder>"); temporary files of killed writers are found by
their pid and removed.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from recsys_lib.memory.units import MB

__all__ = ["atomic_save", "remove_stale_temp_files"]

logger = logging.getLogger(__name__)

_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.tmp$")  # .<target name>.<pid>.tmp
# What torch's zip writer says when a write comes up short (a full disk, among others).
_TORCH_WRITE_FAILURE = re.compile(
    r"unexpected pos|file write failed|failed writing|iostream error")


def atomic_save(payload: Mapping[str, Any], path: str | Path) -> Path:
    """`torch.save` to a temporary file beside `path`, fsync it, then rename it over `path`.

    Returns:
        The path written.

    Raises:
        OSError: the write failed; errno ENOSPC with "disk full: N MB free on <folder>"
            when the disk is full (an ENOSPC error, or torch's short-write error with less
            free space than the payload's tensors need, or under 1 MB), else the original
            errno (EIO for torch's errors). The
            temporary file is removed and a previous file at `path` is left intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(dict(payload), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:
        failure = _write_failure(error, path, payload)
        tmp.unlink(missing_ok=True)
        if failure is None:
            raise
        raise failure from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _write_failure(error: BaseException, path: Path, payload: Mapping[str, Any]
                   ) -> OSError | None:
    """The OSError to raise for a failed checkpoint write (None: not a write failure, re-raise
    `error` as it is). Free space is read before the partial file is removed: it is what the
    write met."""
    short_write = isinstance(error, RuntimeError) and bool(
        _TORCH_WRITE_FAILURE.search(str(error)))
    if not isinstance(error, OSError) and not short_write:
        return None
    free = _free_bytes(path.parent)
    no_space = getattr(error, "errno", None) == errno.ENOSPC or (
        short_write and free is not None and free < max(_tensor_bytes(payload), MB))
    where = "unknown" if free is None else f"{free // MB:,}"
    if no_space:
        return OSError(errno.ENOSPC, f"disk full: {where} MB free on {path.parent} "
                                     f"(writing checkpoint {path.name})")
    code = getattr(error, "errno", None) or errno.EIO
    return OSError(code, f"writing checkpoint {path} failed ({where} MB free on "
                         f"{path.parent}): {type(error).__name__}: {error}")


def _free_bytes(folder: Path) -> int | None:
    """Free bytes on the file system holding `folder`; None when it cannot be read."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _tensor_bytes(value: Any) -> int:
    """Bytes of the tensors in a (nested) payload: about what its file needs."""
    if isinstance(value, torch.Tensor):
        return value.nelement() * value.element_size()
    if isinstance(value, Mapping):
        return sum(_tensor_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(item) for item in value)
    return 0


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temporary files (`.<name>.<pid>.tmp`) that killed writers left in `folder`.

    Only files of that pattern whose process no longer runs are removed; a real checkpoint,
    another file, or the temporary file of a live process (this one included) is never
    touched.

    Returns:
        The files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for candidate in folder.iterdir():
        match = _TEMP_NAME.match(candidate.name)
        if match is None or not candidate.is_file() or _process_alive(int(match.group(1))):
            continue
        size = candidate.stat().st_size
        candidate.unlink(missing_ok=True)
        removed.append(candidate)
        logger.info("removed %s (%.1f MB), left by a killed checkpoint write", candidate,
                    size / MB)
    return removed


def _process_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except (OSError, OverflowError):  # not a valid pid
        return False
    return True


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
