"""One fit of the Trainer: its state on one object and the loop that advances it."""

from __future__ import annotations

import logging
import math
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch import nn

from recsys_lib.memory import TrackRecord, cleanup
from recsys_lib.memory.probes import rss_bytes
from recsys_lib.memory.units import to_mb
from recsys_lib.progress import progress_bar
from recsys_lib.training.batching import Batch, BatchSource
from recsys_lib.training.checkpoint import CheckpointManager, restore_full, save_full
from recsys_lib.training.config import TrainerConfig
from recsys_lib.training.early_warnings import EarlyWarnings
from recsys_lib.training.recovery import (
    BadStepGuard,
    Deadline,
    StopFlag,
    halve_micro_batch,
    is_out_of_memory,
)
from recsys_lib.training.schedules import LRSchedule
from recsys_lib.training.state import LossFn, RunState, StepInfo, TrainResult, ValidateFn

if TYPE_CHECKING:
    from recsys_lib.training.trainer import Trainer

__all__ = ["FitLoop", "build_optimizer"]

logger = logging.getLogger(__name__)

_POSTFIX_EVERY = 10  # steps between progress-bar postfix updates
# History columns after the loss, its parts, gradient statistics and val_* metrics.
_EPOCH_END_COLUMNS = ("lr", "micro_batch_size", "seconds", "elapsed_s", "rss_mb",
                      "peak_rss_mb", "peak_gpu_mb", "improved")


def _gradient_norm(module: nn.Module, max_norm: float) -> torch.Tensor:
    """Global L2 norm of the gradients before clipping; clips them to `max_norm` in place
    (with no clipping, only the norm is computed: no pass that scales by 1)."""
    if math.isfinite(max_norm) or not hasattr(nn.utils, "get_total_norm"):
        return nn.utils.clip_grad_norm_(module.parameters(), max_norm)
    return nn.utils.get_total_norm([p.grad for p in module.parameters() if p.grad is not None])


def build_optimizer(module: nn.Module, config: TrainerConfig) -> torch.optim.Optimizer:
    """Adam or AdamW, fused (one kernel for all parameters: 4-5x faster steps on a CPU
    than the default loop) where this torch supports it on the device."""
    kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    settings = {"lr": config.lr, "weight_decay": config.weight_decay}
    try:
        return kind(module.parameters(), fused=True, **settings)
    except RuntimeError as error:  # older torch: fused on CUDA only
        logger.debug("fused %s unavailable (%s); using the default", kind.__name__, error)
        return kind(module.parameters(), **settings)


