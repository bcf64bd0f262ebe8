"""Memory monitor: snapshots (RSS, container limit, GPU, disk), block tracking, estimates,
preflight verdicts and cleanup. MB means 2**20 bytes throughout.

torch is not imported here; GPU numbers are read only when torch is already loaded (or a
caller asks for it) and CUDA is available.
"""

from recsys_lib.memory.cgroup import CGROUP_ROOT_ENV, CgroupMemory, read_cgroup_memory
from recsys_lib.memory.cleanup import CleanupReport, cleanup, release_freed_heap
from recsys_lib.memory.devices import GpuDevice, MachineMemory, gpu_devices, machine_memory
from recsys_lib.memory.estimates import dense_matrix_bytes, sparse_matrix_bytes, training_bytes
from recsys_lib.memory.preflight import Preflight, preflight
from recsys_lib.memory.probes import MemoryLimit, memory_limit
from recsys_lib.memory.snapshot import GpuMemory, MemorySnapshot, snapshot
from recsys_lib.memory.tracker import MemoryMonitor, TrackRecord, track
from recsys_lib.memory.units import MB

__all__ = [
    "CGROUP_ROOT_ENV",
    "MB",
    "CgroupMemory",
    "CleanupReport",
    "GpuDevice",
    "GpuMemory",
    "MachineMemory",
    "MemoryLimit",
    "MemoryMonitor",
    "MemorySnapshot",
    "Preflight",
    "TrackRecord",
    "cleanup",
    "dense_matrix_bytes",
    "gpu_devices",
    "machine_memory",
    "memory_limit",
    "preflight",
    "read_cgroup_memory",
    "release_freed_heap",
    "snapshot",
    "sparse_matrix_bytes",
    "track",
    "training_bytes",
]
