"""cleanup() collects garbage that only the cycle collector can free; release_freed_heap()
gives memory freed in a thread's heap back to the OS."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from recsys_lib.memory import cleanup, release_freed_heap
from recsys_lib.memory.probes import rss_bytes

N_CYCLES = 5_000


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: reference counting alone never frees it


@pytest.fixture
def automatic_gc_off() -> Iterator[None]:
    """Switch the automatic collector off so the cycles wait for cleanup()."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@pytest.mark.usefixtures("automatic_gc_off")
def test_cleanup_collects_unreachable_cycles() -> None:
    for _ in range(N_CYCLES):
        Node()
    report = cleanup()
    assert report.collected >= N_CYCLES
    assert cleanup().collected < N_CYCLES  # nothing left to collect the second time
    assert report.seconds >= 0
    assert f"{report.collected} objects collected" in str(report)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_freed_heap_returns_what_a_thread_freed_among_live_arrays() -> None:
    kept = []

    def work() -> None:  # 200 MB of 100 KB arrays (below mmap's threshold), a tenth kept
        arrays = [np.ones(25_000, dtype=np.float32) for _ in range(2_000)]
        kept.extend(arrays[::10])

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    before = rss_bytes()
    assert release_freed_heap()
    assert before - rss_bytes() > 100 * 2**20  # of the 180 MB freed
    assert sum(array.nbytes for array in kept) == 200 * 100_000


def test_release_freed_heap_is_a_no_op_without_glibc(monkeypatch) -> None:
    module = sys.modules["recsys_lib.memory.cleanup"]  # the package's `cleanup` is the function
    monkeypatch.setattr(module, "_glibc", lambda: None)
    assert not release_freed_heap()
