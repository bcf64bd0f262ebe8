"""Signals reach the work: SIGTERM and SIGINT end a run as "interrupted", never as "ok" and
never silently.

Two sides:
- In the kernel, `interrupt_on_sigterm` turns SIGTERM into a `RunInterrupted` error in
  the running cell (the trainer, while it fits, catches the signal itself, writes a
  checkpoint and stops; the VAE steps then raise `RunInterrupted` naming that
  checkpoint). Jupyter turns SIGINT into KeyboardInterrupt, recorded the same way.
- In `recsys run` (papermill's parent process), `forward_signals` passes SIGTERM/SIGINT
  on to the kernel, waits a bounded time for it to checkpoint and record "interrupted",
  then kills it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil

__all__ = [
    "FORWARDED_SIGNALS",
    "GRACE_ENV",
    "RunInterrupted",
    "SignalForwarder",
    "forward_signals",
    "interrupt_on_sigterm",
]

logger = logging.getLogger(__name__)

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT)
GRACE_ENV = "RECSYS_SIGNAL_GRACE_S"
_DEFAULT_GRACE_S = 120.0


class RunInterrupted(Exception):
    """The run was stopped by a signal.

    Attributes:
        signal_name: "SIGTERM" or "SIGINT".
        checkpoint: the checkpoint written before stopping, if any.
    """

    def __init__(self, signal_name: str, checkpoint: str | Path | None = None) -> None:
        self.signal_name = signal_name
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        saved = f"; checkpoint {checkpoint} written" if checkpoint else ""
        super().__init__(f"interrupted by {signal_name}{saved}")

    def __reduce__(self) -> tuple[type[RunInterrupted], tuple[str, Path | None]]:
        # Pickled by its own arguments: a data-parallel worker raises it to the notebook.
        return type(self), (self.signal_name, self.checkpoint)


def interrupt_on_sigterm() -> bool:
    """In the main thread, make SIGTERM raise `RunInterrupted("SIGTERM")` (once; repeats
    are ignored while the first one unwinds). Returns False off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return False
    raised = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if raised:
            return
        raised.append(signum)
        raise RunInterrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    return True


@dataclass
class SignalForwarder:
    """What `forward_signals` saw: the first signal, and whether the kernel had to be
    killed after the grace period."""

    grace_s: float
    received: str | None = None
    killed: bool = False
    _timer: threading.Timer | None = field(default=None, repr=False)

    def forward(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler: pass the signal to every child process; the first one starts
        the grace period after which they are killed."""
        name = signal.Signals(signum).name
        children = psutil.Process().children(recursive=True)
        logger.warning("%s received: forwarding it to %d child process(es) and waiting up to "
                       "%.0f s for the run to checkpoint", name, len(children), self.grace_s)
        for child in children:
            try:
                child.send_signal(signum)
            except psutil.NoSuchProcess:
                continue
        if self.received is None:
            self.received = name
            self._timer = threading.Timer(self.grace_s, self._kill, args=(children,))
            self._timer.daemon = True
            self._timer.start()

    def _kill(self, children: list[psutil.Process]) -> None:
        alive = [child for child in children if child.is_running()]
        if alive:
            logger.error("the run did not stop within %.0f s of %s: killing it",
                         self.grace_s, self.received)
            self.killed = True
            for child in alive:
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    continue

    def cancel(self) -> None:
        """Stop the grace timer."""
        if self._timer is not None:
            self._timer.cancel()


@contextmanager
def forward_signals(grace_s: float | None = None) -> Iterator[SignalForwarder]:
    """Within the block, SIGTERM and SIGINT are forwarded to this process's children (the
    kernel) instead of ending this process; the previous handlers come back after.

    Args:
        grace_s: seconds the children get to stop before they are killed; default from
            RECSYS_SIGNAL_GRACE_S, else 120.
    """
    if grace_s is None:
        grace_s = float(os.environ.get(GRACE_ENV, _DEFAULT_GRACE_S))
    forwarder = SignalForwarder(grace_s)
    if threading.current_thread() is not threading.main_thread():
        yield forwarder
        return
    previous = {signum: signal.signal(signum, forwarder.forward) for signum in FORWARDED_SIGNALS}
    try:
        yield forwarder
    finally:
        forwarder.cancel()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
