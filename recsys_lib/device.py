"""Resolve the compute device once: argument, then RECSYS_DEVICE, then CUDA if present, then CPU."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["DEVICE_ENV", "resolve_device"]

DEVICE_ENV = "RECSYS_DEVICE"
_VALID = ("cpu", "cuda")


def resolve_device(device: str | None = None) -> str:
    """Return the device string to use ("cpu", "cuda" or "cuda:N").

    Args:
        device: "cpu", "cuda", "cuda:N", "auto" or None. None and "auto" fall through to
            the RECSYS_DEVICE environment variable, then to CUDA when torch sees a GPU.

    Raises:
        ValueError: the device is not one of the above, or CUDA was asked for but is absent.
    """
    chosen = device if device not in (None, "", "auto") else os.environ.get(DEVICE_ENV, "auto")
    chosen = chosen.strip().lower()
    if chosen == "auto":
        return "cuda" if _cuda_available() else "cpu"
    if chosen.split(":")[0] not in _VALID:
        raise ValueError(f"unknown device {chosen!r}; expected one of cpu, cuda, cuda:N, auto")
    if chosen.startswith("cuda") and not _cuda_available():
        raise ValueError(f"device {chosen!r} was asked for, but torch sees no CUDA device")
    return chosen


def _cuda_available() -> bool:
    """Ask torch, but skip importing it (about 2 s and 180 MB) where no NVIDIA driver exists."""
    if "torch" not in sys.modules and not _nvidia_driver_present():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _nvidia_driver_present() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None
