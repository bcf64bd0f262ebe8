"""GPU readings through a fake `torch` module in sys.modules (the CI machine has no GPU):
snapshot rows per device, peak GPU memory of nested tracked blocks, the cache freed by
cleanup, and CUDA switched off when torch is loaded but sees no device."""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace

import pytest

from recsys_lib.memory import MB, GpuMemory, MemoryMonitor, cleanup, snapshot


class FakeCuda:
    """Just the torch.cuda calls the memory monitor makes, with a caching allocator model:
    `allocated` is held by tensors, `reserved` by the allocator (freed blocks stay cached)."""

    def __init__(self, available: bool = True, devices: int = 1) -> None:
        self.available = available
        self.devices = devices
        self.allocated = [0] * devices
        self.reserved = [0] * devices
        self.peak = [0] * devices

    def alloc(self, size_mb: int, index: int = 0) -> None:
        self.allocated[index] += size_mb * MB
        self.reserved[index] = max(self.reserved[index], self.allocated[index])
        self.peak[index] = max(self.peak[index], self.allocated[index])

    def free(self, size_mb: int, index: int = 0) -> None:
        self.allocated[index] -= size_mb * MB

    # torch.cuda's API (device None = the current device, 0)
    def is_available(self) -> bool:
        return self.available

    def device_count(self) -> int:
        return self.devices

    def get_device_name(self, index: int = 0) -> str:
        return f"Fake GPU {index}"

    def get_device_properties(self, index: int = 0) -> SimpleNamespace:
        return SimpleNamespace(total_memory=16_000 * MB)

    def memory_allocated(self, index: int | None = None) -> int:
        return self.allocated[index or 0]

    def memory_reserved(self, index: int | None = None) -> int:
        return self.reserved[index or 0]

    def max_memory_allocated(self, index: int | None = None) -> int:
        return self.peak[index or 0]

    def reset_peak_memory_stats(self, index: int | None = None) -> None:
        self.peak[index or 0] = self.allocated[index or 0]

    def empty_cache(self) -> None:
        self.reserved = list(self.allocated)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> FakeCuda:
    """A fake torch with two CUDA devices, installed as sys.modules["torch"]."""
    cuda = FakeCuda(devices=2)
    torch = ModuleType("torch")
    torch.cuda = cuda  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    return cuda


def test_snapshot_lists_each_device(fake_cuda: FakeCuda) -> None:
    fake_cuda.alloc(300)
    fake_cuda.free(100)
    fake_cuda.alloc(50, index=1)
    gpus = snapshot(gpu=None).gpus
    assert gpus == (
        GpuMemory(0, "Fake GPU 0", 200.0, 300.0, 16_000.0, 300.0),
        GpuMemory(1, "Fake GPU 1", 50.0, 50.0, 16_000.0, 50.0),
    )
    assert snapshot(gpu=False).gpus == ()
    assert len(snapshot().to_frame()) == 4 + 2


def test_no_cuda_device_means_no_gpu_numbers(fake_cuda: FakeCuda) -> None:
    fake_cuda.available = False
    assert snapshot().gpus == ()
    monitor = MemoryMonitor()
    with monitor.track("cpu only") as record:
        pass
    assert record.peak_gpu_mb is None
    assert cleanup().gpu_freed_mb is None


def test_gpu_peak_of_nested_blocks(fake_cuda: FakeCuda) -> None:
    monitor = MemoryMonitor()
    fake_cuda.alloc(1_000)  # held before tracking starts: not this block's peak...
    fake_cuda.free(1_000)
    with monitor.track("epoch") as outer:
        fake_cuda.alloc(500)
        fake_cuda.free(400)  # outer peak so far 500, allocated 100
        with monitor.track("step") as inner:
            fake_cuda.alloc(300)  # inner peak 400: it started with 100 allocated
            fake_cuda.free(300)
        fake_cuda.alloc(50)
    after = MemoryMonitor()
    with after.track("idle") as idle:
        pass
    assert inner.peak_gpu_mb == 400.0
    assert outer.peak_gpu_mb == 500.0  # kept although the inner block reset torch's counter
    assert idle.peak_gpu_mb == 150.0  # what was still allocated
    assert monitor.timeline()["peak_gpu_mb"].tolist() == [400.0, 500.0]


def test_cleanup_reports_the_cache_it_emptied(fake_cuda: FakeCuda) -> None:
    fake_cuda.alloc(700)
    fake_cuda.free(500)
    fake_cuda.alloc(64, index=1)
    fake_cuda.free(64, index=1)
    report = cleanup()
    assert report.gpu_freed_mb == 500.0 + 64.0
    assert fake_cuda.reserved == [200 * MB, 0]
    assert "564.0 MB of GPU cache" in str(report)
