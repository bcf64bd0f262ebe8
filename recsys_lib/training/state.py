"""Values the Trainer passes around: loss outputs, per-step info, run state, results."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from recsys_lib.training.early_warnings import EarlyWarning
from recsys_lib.training.recovery import BadStepGuard

__all__ = [
    "STOP_REASONS",
    "EpochStats",
    "LossFn",
    "LossOutput",
    "RunState",
    "StepCallback",
    "StepInfo",
    "TrainResult",
    "ValidateFn",
]

STOP_REASONS = ("completed", "early_stopping", "target_reached", "time_budget", "sigterm",
                "sigint", "callback", "diverged")


@dataclass(frozen=True)
class LossOutput:
    """What a loss function returns for one micro-batch.

    Attributes:
        loss: scalar tensor, the mean loss over the micro-batch's samples.
        parts: scalar tensors to log (means over the micro-batch), for example the
            reconstruction and KL terms; averaged per epoch into the history.
    """

    loss: torch.Tensor
    parts: Mapping[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class StepInfo:
    """One optimizer step, as callbacks see it.

    Attributes:
        epoch: 0-based epoch.
        batch: 0-based batch within the epoch.
        step: 0-based optimizer step in the run.
        loss: mean loss of the effective batch (NaN/Inf when the step was skipped).
        grad_norm: global gradient L2 norm before clipping.
        lr: learning rate used.
        skipped: whether the update was skipped (NaN/Inf loss or gradient).
        micro_batch_size: samples per forward/backward pass.
    """

    epoch: int
    batch: int
    step: int
    loss: float
    grad_norm: float
    lr: float
    skipped: bool
    micro_batch_size: int


@dataclass
class EpochStats:
    """Running sums of one epoch (plain floats, so they fit in a checkpoint)."""

    samples: float = 0.0
    loss: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    grad_norm_sum: float = 0.0
    grad_norm_max: float = 0.0
    clipped: int = 0
    skipped: int = 0
    amp_overflows: int = 0

    def add(self, n: int, loss: float, parts: Mapping[str, float], grad_norm: float,
            clipped: bool) -> None:
        """Count a step that updated the weights (`n` samples)."""
        self.samples += n
        self.loss += loss * n
        for key, value in parts.items():
            self.parts[key] = self.parts.get(key, 0.0) + value * n
        self.steps += 1
        self.grad_norm_sum += grad_norm
        self.grad_norm_max = max(self.grad_norm_max, grad_norm)
        self.clipped += int(clipped)

    def summary(self) -> dict[str, float]:
        """Per-sample means of the loss and its parts, gradient-norm statistics, counts."""
        samples, steps = self.samples or math.nan, self.steps or math.nan
        return {
            "train_loss": self.loss / samples,
            **{key: value / samples for key, value in self.parts.items()},
            "grad_norm_mean": self.grad_norm_sum / steps,
            "grad_norm_max": self.grad_norm_max,
            "clipped_fraction": self.clipped / steps,
            "skipped_steps": self.skipped,
            "amp_overflows": self.amp_overflows,
        }


@dataclass
class RunState:
    """Everything the loop needs to continue a run; stored in full checkpoints.

    Attributes:
        micro_batch: samples per forward/backward pass (halved after out-of-memory).
        guard: the NaN/Inf step counter and learning-rate scale.
        epoch: 0-based epoch in progress.
        batch: batches of `epoch` already done.
        step: optimizer steps so far (skipped ones included).
        since_best: finished epochs since the validation metric last improved.
        oom_retries: out-of-memory recoveries so far.
        history: one dict per finished epoch.
        stats: running sums of the epoch in progress.
    """

    micro_batch: int
    guard: BadStepGuard
    epoch: int = 0
    batch: int = 0
    step: int = 0
    since_best: int = 0
    oom_retries: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    stats: EpochStats = field(default_factory=EpochStats)

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (dicts, lists, numbers), loadable with weights_only=True."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunState:
        """Inverse of `to_dict`."""
        values = dict(values)
        values["guard"] = BadStepGuard(**values["guard"])
        values["stats"] = EpochStats(**values["stats"])
        return cls(**values)


#: (module, micro_batch, step) -> LossOutput; called under autocast.
LossFn = Callable[[torch.nn.Module, Any, int], LossOutput]
#: module -> {metric name: value}; called in eval mode without gradients.
ValidateFn = Callable[[torch.nn.Module], Mapping[str, float]]
#: Called after every optimizer step.
StepCallback = Callable[[StepInfo], None]


@dataclass(frozen=True)
class TrainResult:
    """How a `Trainer.fit` run ended.

    Attributes:
        history: one row per finished epoch: epoch (1-based), train_loss and the loss
            parts, val_* metrics, lr, gradient-norm statistics (before clipping), skipped
            steps, micro-batch, seconds, RSS and peak RSS (MB), peak GPU memory (MB).
        stop_reason: one of STOP_REASONS.
        message: one line saying how the run ended and which weights the module holds.
        best_epoch: 1-based epoch of the restored weights, None if no epoch finished.
        best_metric: the monitored value at `best_epoch`.
        steps: optimizer steps run (skipped ones included).
        skipped_steps: steps skipped for a NaN/Inf loss or gradient.
        oom_retries: out-of-memory recoveries.
        micro_batch_size: the micro-batch at the end.
        best_path: the best weights-only checkpoint, if written.
        last_path: the full (resumable) checkpoint, if written.
        seconds: wall time of the fit.
        target: the validation value that ends training once reached (None: none set).
        target_met: whether an epoch's validation metric reached `target` (None without
            a target).
        warnings: the early warnings that fired (`recsys_lib.training.early_warnings`).
    """

    history: pd.DataFrame
    stop_reason: str
    message: str
    best_epoch: int | None
    best_metric: float | None
    steps: int
    skipped_steps: int
    oom_retries: int
    micro_batch_size: int
    best_path: Path | None
    last_path: Path | None
    seconds: float
    target: float | None = None
    target_met: bool | None = None
    warnings: tuple[EarlyWarning, ...] = ()

    def summary(self) -> dict[str, Any]:
        """JSON-ready outcome for results.json "training" (the history goes apart)."""
        checkpoint = self.last_path or self.best_path
        return {
            "stop_reason": self.stop_reason,
            "message": self.message,
            "best_epoch": self.best_epoch,
            "best_metric": self.best_metric,
            "epochs_run": len(self.history),
            "steps": self.steps,
            "skipped_steps": self.skipped_steps,
            "oom_retries": self.oom_retries,
            "micro_batch_size": self.micro_batch_size,
            "checkpoint": None if checkpoint is None else str(checkpoint),
            "seconds": round(self.seconds, 3),
            "target": self.target,
            "target_met": self.target_met,
            "warnings": [warning.as_dict() for warning in self.warnings],
        }
