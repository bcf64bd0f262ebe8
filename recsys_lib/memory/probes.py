"""Raw readings shared by the snapshot, the tracker, the preflight check and cleanup.

torch is never imported here unless a caller asks for it: CUDA numbers are read only when
torch is already loaded (or `import_torch=True`) and `torch.cuda.is_available()`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from types import ModuleType

import psutil

from recsys_lib.memory.cgroup import read_cgroup_memory

__all__ = ["MemoryLimit", "cuda_torch", "memory_limit", "peak_rss_bytes", "rss_bytes"]


@dataclass(frozen=True)
class MemoryLimit:
    """The memory this process may use, in bytes.

    Attributes:
        limit_bytes: the cgroup limit where one is set and below the machine's total, else
            the machine's total.
        source: "cgroup v2", "cgroup v1" or "system".
        available_bytes: the smaller of the system's available memory and the limit minus
            the container's working set.
    """

    limit_bytes: int
    source: str
    available_bytes: int


def memory_limit(cgroup_root: str | os.PathLike[str] | None = None) -> MemoryLimit:
    """Read the real memory limit and what is still available under it.

    Args:
        cgroup_root: cgroup mount folder; None = RECSYS_CGROUP_ROOT, else /sys/fs/cgroup.
    """
    system = psutil.virtual_memory()
    group = read_cgroup_memory(cgroup_root)
    if group is None or group.limit_bytes is None or group.limit_bytes >= system.total:
        return MemoryLimit(int(system.total), "system", int(system.available))
    left = group.limit_bytes if group.usage_bytes is None else group.limit_bytes - group.usage_bytes
    available = max(min(int(system.available), left), 0)
    return MemoryLimit(group.limit_bytes, group.source, available)


def rss_bytes(process: psutil.Process | None = None) -> int:
    """Resident set size of `process` (default: this one), in bytes."""
    return int((process or psutil.Process()).memory_info().rss)


def cuda_torch(import_torch: bool = False) -> ModuleType | None:
    """The torch module when CUDA can be read, else None.

    Args:
        import_torch: import torch if it is not loaded yet; otherwise None is returned
            whenever torch has not been imported by someone else.
    """
    if "torch" not in sys.modules and not import_torch:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def peak_rss_bytes() -> int:
    """Peak resident memory of this process since it started, in bytes (getrusage; the
    current RSS where getrusage does not exist)."""
    try:
        import resource
    except ImportError:  # Windows
        return rss_bytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return int(peak if sys.platform == "darwin" else peak * 1024)
