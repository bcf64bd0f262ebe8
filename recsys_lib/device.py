"""Resolve the compute device once: argument, then RECSYS_DEVICE, then CUDA if present and
usable, then CPU.

A card is usable when the installed torch carries code for its compute capability: a cubin
(`sm_XY` in `torch.cuda.get_arch_list()`) runs on cards of the same major version and an
equal or higher minor one, and PTX (`compute_XY`) is compiled for any card of capability
X.Y or above. Kaggle's torch 2.10 (CUDA 12.8) has no code for the P100 (sm_60): there
`torch.cuda.is_available()` is True, yet the first kernel fails; such a card falls back to
the CPU with one warning.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DEVICE_ENV", "arch_list_supports", "resolve_device"]

logger = logging.getLogger(__name__)

DEVICE_ENV = "RECSYS_DEVICE"
_VALID = ("cpu", "cuda")
_ARCH = re.compile(r"(sm|compute)_(\d+)(\d)([af]?)")


def resolve_device(device: str | None = None) -> str:
    """Return the device string to use ("cpu", "cuda" or "cuda:N").

    A CUDA device whose compute capability the installed torch was not built for resolves
    to "cpu", with one warning (per card and process) that names the card and capability.

    Args:
        device: "cpu", "cuda", "cuda:N", "auto" or None. None and "auto" fall through to
            the RECSYS_DEVICE environment variable, then to CUDA when torch sees a GPU.

    Raises:
        ValueError: the device is not one of the above, or CUDA was asked for but is absent.
    """
    chosen = device if device not in (None, "", "auto") else os.environ.get(DEVICE_ENV, "auto")
    chosen = chosen.strip().lower()
    if chosen == "auto":
        return "cuda" if _cuda_available() and _usable("cuda") else "cpu"
    if chosen.split(":")[0] not in _VALID:
        raise ValueError(f"unknown device {chosen!r}; expected one of cpu, cuda, cuda:N, auto")
    if chosen.startswith("cuda") and not _cuda_available():
        raise ValueError(f"device {chosen!r} was asked for, but torch sees no CUDA device")
    if chosen.startswith("cuda") and not _usable(chosen):
        return "cpu"
    return chosen


def arch_list_supports(capability: tuple[int, int], arch_list: Sequence[str]) -> bool:
    """Whether code built for `arch_list` runs on a card of compute `capability`.

    Args:
        capability: (major, minor), as `torch.cuda.get_device_capability` returns it.
        arch_list: entries such as "sm_75", "sm_90a", "compute_120", as
            `torch.cuda.get_arch_list` returns them. An empty list says nothing and
            counts as supported.
    """
    if not arch_list:
        return True
    for entry in arch_list:
        match = _ARCH.fullmatch(entry)
        if not match:
            continue
        kind, suffix = match.group(1), match.group(4)
        major, minor = int(match.group(2)), int(match.group(3))
        if kind == "compute" and (major, minor) <= capability:
            return True  # PTX is compiled for the card at load time
        # A cubin runs on its major version from its minor up; an "a" cubin on its own only.
        same_major = kind == "sm" and major == capability[0]
        if same_major and (minor == capability[1] or (suffix != "a" and minor < capability[1])):
            return True
    return False


def _usable(device: str) -> bool:
    index = int(device.split(":")[1]) if ":" in device else 0
    return _card_is_usable(index)


@functools.cache
def _card_is_usable(index: int) -> bool:
    """Check card `index` once per process; warn (once) when torch cannot run on it."""
    import torch

    capability = tuple(torch.cuda.get_device_capability(index))
    arch_list = list(torch.cuda.get_arch_list())
    if arch_list_supports(capability, arch_list):
        return True
    logger.warning(
        "GPU %d (%s, compute capability %d.%d) is not supported by torch %s (built for %s); "
        "using the CPU. On Kaggle ask for a T4 or L4 (kernel machine_shape, `recsys kaggle "
        "build --accelerator`), or install a torch built for this card.",
        index, torch.cuda.get_device_name(index), *capability, torch.__version__,
        ", ".join(arch_list))
    return False


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
