"""The memory-lean Trainer shared by the VAEs (and any torch module with a loss): settings,
device and precision, the memory plan, and `fit` (whose loop is `FitLoop`)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from recsys_lib.device import resolve_device
from recsys_lib.memory import MemoryMonitor
from recsys_lib.training.batching import BatchSource
from recsys_lib.training.config import TrainerConfig
from recsys_lib.training.loop import FitLoop
from recsys_lib.training.plan import (
    TrainingPlan,
    count_parameters,
    plan_training,
    training_estimate_bytes,
)
from recsys_lib.training.precision import configure_cuda, resolve_precision
from recsys_lib.training.recovery import StopFlag, signals_stop
from recsys_lib.training.replicas import Replicas
from recsys_lib.training.state import LossFn, StepCallback, TrainResult, ValidateFn

__all__ = ["ModuleSource", "Trainer", "seed_everything"]

logger = logging.getLogger(__name__)

#: The network, or a function without arguments that builds it once the fit is seeded.
ModuleSource = nn.Module | Callable[[], nn.Module]

_MONITOR_INTERVAL_S = 0.1


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, numpy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Trains a torch module on batches with AMP, accumulation, clipping, schedules,
    early stopping, checkpoints and fault recovery (see `TrainerConfig`).

    Inside an initialised torch.distributed group (`torchrun`, or workers started by
    `recsys_lib.training.launch.launch`) the fit is data parallel: each rank trains on its
    share of every effective batch through DistributedDataParallel, on its own card ("cuda"
    becomes "cuda:<local rank>"), and only rank 0 writes checkpoints (see
    `recsys_lib.training.replicas`).

    Creating a Trainer only resolves the device and precision; it touches no global state,
    so one can be built just to `plan`. `fit` seeds every generator with `config.seed` and
    switches on TF32 and cuDNN autotuning on CUDA.

    Args:
        config: the settings.
        callbacks: called after every optimizer step with a `StepInfo`; a callback may
            call `request_stop`. A callback with an `on_epoch_end(row)` method is also
            called after each finished epoch with that epoch's history row (a dict:
            epoch, train_loss, val_* metrics, ...).
        clock: seconds counter for the time budget (tests pass a fake one).

    Attributes:
        memory: the memory monitor; `memory.records` holds one `TrackRecord` per epoch.
    """

    def __init__(self, config: TrainerConfig, *, callbacks: Sequence[StepCallback] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.replicas = Replicas.current()
        self.device = self.replicas.device(resolve_device(config.device))
        self.precision = resolve_precision(str(config.mixed_precision), self.device)
        self.callbacks = list(callbacks)
        self.memory = MemoryMonitor(interval_s=_MONITOR_INTERVAL_S)
        self.clock = clock
        self._stop = StopFlag()

    def request_stop(self, reason: str = "callback") -> None:
        """End training after the current step, writing a checkpoint."""
        self._stop.request(reason)

    def plan(self, module: nn.Module, activation_bytes_per_sample: int,
             available_bytes: int | Sequence[int] | None = None, *, data_bytes: int = 0,
             world_size: int = 1) -> TrainingPlan:
        """Memory plan for this config's batch, micro-batch, device and precision.

        Args:
            module: the network (parameters are counted, not allocated).
            activation_bytes_per_sample: bytes of activations and their gradients per sample.
            available_bytes: memory to compare with (one value per card with several);
                None reads it from the device.
            data_bytes: bytes of training data the batch source holds.
            world_size: data-parallel processes (one per GPU; see `plan_training`).
        """
        return plan_training(
            module, batch_size=self.config.batch_size,
            micro_batch_size=self.config.micro_batch,
            activation_bytes_per_sample=activation_bytes_per_sample, data_bytes=data_bytes,
            device=self.device, optimizer=self.config.optimizer,
            mixed_precision=self.precision.dtype is not None, available_bytes=available_bytes,
            world_size=world_size,
        )

    def estimate_bytes(self, module: nn.Module, activation_bytes_per_sample: int, *,
                       data_bytes: int = 0) -> int:
        """The bytes `plan` estimates (its `estimate_bytes`), without reading the device's
        free memory."""
        return training_estimate_bytes(
            count_parameters(module), micro_batch_size=self.config.micro_batch,
            activation_bytes_per_sample=activation_bytes_per_sample, data_bytes=data_bytes,
            optimizer=self.config.optimizer, mixed_precision=self.precision.dtype is not None,
        )

    def fit(self, module: ModuleSource, loss_fn: LossFn, train: BatchSource, *,
            validate: ValidateFn | None = None, metric: str = "loss", mode: str = "min",
            resume_from: str | Path | None = None, target: float | None = None
            ) -> TrainResult:
        """Seed, then train `module` for `config.epochs` epochs (or until a stop) and restore
        the best weights.

        Args:
            module: the network, moved to the trainer's device; or a function without
                arguments that builds it, called after seeding so that its initialisation
                is seeded too.
            loss_fn: loss of one micro-batch (mean over its samples).
            train: effective batches per epoch, on the trainer's device.
            validate: validation metrics after each epoch (stored as `val_<name>`). None:
                no model selection and no early stopping; the latest epoch's weights are
                kept (a training loss is no yardstick when, for example, a KL weight grows).
            metric: the `validate` metric for early stopping and best weights.
            mode: "min" or "max": whether lower or higher `metric` is better.
            resume_from: a full checkpoint to continue from.
            target: stop once `metric` reaches it (<= for "min", >= for "max"); the
                result records it and whether it was met. Needs `validate`.

        Raises:
            OutOfMemoryTrainingError: out of memory even at a micro-batch of one.
            CheckpointError: `resume_from` is unreadable or does not fit `module`.
        """
        if target is not None and validate is None:
            raise ValueError(f"a target {metric} of {target} needs a validate function")
        seed_everything(self.config.seed)
        configure_cuda(self.device)
        self._stop = StopFlag()
        network = module if isinstance(module, nn.Module) else module()
        self.replicas.decorrelate(self.config.seed)
        loop = FitLoop(self, network, loss_fn, train, validate=validate, metric=metric,
                       mode=mode, stop=self._stop, target=target)
        if resume_from is not None:
            loop.resume(resume_from)
        with signals_stop(self._stop):
            loop.run()
        return loop.finish()
