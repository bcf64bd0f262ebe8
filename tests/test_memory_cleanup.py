"""cleanup() collects garbage that only the cycle collector can free."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from recsys_lib.memory import cleanup

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
