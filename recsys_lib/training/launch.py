"""Start data-parallel workers: in-process spawn (`launch`, what a notebook uses) or under
`torchrun` (`init_from_environment`). Either way each worker joins one process group and
the Trainer inside it finds its rank through `Replicas.current()`.

Multi-machine runs use torchrun's own arguments (`--nnodes`, `--node_rank`,
`--master_addr`, `--master_port`, or `--rdzv-endpoint`); nothing here re-implements them.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessException, ProcessExitedException

from recsys_lib.training.recovery import TrainingError, handling_stop_signals
from recsys_lib.training.replicas import Replicas

__all__ = ["WorkerDied", "default_backend", "init_from_environment", "launch"]

logger = logging.getLogger(__name__)

#: How long a collective may wait for a rank that stopped answering before it fails.
COLLECTIVE_TIMEOUT = timedelta(minutes=5)
#: Seconds the other ranks get to exit on their own once one rank failed, before SIGTERM
#: and then SIGKILL.
GRACE_PERIOD_S = 10.0
_RESULT = "result.pt"


class WorkerDied(TrainingError):
    """A worker process ended without a Python exception (killed, or out of host memory);
    the others were stopped."""


def default_backend() -> str:
    """"cpu:gloo,cuda:nccl" where CUDA is available (NCCL for the gradients on the cards,
    gloo for the small CPU agreements), "gloo" otherwise."""
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"


def init_from_environment(backend: str | None = None) -> Replicas:
    """Join the process group `torchrun` describes in the environment (RANK, WORLD_SIZE,
    LOCAL_RANK, MASTER_ADDR, MASTER_PORT); on CUDA, select this rank's card.

    Returns:
        This process's `Replicas`.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend or default_backend(), timeout=COLLECTIVE_TIMEOUT)
    replicas = Replicas.current()
    if not replicas.is_main:  # one log, rank 0's; the others report errors only
        logging.getLogger("recsys_lib").setLevel(logging.ERROR)
    return replicas


def launch(fn: Callable[..., Any], world_size: int, args: Sequence[Any] = (), *,
           backend: str | None = None) -> Any:
    """Run `fn(*args)` in `world_size` fresh processes that form one process group on this
    machine (rank r uses card r on CUDA); returns rank 0's return value.

    `fn` and `args` must be picklable (`fn` importable from a module). While the workers
    run, SIGTERM and SIGINT sent to this process are passed on to them, so a Trainer
    inside stops after its step with a checkpoint, as in one process.

    Raises:
        the exception of the worker that failed first;
        WorkerDied: a worker ended without an exception (a signal or an exit code).
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    with tempfile.TemporaryDirectory(prefix="recsys-ranks-") as folder:
        context = mp.start_processes(
            _run_rank, args=(fn, tuple(args), world_size, _free_port(),
                             backend or default_backend(), folder),
            nprocs=world_size, join=False, start_method="spawn")
        try:
            with _forward_signals(context.processes):
                while not context.join(timeout=0.5, grace_period=GRACE_PERIOD_S):
                    pass
        except ProcessException as failure:
            raise _worker_error(Path(folder), world_size, failure) from None
        return torch.load(Path(folder) / _RESULT, weights_only=False)


def _run_rank(rank: int, fn: Callable[..., Any], args: tuple[Any, ...], world_size: int,
              port: int, backend: str, folder: str) -> None:
    """One worker: join the group, run `fn`, leave rank 0's result (or any rank's error) in
    `folder`."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    logging.basicConfig(level=logging.INFO, format=f"[rank {rank}] %(levelname)s %(message)s")
    init_from_environment(backend)
    try:
        result = fn(*args)
        if rank == 0:
            torch.save(result, Path(folder) / _RESULT)
    except BaseException as error:
        with open(Path(folder) / f"error-{rank}.pkl", "wb") as file:
            pickle.dump(error, file)
        raise
    finally:
        dist.destroy_process_group()


def _worker_error(folder: Path, world_size: int, failure: ProcessException
                  ) -> BaseException:
    """The error to raise for a failed launch: the exception of the rank that failed first
    (rank 0's when it raised the same kind: it names the files it wrote), else `WorkerDied`
    naming the rank and how it ended."""
    errors = {}
    for rank in (failure.error_index, 0):
        path = folder / f"error-{rank}.pkl"
        if path.is_file():
            with open(path, "rb") as file:
                errors[rank] = pickle.load(file)
    if failure.error_index in errors:
        first = errors[failure.error_index]
        return errors[0] if type(errors.get(0)) is type(first) else first
    how = (f"was killed by {failure.signal_name}"
           if isinstance(failure, ProcessExitedException) and failure.signal_name
           else f"failed ({failure})")
    return WorkerDied(f"rank {failure.error_index} of {world_size} {how}; the other ranks "
                      "were stopped. The last full checkpoint (last.pt in the checkpoint "
                      "folder) resumes the run at any world size.")


@contextmanager
def _forward_signals(processes: Sequence[Any]) -> Iterator[None]:
    """Pass SIGTERM and SIGINT on to `processes` while the block runs (main thread only)."""

    def forward(signum: int, frame: object) -> None:
        logger.warning("%s received: passing it on to the %d workers",
                       signal.Signals(signum).name, len(processes))
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signum)

    with handling_stop_signals(forward):
        yield


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for the group's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
