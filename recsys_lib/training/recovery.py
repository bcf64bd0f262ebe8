"""Fault handling for the Trainer: NaN/Inf steps, CUDA out-of-memory, SIGTERM, time budget."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

__all__ = [
    "STOP_SIGNALS",
    "BadStepGuard",
    "Deadline",
    "OutOfMemoryTrainingError",
    "StopFlag",
    "TrainingError",
    "halve_micro_batch",
    "handling_stop_signals",
    "is_out_of_memory",
    "signals_stop",
]

logger = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what was kept."""


class OutOfMemoryTrainingError(TrainingError):
    """Out of memory even at a micro-batch of one sample."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether `error` is a CUDA (or other torch) out-of-memory error."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def halve_micro_batch(micro_batch: int, batch_size: int) -> int:
    """The micro-batch to retry with after an out-of-memory error.

    Returns:
        `micro_batch // 2`; the effective batch stays `batch_size`, so gradient
        accumulation grows to `ceil(batch_size / new micro-batch)` passes.

    Raises:
        OutOfMemoryTrainingError: the micro-batch is already 1.
    """
    if micro_batch <= 1:
        raise OutOfMemoryTrainingError(
            f"out of memory with a micro-batch of 1 sample (effective batch {batch_size}); "
            "the model itself does not fit: use a smaller model (fewer factors or hidden "
            "units), mixed precision, or a device with more memory"
        )
    return micro_batch // 2


@dataclass
class BadStepGuard:
    """Counts optimizer steps skipped for a NaN/Inf loss or gradient.

    Attributes:
        halve_after: consecutive bad steps after which the learning rate is halved (again
            after each further `halve_after`).
        stop_after: consecutive bad steps after which training stops.
        consecutive: bad steps in a row so far.
        total: bad steps in the whole run.
        lr_scale: factor on the scheduled learning rate (halved on each trigger).
    """

    halve_after: int
    stop_after: int
    consecutive: int = 0
    total: int = 0
    lr_scale: float = 1.0

    def record(self, finite: bool) -> str:
        """Record one step; returns "ok", "skip", "halve" (skip and halve lr) or "stop"."""
        if finite:
            self.consecutive = 0
            return "ok"
        self.consecutive += 1
        self.total += 1
        if self.consecutive >= self.stop_after:
            return "stop"
        if self.consecutive % self.halve_after == 0:
            self.lr_scale *= 0.5
            return "halve"
        return "skip"


class StopFlag:
    """A request to end training after the current step (set by SIGTERM, the time budget
    or a callback); `reason` names who asked."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        """Ask to stop; the first reason is kept."""
        if self.reason is None:
            self.reason = reason

    def __bool__(self) -> bool:
        return self.reason is not None


#: Signals that stop training after the current step, with the stop reason each gives.
STOP_SIGNALS = {signal.SIGTERM: "sigterm", signal.SIGINT: "sigint"}


@contextmanager
def signals_stop(flag: StopFlag) -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT (Ctrl-C, Jupyter's interrupt) set `flag`
    ("sigterm", "sigint") instead of killing the process or raising KeyboardInterrupt, so
    training ends after the current step with a checkpoint.

    The previous handlers are restored on exit. Outside the main thread (where Python
    cannot install handlers) the block runs unchanged.
    """
    def handler(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        logger.warning("%s received: stopping after the current step", name)
        flag.request(STOP_SIGNALS[signal.Signals(signum)])

    with handling_stop_signals(handler):
        yield


@contextmanager
def handling_stop_signals(handler: Callable[[int, object], None]) -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT call `handler(signum, frame)`; the
    previous handlers are restored on exit. Outside the main thread (where Python cannot
    install handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class Deadline:
    """A wall-clock budget.

    Args:
        max_minutes: the budget in minutes; None never expires.
        clock: seconds counter (tests pass a fake one).
    """

    def __init__(self, max_minutes: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_minutes, self._clock = max_minutes, clock
        self._start = clock()

    @property
    def elapsed_minutes(self) -> float:
        """Minutes since the deadline was created."""
        return (self._clock() - self._start) / 60.0

    def expired(self) -> bool:
        """Whether the budget is used up."""
        return self.max_minutes is not None and self.elapsed_minutes >= self.max_minutes
