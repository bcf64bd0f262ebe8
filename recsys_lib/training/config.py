"""`TrainerConfig`: everything the `Trainer` needs, a strict frozen config
(`recsys_lib.config.ConfigBase`) read from dicts or YAML."""

from __future__ import annotations

import dataclasses

from recsys_lib.config import ConfigBase
from recsys_lib.training.schedules import LRSchedule

__all__ = ["MIXED_PRECISION", "TrainerConfig"]

MIXED_PRECISION = ("auto", "fp16", "bf16", "off")


@dataclasses.dataclass(frozen=True)
class TrainerConfig(ConfigBase):
    """Settings of the `Trainer`; every key can be set from YAML.

    Attributes:
        epochs: passes over the training data.
        batch_size: effective batch (samples per optimizer step).
        micro_batch_size: samples per forward/backward pass; gradients of
            `ceil(batch_size / micro_batch_size)` micro-batches are accumulated. None: the
            whole batch at once. Halved automatically on a CUDA out-of-memory error.
        eval_batch_size: samples per validation pass (no gradients); None: 4 x batch_size.
        lr: peak learning rate.
        min_lr: learning rate at the last step of a cosine or exponential decay.
        lr_schedule: "cosine", "exponential" or "constant" (after warmup).
        schedule_epochs: epochs the learning-rate decay spans; None: `epochs`. A refit
            that stops at the epoch count early stopping chose keeps the selection run's
            schedule by setting it to that run's `epochs`.
        warmup_steps: optimizer steps of linear learning-rate warmup.
        optimizer: "adam" (L2 `weight_decay` in the gradient) or "adamw" (decoupled).
        weight_decay: weight decay of the optimizer.
        gradient_clipping: max global gradient L2 norm; None or 0 turns clipping off (the
            pre-clip norm is logged either way).
        mixed_precision: "auto" (bf16 where the GPU supports it, else fp16 with a
            GradScaler; bf16 autocast on CPU), "fp16", "bf16" or "off"; true/false mean
            "auto"/"off".
        device: "auto", "cpu", "cuda" or "cuda:N" (see recsys_lib.device.resolve_device).
        seed: seeds torch, numpy and the batch order.
        patience: epochs without improvement of the validation metric before stopping;
            None: no early stopping.
        min_delta: smallest change that counts as an improvement.
        max_minutes: wall-clock budget in minutes; training ends after the step that
            crosses it, with a checkpoint. None: no budget. The default leaves an hour of
            Kaggle's 12-hour session for evaluation and saving.
        bad_steps_halve_lr: consecutive NaN/Inf steps after which the learning rate halves.
        bad_steps_stop: consecutive NaN/Inf steps after which training stops.
        checkpoint_dir: folder for checkpoints; None keeps the best weights in memory only.
        full_checkpoints: also write `last.pt` (optimizer, scaler, RNG, history) each
            epoch so the run can be resumed.
        checkpoint_fp16: store floating-point weights as fp16 in weights-only checkpoints.
        keep_best: how many best weights-only checkpoints to keep on disk.
        cleanup_every: run recsys_lib.memory.cleanup() every this many optimizer steps;
            0: never (benchmarks/vae.py measures its cost).
        progress: show a tqdm progress bar per epoch.
        warn_gap: the largest train/validation gap (in the validation metric's units) that
            passes without an early warning; None: not measured (the fit-subset metric
            costs a second validation pass per epoch).
        warn_plateau_before: warn when the validation metric stops improving before this
            epoch (see recsys_lib.training.early_warnings).
    """

    epochs: int = 20
    batch_size: int = 1024
    micro_batch_size: int | None = None
    eval_batch_size: int | None = None
    lr: float = 1e-3
    min_lr: float = 1e-5
    lr_schedule: str = "cosine"
    schedule_epochs: int | None = None
    warmup_steps: int = 0
    optimizer: str = "adam"
    weight_decay: float = 0.0
    gradient_clipping: float | None = 1.0
    mixed_precision: bool | str = "auto"
    device: str = "auto"
    seed: int = 42
    patience: int | None = 5
    min_delta: float = 0.0
    max_minutes: float | None = 660.0
    bad_steps_halve_lr: int = 3
    bad_steps_stop: int = 10
    checkpoint_dir: str | None = None
    full_checkpoints: bool = False
    checkpoint_fp16: bool = False
    keep_best: int = 1
    cleanup_every: int = 0
    progress: bool = True
    warn_gap: float | None = 0.15
    warn_plateau_before: int = 20

    def __post_init__(self) -> None:
        if isinstance(self.mixed_precision, bool):
            object.__setattr__(self, "mixed_precision", "auto" if self.mixed_precision else "off")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION} or a boolean, "
                             f"got {self.mixed_precision!r}")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size,
                    "bad_steps_halve_lr": self.bad_steps_halve_lr,
                    "bad_steps_stop": self.bad_steps_stop, "keep_best": self.keep_best}
        optional = {"micro_batch_size": self.micro_batch_size,
                    "eval_batch_size": self.eval_batch_size, "patience": self.patience,
                    "schedule_epochs": self.schedule_epochs}
        for name, value in {**positive, **optional}.items():
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.warn_gap is not None and self.warn_gap <= 0:
            raise ValueError(f"warn_gap must be > 0 or None, got {self.warn_gap}")
        for name in ("weight_decay", "min_delta", "warmup_steps", "cleanup_every",
                     "warn_plateau_before"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_minutes is not None and self.max_minutes < 0:
            raise ValueError(f"max_minutes must be >= 0, got {self.max_minutes}")
        if self.gradient_clipping is not None and self.gradient_clipping < 0:
            raise ValueError(f"gradient_clipping must be >= 0, got {self.gradient_clipping}")
        if self.full_checkpoints and self.checkpoint_dir is None:
            raise ValueError("full_checkpoints needs a checkpoint_dir to write them to")
        LRSchedule(self.lr, self.min_lr, 1, self.warmup_steps, self.lr_schedule)  # validates

    @property
    def micro_batch(self) -> int:
        """Samples per forward/backward pass (never more than the batch)."""
        return min(self.micro_batch_size or self.batch_size, self.batch_size)

    @property
    def eval_batch(self) -> int:
        """Samples per validation pass."""
        return self.eval_batch_size or 4 * self.batch_size
