"""The memory-lean training loop shared by the VAEs (and any torch module with a loss)."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from recsys_lib.device import resolve_device
from recsys_lib.memory import MemoryMonitor, TrackRecord, cleanup
from recsys_lib.memory.probes import rss_bytes
from recsys_lib.memory.units import to_mb
from recsys_lib.progress import progress_bar
from recsys_lib.training.batching import Batch, BatchSource, LoaderBatches
from recsys_lib.training.checkpoint import CheckpointManager, restore_full, save_full
from recsys_lib.training.config import TrainerConfig
from recsys_lib.training.plan import TrainingPlan, plan_training
from recsys_lib.training.precision import configure_cuda, resolve_precision
from recsys_lib.training.recovery import (
    BadStepGuard,
    Deadline,
    StopFlag,
    halve_micro_batch,
    is_out_of_memory,
    sigterm_stops,
)
from recsys_lib.training.schedules import LRSchedule
from recsys_lib.training.state import LossOutput, RunState, StepInfo, TrainResult

__all__ = ["LossFn", "StepCallback", "Trainer", "ValidateFn", "seed_everything"]

logger = logging.getLogger(__name__)

#: (module, micro_batch, step) -> LossOutput; called under autocast.
LossFn = Callable[[nn.Module, Any, int], LossOutput]
#: module -> {metric name: value}; called in eval mode without gradients.
ValidateFn = Callable[[nn.Module], Mapping[str, float]]
StepCallback = Callable[[StepInfo], None]

_POSTFIX_EVERY = 10  # steps between progress-bar postfix updates
_MONITOR_INTERVAL_S = 0.1


def _gradient_norm(module: nn.Module, max_norm: float) -> torch.Tensor:
    """Global L2 norm of the gradients before clipping; clips them to `max_norm` in place
    (with no clipping, only the norm is computed: no pass that scales by 1)."""
    if math.isfinite(max_norm) or not hasattr(nn.utils, "get_total_norm"):
        return nn.utils.clip_grad_norm_(module.parameters(), max_norm)
    return nn.utils.get_total_norm([p.grad for p in module.parameters() if p.grad is not None])


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, numpy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Trains a torch module on batches with AMP, accumulation, clipping, schedules,
    early stopping, checkpoints and fault recovery (see `TrainerConfig`).

    Creating a Trainer resolves the device, seeds every generator with `config.seed` and
    switches on TF32 and cuDNN autotuning on CUDA; build the module after it for a seeded
    initialisation.

    Args:
        config: the settings.
        callbacks: called after every optimizer step with a `StepInfo`; a callback may
            call `request_stop`.
        clock: seconds counter for the time budget (tests pass a fake one).
    """

    def __init__(self, config: TrainerConfig, *, callbacks: Sequence[StepCallback] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.precision = resolve_precision(str(config.mixed_precision), self.device)
        self.callbacks = list(callbacks)
        self.monitor = MemoryMonitor(interval_s=_MONITOR_INTERVAL_S)
        self._clock = clock
        self._stop = StopFlag()
        configure_cuda(self.device)
        seed_everything(config.seed)

    def request_stop(self, reason: str = "callback") -> None:
        """End training after the current step, writing a checkpoint."""
        self._stop.request(reason)

    def loader(self, dataset: Dataset, *, shuffle: bool = True) -> LoaderBatches:
        """DataLoader batches of a generic Dataset with this config's batch size, seed,
        workers, prefetching and persistence, pinned for the trainer's device."""
        cfg = self.config
        return LoaderBatches(dataset, cfg.batch_size, device=self.device, shuffle=shuffle,
                             seed=cfg.seed, num_workers=cfg.num_workers,
                             persistent_workers=cfg.persistent_workers,
                             prefetch_factor=cfg.prefetch_factor)

    def plan(self, module: nn.Module, activation_bytes_per_sample: int,
             available_bytes: int | None = None) -> TrainingPlan:
        """Memory plan for this config's batch, micro-batch, device and precision."""
        return plan_training(
            module, batch_size=self.config.batch_size,
            micro_batch_size=self.config.micro_batch,
            activation_bytes_per_sample=activation_bytes_per_sample, device=self.device,
            optimizer=self.config.optimizer, mixed_precision=self.precision.dtype is not None,
            available_bytes=available_bytes,
        )

    def fit(self, module: nn.Module, loss_fn: LossFn, train: BatchSource, *,
            validate: ValidateFn | None = None, monitor: str = "loss", mode: str = "min",
            resume_from: str | Path | None = None) -> TrainResult:
        """Train `module` for `config.epochs` epochs (or until a stop) and restore the best
        weights.

        Args:
            module: the network; moved to the trainer's device.
            loss_fn: loss of one micro-batch (mean over its samples).
            train: effective batches per epoch, on the trainer's device.
            validate: validation metrics after each epoch (stored as `val_<name>`). None:
                no model selection and no early stopping; the latest epoch's weights are
                kept (a training loss is no yardstick when, for example, a KL weight grows).
            monitor: the `validate` metric for early stopping and best weights.
            mode: "min" or "max": whether lower or higher `monitor` is better.
            resume_from: a full checkpoint to continue from.

        Raises:
            OutOfMemoryTrainingError: out of memory even at a micro-batch of one.
            CheckpointError: `resume_from` is unreadable or does not fit `module`.
        """
        cfg, started = self.config, time.perf_counter()
        self._stop = StopFlag()
        module.to(self.device)
        optimizer = self._optimizer(module)
        scaler = self.precision.grad_scaler()
        key = None if validate is None else f"val_{monitor}"
        manager = CheckpointManager(cfg.checkpoint_dir, mode=mode, min_delta=cfg.min_delta,
                                    keep_best=cfg.keep_best, fp16=cfg.checkpoint_fp16)
        state = RunState(cfg.micro_batch, BadStepGuard(cfg.bad_steps_halve_lr, cfg.bad_steps_stop))
        if resume_from is not None:
            state = self._resume(resume_from, module, optimizer, scaler, manager)
        schedule = LRSchedule(cfg.lr, cfg.min_lr, cfg.epochs * len(train), cfg.warmup_steps,
                              cfg.lr_schedule)
        deadline = Deadline(cfg.max_minutes, self._clock)
        logger.info("training on %s (%s), %d epochs x %d steps, batch %d, micro-batch %d",
                    self.device, self.precision.name, cfg.epochs, len(train), cfg.batch_size,
                    state.micro_batch)
        with sigterm_stops(self._stop):
            while state.epoch < cfg.epochs and not self._stop:
                record = self._run_epoch(module, loss_fn, train, state, optimizer, scaler,
                                         schedule, deadline)
                if state.batch < len(train):  # stopped mid-epoch
                    break
                self._end_epoch(module, validate, key, state, manager, schedule, record, started)
                if cfg.full_checkpoints:
                    self._save_full(module, optimizer, scaler, state, manager)
                if key and cfg.patience is not None and state.since_best >= cfg.patience:
                    self._stop.request("early_stopping")
        return self._finish(module, optimizer, scaler, state, manager, key, started)

    # ---- one epoch and one step --------------------------------------------------------
    def _run_epoch(self, module: nn.Module, loss_fn: LossFn, train: BatchSource,
                   state: RunState, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler, schedule: LRSchedule,
                   deadline: Deadline) -> TrackRecord:
        cfg = self.config
        module.train()
        with ExitStack() as stack:
            record = stack.enter_context(self.monitor.track(f"epoch {state.epoch + 1}"))
            bar = stack.enter_context(progress_bar(
                total=len(train), initial=state.batch, disable=not cfg.progress, leave=False,
                desc=f"epoch {state.epoch + 1}/{cfg.epochs}", mininterval=0.5))
            for batch in train.epoch(state.epoch, start=state.batch):
                info = self._step(module, loss_fn, batch, state, optimizer, scaler, schedule)
                state.batch += 1
                state.step += 1
                bar.update(1)
                if state.step % _POSTFIX_EVERY == 0:
                    bar.set_postfix(loss=f"{info.loss:.4g}", lr=f"{info.lr:.2e}",
                                    **self._memory_postfix(), refresh=False)
                for callback in self.callbacks:
                    callback(info)
                if cfg.cleanup_every and state.step % cfg.cleanup_every == 0:
                    cleanup()
                if deadline.expired():
                    logger.warning("time budget of %.1f min used up", cfg.max_minutes)
                    self._stop.request("time_budget")
                if self._stop:
                    break
        return record

    def _memory_postfix(self) -> dict[str, str]:
        """RSS, and GPU memory allocated on CUDA, for the progress bar."""
        memory = {"rss": f"{to_mb(rss_bytes()):,.0f}MB"}
        if self.device.startswith("cuda"):
            memory["gpu"] = f"{to_mb(torch.cuda.memory_allocated(self.device)):,.0f}MB"
        return memory

    def _step(self, module: nn.Module, loss_fn: LossFn, batch: Batch, state: RunState,
              optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
              schedule: LRSchedule) -> StepInfo:
        lr = schedule(state.step) * state.guard.lr_scale
        for group in optimizer.param_groups:
            group["lr"] = lr
        while True:
            optimizer.zero_grad(set_to_none=True)
            try:
                loss, parts = self._accumulate(module, loss_fn, batch, state, scaler)
                break
            except RuntimeError as error:
                if not is_out_of_memory(error):
                    raise
            # Outside the except block, so the traceback's tensors are already released.
            optimizer.zero_grad(set_to_none=True)
            cleanup()
            old = state.micro_batch
            state.micro_batch = halve_micro_batch(old, self.config.batch_size)
            state.oom_retries += 1
            logger.warning("out of memory at micro-batch %d: retrying the step with micro-batch "
                           "%d and %d accumulation steps (effective batch %d unchanged)", old,
                           state.micro_batch, math.ceil(len(batch) / state.micro_batch),
                           len(batch))
        scaler.unscale_(optimizer)
        max_norm = self.config.gradient_clipping or math.inf
        norm = _gradient_norm(module, max_norm)
        values = torch.stack([loss, norm.float(), *parts.values()]).tolist()  # one sync
        loss_value, norm_value = values[0], values[1]
        finite = math.isfinite(loss_value) and math.isfinite(norm_value)
        stats = state.stats
        if not finite and scaler.is_enabled() and math.isfinite(loss_value):
            stats.amp_overflows += 1  # fp16 overflow: GradScaler skips and lowers its scale
            scaler.step(optimizer)
            skipped = True
        else:
            skipped = self._guard(state, finite, loss_value, norm_value)
            if not skipped:
                scaler.step(optimizer)
                stats.add(len(batch), loss_value, dict(zip(parts, values[2:], strict=True)),
                          norm_value, norm_value > max_norm)
        scaler.update()
        if skipped:
            optimizer.zero_grad(set_to_none=True)
        return StepInfo(state.epoch, state.batch, state.step, loss_value, norm_value, lr,
                        skipped, state.micro_batch)

    def _accumulate(self, module: nn.Module, loss_fn: LossFn, batch: Batch, state: RunState,
                    scaler: torch.amp.GradScaler) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Forward and backward over the micro-batches; each loss is weighted by its share of
        the batch, so the summed gradient equals the whole batch's mean-loss gradient."""
        total, done = len(batch), 0
        loss_sum = torch.zeros((), device=self.device)
        parts: dict[str, torch.Tensor] = {}
        for micro in batch.split(state.micro_batch):
            weight = min(state.micro_batch, total - done) / total
            done += min(state.micro_batch, total - done)
            with self.precision.autocast():
                out = loss_fn(module, micro, state.step)
            loss = out.loss.float() * weight
            scaler.scale(loss).backward()
            loss_sum += loss.detach()
            for key, value in out.parts.items():
                parts[key] = parts.get(key, 0.0) + value.detach().float().to(
                    loss_sum.device) * weight
        return loss_sum, parts

    def _guard(self, state: RunState, finite: bool, loss: float, norm: float) -> bool:
        """Apply the NaN/Inf policy; returns whether the step is skipped."""
        action = state.guard.record(finite)
        if action == "ok":
            return False
        state.stats.skipped += 1
        where = f"step {state.step} (epoch {state.epoch + 1})"
        logger.warning("non-finite loss %s or gradient norm %s at %s: update skipped (%d in a "
                       "row)", loss, norm, where, state.guard.consecutive)
        if action == "halve":
            logger.warning("%d bad steps in a row: learning rate halved (x%g of the schedule)",
                           state.guard.consecutive, state.guard.lr_scale)
        elif action == "stop":
            logger.error("%d NaN/Inf steps in a row at %s: training stops",
                         state.guard.consecutive, where)
            self._stop.request("diverged")
        return True

    # ---- epoch end, checkpoints, resume, finish ----------------------------------------
    def _end_epoch(self, module: nn.Module, validate: ValidateFn | None, key: str | None,
                   state: RunState, manager: CheckpointManager, schedule: LRSchedule,
                   record: TrackRecord, started: float) -> None:
        row: dict[str, Any] = {"epoch": state.epoch + 1, **state.stats.summary()}
        if validate is not None:
            module.eval()
            with torch.inference_mode():
                row.update({f"val_{name}": float(value)
                            for name, value in validate(module).items()})
            module.train()
        if key is not None and key not in row:
            raise ValueError(f"validate() returned no {key[4:]!r}; it returned "
                             f"{[name[4:] for name in row if name.startswith('val_')]}")
        metric = None if key is None else row[key]
        improved = (metric is None or math.isfinite(metric)) and manager.update(
            module, metric, state.epoch + 1)
        state.since_best = 0 if improved else state.since_best + 1
        row.update(lr=schedule(max(state.step - 1, 0)) * state.guard.lr_scale,
                   micro_batch_size=state.micro_batch, seconds=record.seconds,
                   elapsed_s=time.perf_counter() - started, rss_mb=record.end_rss_mb,
                   peak_rss_mb=record.peak_rss_mb, peak_gpu_mb=record.peak_gpu_mb,
                   improved=improved)
        state.history.append(row)
        logger.info("epoch %d/%d: %s", state.epoch + 1, self.config.epochs, ", ".join(
            f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float)))
        state.epoch += 1
        state.batch = 0
        state.stats = type(state.stats)()

    def _save_full(self, module: nn.Module, optimizer: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler, state: RunState,
                   manager: CheckpointManager) -> Path | None:
        path = manager.last_path
        if path is None:
            logger.warning("no checkpoint_dir configured: no checkpoint written")
            return None
        save_full(path, module, optimizer, scaler, {
            "trainer": state.to_dict(), "manager": manager.state(),
            "config": self.config.to_dict()})
        logger.info("full checkpoint (epoch %d, batch %d) -> %s", state.epoch + 1, state.batch,
                    path)
        return path

    def _resume(self, path: str | Path, module: nn.Module, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, manager: CheckpointManager) -> RunState:
        payload = restore_full(path, module, optimizer, scaler)
        manager.load_state(payload["manager"])
        changed = {k: (v, payload["config"].get(k)) for k, v in self.config.to_dict().items()
                   if payload["config"].get(k) != v}
        if changed:
            logger.warning("resuming %s with changed settings (now, then): %s", path, changed)
        state = RunState.from_dict(payload["trainer"])
        logger.info("resuming %s at epoch %d, batch %d (step %d)", path, state.epoch + 1,
                    state.batch, state.step)
        return state

    def _finish(self, module: nn.Module, optimizer: torch.optim.Optimizer,
                scaler: torch.amp.GradScaler, state: RunState, manager: CheckpointManager,
                key: str | None, started: float) -> TrainResult:
        reason = self._stop.reason or "completed"
        last_path = manager.last_path
        if reason in ("time_budget", "sigterm", "callback"):  # a diverged state is not saved
            last_path = self._save_full(module, optimizer, scaler, state, manager)
        elif last_path is not None and not (self.config.full_checkpoints and last_path.is_file()):
            last_path = None
        restored = manager.restore_best(module)
        if restored:
            kept = f" ({manager.best_path})" if manager.best_path else ""
            why = ("latest epoch, no validation" if manager.best_metric is None
                   else f"{key} {manager.best_metric:.6g}")
            weights = f"weights of epoch {manager.best_epoch} restored ({why}){kept}"
        else:
            weights = "no epoch finished; the module holds the last good step's weights"
        message = {
            "completed": f"finished {state.epoch} epochs",
            "early_stopping": f"early stop after {state.epoch} epochs ({key} did not improve "
                              f"for {self.config.patience})",
            "time_budget": f"time budget of {self.config.max_minutes} min used up at step "
                           f"{state.step}",
            "sigterm": f"SIGTERM: stopped after step {state.step}",
            "callback": f"stop requested after step {state.step}",
            "diverged": f"diverged: {state.guard.consecutive} NaN/Inf steps in a row at step "
                        f"{state.step}",
        }[reason]
        resume = f"; resume from {last_path}" if last_path and reason != "completed" else ""
        message = f"{message}; {weights}{resume}"
        (logger.error if reason == "diverged" else logger.info)("%s", message)
        return TrainResult(
            history=pd.DataFrame(state.history), stop_reason=reason, message=message,
            best_epoch=manager.best_epoch if restored else None,
            best_metric=manager.best_metric if restored else None, steps=state.step,
            skipped_steps=state.guard.total, oom_retries=state.oom_retries,
            micro_batch_size=state.micro_batch, best_path=manager.best_path,
            last_path=last_path, seconds=time.perf_counter() - started,
        )

    def _optimizer(self, module: nn.Module) -> torch.optim.Optimizer:
        """Adam or AdamW, fused (one kernel for all parameters: 4-5x faster steps on a CPU
        than the default loop) where this torch supports it on the device."""
        kind = torch.optim.AdamW if self.config.optimizer == "adamw" else torch.optim.Adam
        settings = {"lr": self.config.lr, "weight_decay": self.config.weight_decay}
        try:
            return kind(module.parameters(), fused=True, **settings)
        except RuntimeError as error:  # older torch: fused on CUDA only
            logger.debug("fused %s unavailable (%s); using the default", kind.__name__, error)
            return kind(module.parameters(), **settings)
