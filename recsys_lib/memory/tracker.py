"""Track wall time, peak RSS and peak GPU memory of code blocks, and keep their timeline.

    monitor = MemoryMonitor()
    with monitor.track("fit SVD") as record:
        model.fit(train)
    record.peak_rss_mb, monitor.timeline(), monitor.samples()

Peak RSS is sampled on a background thread every `interval_s` while the block runs, so a
transient peak that is freed before the block ends is still seen (down to the sampling
interval). Peak GPU memory comes from torch's own counter, reset at block start.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from types import ModuleType

import pandas as pd
import psutil

from recsys_lib.memory.probes import cuda_torch, rss_bytes
from recsys_lib.memory.units import format_mb, to_mb

__all__ = ["MemoryMonitor", "TrackRecord", "track"]

logger = logging.getLogger(__name__)

# The timeline keeps a sample when RSS moved this much since the last kept one, or when
# this long has passed; every sample still counts for the peak. This bounds the timeline
# of a long, flat block to a few samples a second.
_KEEP_CHANGE_MB = 1.0
_KEEP_EVERY_S = 0.5


@dataclass
class TrackRecord:
    """What one tracked block used; filled in when the block exits.

    Attributes:
        label: the name given to `track`.
        seconds: wall time of the block.
        start_rss_mb: RSS when the block started, in MB.
        peak_rss_mb: the highest RSS sampled while the block ran, in MB (updated live).
        end_rss_mb: RSS when the block ended, in MB.
        peak_gpu_mb: the most CUDA memory allocated during the block on the current device,
            in MB; None without CUDA (or when torch was not imported at block start).
        start_s: block start, in seconds since the monitor was created.
        end_s: block end, in seconds since the monitor was created.
    """

    label: str
    seconds: float = math.nan
    start_rss_mb: float = math.nan
    peak_rss_mb: float = math.nan
    end_rss_mb: float = math.nan
    peak_gpu_mb: float | None = None
    start_s: float = math.nan
    end_s: float = math.nan

    def __str__(self) -> str:
        gpu = "" if self.peak_gpu_mb is None else f", GPU peak {format_mb(self.peak_gpu_mb)}"
        return (
            f"{self.label}: {self.seconds:.2f} s, RSS {format_mb(self.start_rss_mb)} -> "
            f"peak {format_mb(self.peak_rss_mb)} -> {format_mb(self.end_rss_mb)}{gpu}"
        )


class MemoryMonitor:
    """Tracks labelled blocks and keeps their records and an RSS timeline.

    Args:
        interval_s: seconds between RSS samples while a block runs.

    Attributes:
        records: one `TrackRecord` per finished block, in the order they finished.
    """

    def __init__(self, interval_s: float = 0.02) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be a positive number of seconds, got {interval_s!r}")
        self.interval_s = interval_s
        self.records: list[TrackRecord] = []
        self._origin = time.perf_counter()
        self._process = psutil.Process()
        self._samples: list[tuple[float, float, str]] = []
        self._lock = threading.Lock()  # guards the samples and peaks written by samplers
        self._running: list[TrackRecord] = []  # blocks not yet exited, outermost first

    @contextmanager
    def track(self, label: str) -> Iterator[TrackRecord]:
        """Measure the block: wall time, start/peak/end RSS and peak GPU memory.

        The record is appended to `records` when the block exits, also when it raises.

        Yields:
            The block's `TrackRecord`; its peak RSS is updated while the block runs and
            the other fields are set on exit.
        """
        record = TrackRecord(label)
        torch = cuda_torch()
        if torch is not None:
            self._restart_gpu_peak(torch)
            record.peak_gpu_mb = to_mb(torch.cuda.memory_allocated())
        record.start_s, record.start_rss_mb = self._sample(label)
        record.peak_rss_mb = record.start_rss_mb
        stop = threading.Event()
        sampler = threading.Thread(
            target=self._sample_until, args=(record, stop), name=f"track {label}", daemon=True
        )
        self._running.append(record)
        sampler.start()
        try:
            yield record
        finally:
            stop.set()
            sampler.join()
            self._running.remove(record)
            record.end_s, record.end_rss_mb = self._sample(label)
            record.seconds = record.end_s - record.start_s
            self._raise_rss_peak(record, record.end_rss_mb)
            for outer in self._running:  # an enclosing block's peak includes this one's
                self._raise_rss_peak(outer, record.peak_rss_mb)
            if torch is not None:
                self._finish_gpu_peak(torch, record)
            self.records.append(record)
            logger.info("%s", record)

    def timeline(self) -> pd.DataFrame:
        """One row per finished block, columns as the `TrackRecord` fields (times in
        seconds since the monitor was created, memory in MB)."""
        columns = [field.name for field in fields(TrackRecord)]
        return pd.DataFrame([asdict(record) for record in self.records], columns=columns)

    def samples(self) -> pd.DataFrame:
        """RSS samples for a timeline plot: time_s (since the monitor was created), rss_mb,
        label (the block being measured), sorted by time."""
        with self._lock:
            rows = list(self._samples)
        frame = pd.DataFrame(rows, columns=["time_s", "rss_mb", "label"])
        return frame.sort_values("time_s", kind="stable", ignore_index=True)

    def _sample(self, label: str) -> tuple[float, float]:
        """Read RSS now, keep it in the timeline and return (time_s, rss_mb)."""
        time_s, rss_mb = self._read()
        self._keep(time_s, rss_mb, label)
        return time_s, rss_mb

    def _read(self) -> tuple[float, float]:
        return time.perf_counter() - self._origin, to_mb(rss_bytes(self._process))

    def _keep(self, time_s: float, rss_mb: float, label: str) -> None:
        with self._lock:
            self._samples.append((time_s, rss_mb, label))

    def _raise_rss_peak(self, record: TrackRecord, rss_mb: float) -> None:
        with self._lock:
            record.peak_rss_mb = max(record.peak_rss_mb, rss_mb)

    def _sample_until(self, record: TrackRecord, stop: threading.Event) -> None:
        kept_s, kept_mb = record.start_s, record.start_rss_mb
        while not stop.wait(self.interval_s):
            time_s, rss_mb = self._read()
            self._raise_rss_peak(record, rss_mb)
            if abs(rss_mb - kept_mb) >= _KEEP_CHANGE_MB or time_s - kept_s >= _KEEP_EVERY_S:
                self._keep(time_s, rss_mb, record.label)
                kept_s, kept_mb = time_s, rss_mb

    def _restart_gpu_peak(self, torch: ModuleType) -> None:
        """Hand the peak so far to the enclosing blocks, then reset torch's peak counter."""
        self._raise_running_gpu_peaks(to_mb(torch.cuda.max_memory_allocated()))
        torch.cuda.reset_peak_memory_stats()

    def _finish_gpu_peak(self, torch: ModuleType, record: TrackRecord) -> None:
        peak = to_mb(torch.cuda.max_memory_allocated())
        record.peak_gpu_mb = max(record.peak_gpu_mb or 0.0, peak)
        self._raise_running_gpu_peaks(peak)

    def _raise_running_gpu_peaks(self, peak_mb: float) -> None:
        for outer in self._running:
            if outer.peak_gpu_mb is not None:
                outer.peak_gpu_mb = max(outer.peak_gpu_mb, peak_mb)


@contextmanager
def track(label: str, *, interval_s: float = 0.02) -> Iterator[TrackRecord]:
    """Measure one block with a fresh `MemoryMonitor` (see `MemoryMonitor.track`).

    Args:
        label: name of the block.
        interval_s: seconds between RSS samples while the block runs.
    """
    with MemoryMonitor(interval_s).track(label) as record:
        yield record
