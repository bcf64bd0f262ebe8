"""The tracker: peak RSS of a known allocation, seen by the background sampler even when the
block frees it before exiting; the timeline and samples tables; errors inside a block."""

from __future__ import annotations

import time

import numpy as np
import pytest

from recsys_lib.memory import MB, MemoryMonitor, TrackRecord, track

ARRAY_MB = 256


def allocate(size_mb: int = ARRAY_MB) -> np.ndarray:
    """A float64 array of `size_mb` MB, every page written (so it is resident)."""
    return np.ones(size_mb * MB // 8, dtype=np.float64)


def wait_for_peak(record: TrackRecord, rise_mb: float, deadline_s: float = 10.0) -> None:
    """Wait until the background sampler has seen RSS rise by `rise_mb` (or the deadline)."""
    give_up = time.monotonic() + deadline_s
    while record.peak_rss_mb < record.start_rss_mb + rise_mb and time.monotonic() < give_up:
        time.sleep(0.005)


def test_sampler_sees_a_peak_freed_before_the_block_ends() -> None:
    monitor = MemoryMonitor(interval_s=0.005)
    with monitor.track("transient") as record:
        array = allocate()
        wait_for_peak(record, 0.9 * ARRAY_MB)
        del array
    # The end reading is back down, so only the background sampler can have seen the peak.
    assert record.peak_rss_mb - record.start_rss_mb >= 0.9 * ARRAY_MB
    assert record.peak_rss_mb - record.end_rss_mb >= 0.9 * ARRAY_MB
    assert monitor.records == [record]


def test_allocation_kept_past_the_block_shows_in_end_and_peak() -> None:
    with track("kept") as record:
        array = allocate()
    assert record.end_rss_mb - record.start_rss_mb >= 0.9 * ARRAY_MB
    assert record.peak_rss_mb >= record.end_rss_mb
    assert record.peak_gpu_mb is None or record.peak_gpu_mb >= 0
    assert array.nbytes == ARRAY_MB * MB


def test_timeline_has_one_row_per_block_in_order() -> None:
    monitor = MemoryMonitor()
    with monitor.track("load"):
        pass
    with monitor.track("fit"):
        time.sleep(0.01)
    frame = monitor.timeline()
    assert frame["label"].tolist() == ["load", "fit"]
    assert (frame["start_s"] <= frame["end_s"]).all()
    assert frame["start_s"].iloc[1] >= frame["end_s"].iloc[0]
    assert np.allclose(frame["seconds"], frame["end_s"] - frame["start_s"])
    assert frame["seconds"].iloc[1] >= 0.01


def test_samples_cover_each_block_within_its_peak() -> None:
    monitor = MemoryMonitor(interval_s=0.005)
    with monitor.track("a") as first:
        array = allocate(64)
        wait_for_peak(first, 50)
    del array
    with monitor.track("b") as second:
        pass
    samples = monitor.samples()
    assert list(samples.columns) == ["time_s", "rss_mb", "label"]
    assert samples["time_s"].is_monotonic_increasing
    for record in (first, second):
        own = samples[samples["label"] == record.label]
        assert len(own) >= 2  # the start and end readings are always kept
        assert own["rss_mb"].max() <= record.peak_rss_mb
        assert own["time_s"].min() == record.start_s and own["time_s"].max() == record.end_s


def test_a_block_that_raises_is_still_recorded() -> None:
    monitor = MemoryMonitor()
    with pytest.raises(KeyError), monitor.track("broken"):
        raise KeyError("boom")
    (record,) = monitor.records
    assert record.label == "broken" and record.seconds >= 0
    assert record.end_rss_mb > 0


def test_nested_blocks_each_get_a_record() -> None:
    monitor = MemoryMonitor(interval_s=0.005)
    with monitor.track("outer") as outer:
        with monitor.track("inner") as inner:
            array = allocate(128)
            wait_for_peak(inner, 100)
        del array
    assert [record.label for record in monitor.records] == ["inner", "outer"]
    assert inner.peak_rss_mb - inner.start_rss_mb >= 100
    assert outer.peak_rss_mb >= inner.peak_rss_mb  # an inner peak is an outer peak too


@pytest.mark.parametrize("interval_s", [0, -1.0])
def test_interval_must_be_positive(interval_s: float) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        MemoryMonitor(interval_s)
