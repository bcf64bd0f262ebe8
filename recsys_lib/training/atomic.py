"""Atomic checkpoint writes: `torch.save` through `recsys_lib.files.atomic_path` (temp file
beside the target, fsync, rename; a full disk is "disk full: N MB free on <folder>")."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from recsys_lib.files import atomic_path

__all__ = ["atomic_save"]


def atomic_save(payload: Mapping[str, Any], path: str | Path) -> Path:
    """`torch.save` to a temp file beside `path`, then rename it over `path`.

    Returns:
        The path written.

    Raises:
        DiskFullError: the disk is full (an ENOSPC error, or torch's short-write error with
            less free space than the payload's tensors need); the previous file at `path`
            is left intact and no temp file survives.
        OSError: another write failure (errno EIO for torch's short-write errors).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, expected_bytes=_tensor_bytes(payload)) as tmp, open(tmp, "wb") as handle:
        torch.save(dict(payload), handle)
    return path


def _tensor_bytes(value: Any) -> int:
    """Bytes of the tensors in a (nested) payload: about what its file needs."""
    if isinstance(value, torch.Tensor):
        return value.nelement() * value.element_size()
    if isinstance(value, Mapping):
        return sum(_tensor_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(item) for item in value)
    return 0