class FitLoop:
    """One fit's state: the module, optimizer, scaler, loop state (`RunState`), checkpoint
    manager, schedule, deadline and the caller's functions, with the loop that advances
    them. Built by `Trainer.fit`, once per fit.

    Args:
        trainer: settings, device, precision, callbacks, memory monitor and clock.
        module: the network; moved to the trainer's device.
        loss_fn: loss of one micro-batch.
        train: the batches.
        validate: validation metrics per epoch, or None.
        metric: the `validate` metric that selects the best weights.
        mode: "min" or "max".
        stop: the stop flag that SIGTERM, the deadline, the NaN guard and callbacks set.
        target: stop once the validation `metric` reaches it (<= for "min", >= for
            "max"); None: no target.
    """

    def __init__(self, trainer: Trainer, module: nn.Module, loss_fn: LossFn,
                 train: BatchSource, *, validate: ValidateFn | None, metric: str, mode: str,
                 stop: StopFlag, target: float | None = None) -> None:
        cfg = trainer.config
        self.started = time.perf_counter()
        self.trainer, self.config, self.stop = trainer, cfg, stop
        self.replicas = trainer.replicas
        self.module = module.to(trainer.device)
        self.network = self.replicas.wrap(self.module)  # what forward passes run through
        self.loss_fn, self.train_batches, self.validate = loss_fn, train, validate
        self.key = None if validate is None else f"val_{metric}"
        self.mode, self.target = mode, target
        self.warnings = EarlyWarnings(metric=self.key, mode=mode, gap=cfg.warn_gap,
                                      plateau_before=cfg.warn_plateau_before,
                                      device=trainer.device)
        self.optimizer = build_optimizer(self.module, cfg)
        self.scaler = trainer.precision.grad_scaler()
        # Only rank 0 writes; the other ranks keep the best weights in memory.
        folder = cfg.checkpoint_dir if self.replicas.is_main else None
        self.manager = CheckpointManager(folder, mode=mode, min_delta=cfg.min_delta,
                                         keep_best=cfg.keep_best, fp16=cfg.checkpoint_fp16)
        self.state = RunState(cfg.micro_batch,
                              BadStepGuard(cfg.bad_steps_halve_lr, cfg.bad_steps_stop))
        self.schedule = LRSchedule(cfg.lr, cfg.min_lr,
                                   (cfg.schedule_epochs or cfg.epochs) * len(train),
                                   cfg.warmup_steps, cfg.lr_schedule)
        self.deadline = Deadline(cfg.max_minutes, trainer.clock)

    def run(self) -> None:
        """Epochs until the last one, a stop request or a mid-epoch stop."""
        cfg, state, trainer = self.config, self.state, self.trainer
        logger.info("training on %s (%s), %d epochs x %d steps, batch %d, micro-batch %d",
                    trainer.device, trainer.precision.name, cfg.epochs, len(self.train_batches),
                    cfg.batch_size, state.micro_batch)
        while state.epoch < cfg.epochs and not self.replicas.agree_stop(self.stop):
            record = self._run_epoch()
            if state.batch < len(self.train_batches):  # stopped mid-epoch
                break
            self._end_epoch(record)
            if cfg.full_checkpoints:
                self.save_full()
            self._stop_if_done(state.history[-1])

    def _stop_if_done(self, row: dict[str, Any]) -> None:
        """Request the stop a finished epoch (`row`) calls for: its target reached, or no
        improvement for `patience` epochs."""
        if self._reached(row):
            self.stop.request("target_reached")
        elif (self.key and self.config.patience is not None
              and self.state.since_best >= self.config.patience):
            self.stop.request("early_stopping")

    def _reached(self, row: dict[str, Any]) -> bool:
        """Whether the epoch's validation metric in `row` reached the target."""
        if self.target is None or self.key is None or not math.isfinite(row[self.key]):
            return False
        value = row[self.key]
        return value <= self.target if self.mode == "min" else value >= self.target

    # ---- one epoch and one step --------------------------------------------------------
    def _run_epoch(self) -> TrackRecord:
        cfg, state, train = self.config, self.state, self.train_batches
        self.module.train()
        with ExitStack() as stack:
            record = stack.enter_context(self.trainer.memory.track(f"epoch {state.epoch + 1}"))
            bar = stack.enter_context(progress_bar(
                total=len(train), initial=state.batch, leave=False,
                disable=not (cfg.progress and self.replicas.is_main),
                desc=f"epoch {state.epoch + 1}/{cfg.epochs}", mininterval=0.5))
            for batch in train.epoch(state.epoch, start=state.batch):
                info = self._step(batch)
                state.batch += 1
                state.step += 1
                bar.update(1)
                if state.step % _POSTFIX_EVERY == 0:
                    bar.set_postfix(loss=f"{info.loss:.4g}", lr=f"{info.lr:.2e}",
                                    **self._memory_postfix(), refresh=False)
                for callback in self.trainer.callbacks:
                    callback(info)
                if cfg.cleanup_every and state.step % cfg.cleanup_every == 0:
                    cleanup()
                if self.deadline.expired():
                    logger.warning("time budget of %.1f min used up", cfg.max_minutes)
                    self.stop.request("time_budget")
                if self.replicas.agree_stop(self.stop):
                    break
        return record

    def _memory_postfix(self) -> dict[str, str]:
        """RSS, and GPU memory allocated on CUDA, for the progress bar."""
        memory = {"rss": f"{to_mb(rss_bytes()):,.0f}MB"}
        device = self.trainer.device
        if device.startswith("cuda"):
            memory["gpu"] = f"{to_mb(torch.cuda.memory_allocated(device)):,.0f}MB"
        return memory

    def _step(self, batch: Batch) -> StepInfo:
        state, optimizer, scaler = self.state, self.optimizer, self.scaler
        lr = self.schedule(state.step) * state.guard.lr_scale
        for group in optimizer.param_groups:
            group["lr"] = lr
        local, share = self.replicas.shard(batch)
        while True:
            optimizer.zero_grad(set_to_none=True)
            out_of_memory, pending = False, None
            try:
                loss, parts, pending = self._accumulate(local, share)
            except RuntimeError as error:
                if not is_out_of_memory(error):
                    raise
                out_of_memory = True
            if out_of_memory:  # outside the except block: the traceback's tensors are gone
                optimizer.zero_grad(set_to_none=True)
                cleanup()
                if self.replicas.distributed:
                    pending = self._stand_in(local)
            retry = self.replicas.any(out_of_memory)  # every rank retries, or none
            if pending is not None:  # the backward that all-reduces (in a group)
                self.scaler.scale(pending).backward()
                pending = None
            if not retry:
                break
            old = state.micro_batch
            state.micro_batch = halve_micro_batch(old, self.config.batch_size)
            state.oom_retries += 1
            logger.warning("out of memory at micro-batch %d: retrying the step with micro-batch "
                           "%d and %d accumulation steps (effective batch %d unchanged)", old,
                           state.micro_batch, math.ceil(len(local) / state.micro_batch),
                           len(batch))
        scaler.unscale_(optimizer)
        max_norm = self.config.gradient_clipping or math.inf
        norm = _gradient_norm(self.module, max_norm)
        # One sync; in a group the loss and its parts are averaged over the ranks (the
        # gradient norm is already the same on all of them).
        values = self.replicas.mean(torch.stack([loss, norm.float(), *parts.values()])).tolist()
        loss_value, norm_value = values[0], values[1]
        finite = math.isfinite(loss_value) and math.isfinite(norm_value)
        stats = state.stats
        if not finite and scaler.is_enabled() and math.isfinite(loss_value):
            stats.amp_overflows += 1  # fp16 overflow: GradScaler skips and lowers its scale
            scaler.step(optimizer)
            skipped = True
        else:
            skipped = self._guard(finite, loss_value, norm_value)
            if not skipped:
                scaler.step(optimizer)
                stats.add(len(batch), loss_value, dict(zip(parts, values[2:], strict=True)),
                          norm_value, norm_value > max_norm)
        scaler.update()
        if skipped:
            optimizer.zero_grad(set_to_none=True)
        return StepInfo(state.epoch, state.batch, state.step, loss_value, norm_value, lr,
                        skipped, state.micro_batch)

    def _accumulate(self, batch: Batch, share: float
                    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
        """Forward and backward over the micro-batches; each loss is weighted by its samples
        x `share` (a sample's share of the effective batch, x the world size in a group),
        so the summed (and, in a group, averaged) gradient is the whole batch's mean-loss
        gradient. In a group the last micro-batch's backward, which all-reduces, is left
        to the caller (returned third) until all ranks know that no rank ran out of memory.
        """
        micro_batch, step, replicas = self.state.micro_batch, self.state.step, self.replicas
        total, done = len(batch), 0
        last = math.ceil(total / micro_batch) - 1
        loss_sum = torch.zeros((), device=self.trainer.device)
        parts: dict[str, torch.Tensor] = {}
        pending = None
        for index, micro in enumerate(batch.split(micro_batch)):
            weight = min(micro_batch, total - done) * share
            done += min(micro_batch, total - done)
            with replicas.gradient_sync(self.network, index == last):
                with self.trainer.precision.autocast():
                    out = self.loss_fn(self.network, micro, step)
                loss = out.loss.float() * weight
                if replicas.distributed and index == last:
                    pending = loss
                else:
                    self.scaler.scale(loss).backward()
            loss_sum += loss.detach()
            for key, value in out.parts.items():
                parts[key] = parts.get(key, 0.0) + value.detach().float().to(
                    loss_sum.device) * weight
        return loss_sum, parts, pending

    def _stand_in(self, batch: Batch) -> torch.Tensor:
        """A weight-0 loss on one sample, run with gradient sync: a rank that ran out of
        memory still makes this attempt's one synchronised forward and backward, so the
        ranks' DDP reducers stay in step when they all retry."""
        micro = next(iter(batch.shard(0, len(batch)).split(1)))
        with self.trainer.precision.autocast():
            out = self.loss_fn(self.network, micro, self.state.step)
        return out.loss.float() * 0.0

    def _guard(self, finite: bool, loss: float, norm: float) -> bool:
        """Apply the NaN/Inf policy; returns whether the step is skipped."""
        state = self.state
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
            self.stop.request("diverged")
        return True

    # ---- epoch end, checkpoints, resume, finish ----------------------------------------
    def _end_epoch(self, record: TrackRecord) -> None:
        state, key, module = self.state, self.key, self.module
        row: dict[str, Any] = {"epoch": state.epoch + 1, **state.stats.summary()}
        if self.validate is not None:  # on rank 0; the others get its metrics
            metrics = None
            if self.replicas.is_main:
                module.eval()
                with torch.inference_mode():
                    metrics = {f"val_{name}": float(value)
                               for name, value in self.validate(module).items()}
                module.train()
            row.update(self.replicas.broadcast(metrics))
        if key is not None and key not in row:
            raise ValueError(f"validate() returned no {key[4:]!r}; it returned "
                             f"{[name[4:] for name in row if name.startswith('val_')]}")
        metric = None if key is None else row[key]
        improved = (metric is None or math.isfinite(metric)) and self.manager.update(
            module, metric, state.epoch + 1)
        state.since_best = 0 if improved else state.since_best + 1
        end = (self.schedule(max(state.step - 1, 0)) * state.guard.lr_scale, state.micro_batch,
               record.seconds, time.perf_counter() - self.started, record.end_rss_mb,
               record.peak_rss_mb, record.peak_gpu_mb, improved)
        row.update(zip(_EPOCH_END_COLUMNS, end, strict=True))
        state.history.append(row)
        self.warnings.check(row)
        for callback in self.trainer.callbacks:  # the epoch-end hook (pruning, tracking)
            on_epoch_end = getattr(callback, "on_epoch_end", None)
            if on_epoch_end is not None:
                on_epoch_end(row)
        logger.info("epoch %d/%d: %s", state.epoch + 1, self.config.epochs, ", ".join(
            f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float)))
        state.epoch += 1
        state.batch = 0
        state.stats = type(state.stats)()

    def _history(self) -> pd.DataFrame:
        """One row per finished epoch; with none, no rows but the columns a row would have
        (so a caller can test `.empty` and select columns without a KeyError)."""
        if self.state.history:
            return pd.DataFrame(self.state.history)
        columns = ["epoch", *self.state.stats.summary(), *([self.key] if self.key else []),
                   *_EPOCH_END_COLUMNS]
        return pd.DataFrame(columns=columns)

    def save_full(self) -> Path | None:
        """Write the resumable `last.pt`; None (and a warning) without a checkpoint folder."""
        path, state = self.manager.last_path, self.state
        if not self.replicas.is_main:
            return None
        if path is None:
            logger.warning("no checkpoint_dir configured: no checkpoint written")
            return None
        save_full(path, self.module, self.optimizer, self.scaler, {
            "trainer": state.to_dict(), "manager": self.manager.state(),
            "config": self.config.to_dict()})
        logger.info("full checkpoint (epoch %d, batch %d) -> %s", state.epoch + 1, state.batch,
                    path)
        return path

    def resume(self, path: str | Path) -> None:
        """Continue from the full checkpoint at `path` (weights, optimizer, RNG, loop)."""
        payload = restore_full(path, self.module, self.optimizer, self.scaler)
        self.manager.load_state(payload["manager"])
        changed = {k: (v, payload["config"].get(k)) for k, v in self.config.to_dict().items()
                   if payload["config"].get(k) != v}
        if changed:
            logger.warning("resuming %s with changed settings (now, then): %s", path, changed)
        self.state = state = RunState.from_dict(payload["trainer"])
        self.replicas.decorrelate(self.config.seed, state.step)  # rank 0's stream was saved
        for row in state.history:  # the warnings the interrupted run had fired
            self.warnings.check(row)
        if state.history and state.batch == 0:  # a run that had stopped after an epoch
            self._stop_if_done(state.history[-1])  # stays stopped: no extra epoch
        logger.info("resuming %s at epoch %d, batch %d (step %d)", path, state.epoch + 1,
                    state.batch, state.step)

    def finish(self) -> TrainResult:
        """Checkpoint a resumable stop, restore the best weights, say how the run ended."""
        state, manager, cfg, key = self.state, self.manager, self.config, self.key
        self.replicas.agree_stop(self.stop)  # one reason on every rank, even for a late signal
        reason = self.stop.reason or "completed"
        last_path = manager.last_path
        if reason in ("time_budget", "sigterm", "sigint", "callback"):  # not a diverged state
            last_path = self.save_full()
        elif last_path is not None and not (cfg.full_checkpoints and last_path.is_file()):
            last_path = None
        restored = manager.restore_best(self.module)
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
                              f"for {cfg.patience})",
            "target_reached": f"target {key} {self.target:g} reached after {state.epoch} "
                              f"epochs" if self.target is not None else "",
            "time_budget": f"time budget of {cfg.max_minutes} min used up at step "
                           f"{state.step}",
            "sigterm": f"SIGTERM: stopped after step {state.step}",
            "sigint": f"SIGINT: stopped after step {state.step}",
            "callback": f"stop requested after step {state.step}",
            "diverged": f"diverged: {state.guard.consecutive} NaN/Inf steps in a row at step "
                        f"{state.step}",
        }[reason]
        resume = f"; resume from {last_path}" if last_path and reason != "completed" else ""
        message = f"{message}; {weights}{resume}"
        (logger.error if reason == "diverged" else logger.info)("%s", message)
        return TrainResult(
            history=self._history(), stop_reason=reason, message=message,
            best_epoch=manager.best_epoch if restored else None,
            best_metric=manager.best_metric if restored else None, steps=state.step,
            skipped_steps=state.guard.total, oom_retries=state.oom_retries,
            micro_batch_size=state.micro_batch, best_path=manager.best_path,
            last_path=last_path, seconds=time.perf_counter() - self.started,
            target=self.target, warnings=tuple(self.warnings.fired),
            target_met=None if self.target is None else any(
                self._reached(row) for row in state.history),
        )
