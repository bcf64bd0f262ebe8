"""The GPUs of this machine as a whole (`recsys memory`): one entry per CUDA device with its
memory in use by every process, from the driver (`torch.cuda.mem_get_info`), next to a
snapshot of this process, its container and its disk."""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

from recsys_lib.memory.probes import cuda_torch
from recsys_lib.memory.snapshot import MemorySnapshot, snapshot
from recsys_lib.memory.units import format_mb, to_mb

__all__ = ["GpuDevice", "MachineMemory", "gpu_devices", "machine_memory"]


@dataclass(frozen=True)
class GpuDevice:
    """One CUDA device as the driver sees it, in MB.

    Attributes:
        index: CUDA device index.
        name: device name, e.g. "Tesla T4".
        capability: compute capability, e.g. "7.5".
        used_mb: memory in use on the device, by all processes.
        free_mb: memory still free on the device.
        total_mb: the device's total memory.
    """

    index: int
    name: str
    capability: str
    used_mb: float
    free_mb: float
    total_mb: float


@dataclass(frozen=True)
class MachineMemory:
    """A process snapshot (without per-process GPU figures) and the machine's GPUs.

    Attributes:
        snapshot: this process, its memory limit, available memory and disk.
        devices: one entry per CUDA device; empty without CUDA.
        no_gpu_reason: why `devices` is empty ("torch sees no CUDA device", ...), else "".
    """

    snapshot: MemorySnapshot
    devices: tuple[GpuDevice, ...]
    no_gpu_reason: str = ""

    def rows(self) -> list[tuple[str, str]]:
        """(what, value) pairs: the snapshot's rows, then one row per GPU or "no GPU"."""
        rows = self.snapshot.rows()
        for gpu in self.devices:
            rows.append((f"GPU {gpu.index} ({gpu.name}, sm_{gpu.capability.replace('.', '')})",
                         f"used {format_mb(gpu.used_mb)}, free {format_mb(gpu.free_mb)}, "
                         f"total {format_mb(gpu.total_mb)}"))
        if not self.devices:
            rows.append(("GPU", f"no GPU ({self.no_gpu_reason})"))
        return rows

    def to_text(self) -> str:
        """Aligned "what  value" lines for a terminal."""
        rows = self.rows()
        width = max(len(what) for what, _ in rows)
        return "\n".join(f"{what:<{width}}  {value}" for what, value in rows)

    def to_dict(self) -> dict[str, Any]:
        """The snapshot's fields plus "devices" (a list of dicts) and "no_gpu_reason"."""
        return {**asdict(self.snapshot), "devices": [asdict(gpu) for gpu in self.devices],
                "no_gpu_reason": self.no_gpu_reason}


def gpu_devices(torch: ModuleType) -> tuple[GpuDevice, ...]:
    """Every CUDA device `torch` sees, with the driver's free and total memory."""
    cuda = torch.cuda
    devices = []
    for index in range(cuda.device_count()):
        free, total = cuda.mem_get_info(index)
        major, minor = cuda.get_device_capability(index)
        devices.append(GpuDevice(index, cuda.get_device_name(index), f"{major}.{minor}",
                                 to_mb(total - free), to_mb(free), to_mb(total)))
    return tuple(devices)


def machine_memory(path: str | os.PathLike[str] = ".") -> MachineMemory:
    """This process's snapshot and the machine's GPUs (torch is imported to look for them).

    Args:
        path: a folder on the disk whose free space is reported.
    """
    snap = snapshot(path, gpu=False)
    torch = cuda_torch(import_torch=True)
    if torch is None:
        installed = "torch" in sys.modules or importlib.util.find_spec("torch") is not None
        return MachineMemory(snap, (), "torch sees no CUDA device" if installed
                             else "torch is not installed")
    devices = gpu_devices(torch)
    return MachineMemory(snap, devices, "" if devices else "torch sees no CUDA device")
