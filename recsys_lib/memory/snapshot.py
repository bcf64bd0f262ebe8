"""A point-in-time memory snapshot: process RSS, the real limit, available memory, GPU, disk.

A snapshot is a value: take one before and one after a stage and subtract them for the delta.
It shows itself as a two-column table in a notebook and as aligned lines in a terminal.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType

import pandas as pd

from recsys_lib.memory.probes import cuda_torch, memory_limit, rss_bytes
from recsys_lib.memory.units import format_mb, to_mb

__all__ = ["GpuMemory", "MemorySnapshot", "snapshot"]


@dataclass(frozen=True)
class GpuMemory:
    """Memory of one CUDA device as torch's caching allocator sees it, in MB.

    Attributes:
        index: CUDA device index.
        name: device name, e.g. "Tesla T4".
        allocated_mb: memory held by live tensors.
        reserved_mb: memory the caching allocator holds (allocated plus its cache).
        total_mb: the device's total memory.
        peak_mb: the most allocated since start or the last peak reset.
    """

    index: int
    name: str
    allocated_mb: float
    reserved_mb: float
    total_mb: float
    peak_mb: float

    def __sub__(self, other: GpuMemory) -> GpuMemory:
        return GpuMemory(
            self.index,
            self.name,
            self.allocated_mb - other.allocated_mb,
            self.reserved_mb - other.reserved_mb,
            self.total_mb - other.total_mb,
            self.peak_mb - other.peak_mb,
        )


@dataclass(frozen=True)
class MemorySnapshot:
    """Memory readings at one moment, in MB (2**20 bytes).

    Attributes:
        rss_mb: resident set size of this process.
        limit_mb: the memory limit that applies: the container's cgroup limit where one is
            set, else the machine's total.
        limit_source: "cgroup v2", "cgroup v1" or "system".
        available_mb: the smaller of the system's available memory and the limit minus the
            container's working set.
        disk_free_mb: free space on the disk holding `disk_path`.
        gpus: one entry per CUDA device; empty without CUDA (or when torch was not loaded).
        disk_path: the folder whose disk was measured.
        is_delta: True for the difference of two snapshots (values are then signed).
    """

    rss_mb: float
    limit_mb: float
    limit_source: str
    available_mb: float
    disk_free_mb: float
    gpus: tuple[GpuMemory, ...] = ()
    disk_path: str = "."
    is_delta: bool = False

    def __sub__(self, other: MemorySnapshot) -> MemorySnapshot:
        """The change from `other` to `self`; GPUs are matched by index."""
        if not isinstance(other, MemorySnapshot):
            return NotImplemented
        before = {gpu.index: gpu for gpu in other.gpus}
        return MemorySnapshot(
            rss_mb=self.rss_mb - other.rss_mb,
            limit_mb=self.limit_mb - other.limit_mb,
            limit_source=self.limit_source,
            available_mb=self.available_mb - other.available_mb,
            disk_free_mb=self.disk_free_mb - other.disk_free_mb,
            gpus=tuple(gpu - before[gpu.index] for gpu in self.gpus if gpu.index in before),
            disk_path=self.disk_path,
            is_delta=True,
        )

    def rows(self) -> list[tuple[str, str]]:
        """(what, value) pairs, values formatted in MB, as `to_frame` and `to_text` show."""
        mb = partial(format_mb, signed=self.is_delta)
        rows = [
            ("process RSS", mb(self.rss_mb)),
            (f"memory limit ({self.limit_source})", mb(self.limit_mb)),
            ("available", mb(self.available_mb)),
            (f"disk free ({self.disk_path})", mb(self.disk_free_mb)),
        ]
        for gpu in self.gpus:
            rows.append(
                (
                    f"GPU {gpu.index} ({gpu.name})",
                    f"allocated {mb(gpu.allocated_mb)}, reserved {mb(gpu.reserved_mb)}, "
                    f"peak {mb(gpu.peak_mb)}, total {mb(gpu.total_mb)}",
                )
            )
        return rows

    def to_frame(self) -> pd.DataFrame:
        """A small two-column table ("what", "value") for notebooks."""
        return pd.DataFrame(self.rows(), columns=["what", "value"])

    def to_text(self) -> str:
        """Aligned "what  value" lines for a terminal."""
        rows = self.rows()
        width = max(len(what) for what, _ in rows)
        return "\n".join(f"{what:<{width}}  {value}" for what, value in rows)

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False)


def snapshot(
    path: str | os.PathLike[str] = ".",
    *,
    gpu: bool | None = None,
    cgroup_root: str | os.PathLike[str] | None = None,
) -> MemorySnapshot:
    """Take a memory snapshot of this process, its container and its disk.

    Args:
        path: a folder on the disk whose free space is reported (the working folder).
        gpu: None reads CUDA devices only when torch is already imported; True imports
            torch to read them; False never reads them.
        cgroup_root: cgroup mount folder; None = RECSYS_CGROUP_ROOT, else /sys/fs/cgroup.

    Raises:
        FileNotFoundError: `path` does not exist.
    """
    limit = memory_limit(cgroup_root)
    torch = None if gpu is False else cuda_torch(import_torch=bool(gpu))
    return MemorySnapshot(
        rss_mb=to_mb(rss_bytes()),
        limit_mb=to_mb(limit.limit_bytes),
        limit_source=limit.source,
        available_mb=to_mb(limit.available_bytes),
        disk_free_mb=to_mb(shutil.disk_usage(path).free),
        gpus=() if torch is None else _read_gpus(torch),
        disk_path=str(Path(path).resolve()),
    )


def _read_gpus(torch: ModuleType) -> tuple[GpuMemory, ...]:
    cuda = torch.cuda
    return tuple(
        GpuMemory(
            index=index,
            name=cuda.get_device_name(index),
            allocated_mb=to_mb(cuda.memory_allocated(index)),
            reserved_mb=to_mb(cuda.memory_reserved(index)),
            total_mb=to_mb(cuda.get_device_properties(index).total_memory),
            peak_mb=to_mb(cuda.max_memory_allocated(index)),
        )
        for index in range(cuda.device_count())
    )
