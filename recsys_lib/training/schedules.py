"""Learning-rate and KL-weight schedules as pure functions of the optimizer step.

A schedule holds no state beyond its settings, so a resumed run recomputes the same value
from the step count alone and checkpoints need not store a scheduler object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["KL_SCHEDULES", "LR_SCHEDULES", "KLSchedule", "LRSchedule"]

LR_SCHEDULES = ("cosine", "exponential", "constant")
KL_SCHEDULES = ("constant", "linear", "cyclical", "adaptive")


@dataclass(frozen=True)
class LRSchedule:
    """Linear warmup from 0 to `lr`, then a decay from `lr` to `min_lr` at `total_steps`.

    Attributes:
        lr: peak learning rate, reached at the end of warmup.
        min_lr: learning rate at the last step ("cosine" and "exponential").
        total_steps: optimizer steps in the whole run (warmup included).
        warmup_steps: steps of the linear warmup; step `s < warmup_steps` gets
            `lr * (s + 1) / warmup_steps`.
        kind: "cosine" (half cosine), "exponential" (geometric: `lr * (min_lr / lr) ** t`
            with `t` the decay fraction in [0, 1]) or "constant".
    """

    lr: float
    min_lr: float
    total_steps: int
    warmup_steps: int = 0
    kind: str = "cosine"

    def __post_init__(self) -> None:
        if self.kind not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.kind!r}")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr and lr > 0; got lr={self.lr}, "
                             f"min_lr={self.min_lr}")
        if self.kind == "exponential" and self.min_lr == 0:
            raise ValueError("exponential decay needs min_lr > 0")
        if self.warmup_steps < 0 or self.total_steps < 1:
            raise ValueError(f"need warmup_steps >= 0 and total_steps >= 1; got "
                             f"{self.warmup_steps} and {self.total_steps}")

    def __call__(self, step: int) -> float:
        """Learning rate for the 0-based optimizer `step`."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return self.lr
        decay_steps = self.total_steps - self.warmup_steps - 1
        t = 1.0 if decay_steps <= 0 else min(1.0, (step - self.warmup_steps) / decay_steps)
        if self.kind == "cosine":
            return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * t))
        return self.lr * (self.min_lr / self.lr) ** t


@dataclass(frozen=True)
class KLSchedule:
    """Weight of the KL term of a VAE loss at each optimizer step.

    Attributes:
        weight: the largest weight (beta).
        kind: "constant" (always `weight`), "linear" (from 0 to `weight` over
            `anneal_steps`, then held) or "cyclical" (Fu et al., 2019: cycles of
            `anneal_steps` steps; rising linearly over the first `ratio` of each cycle, held
            at `weight` for the rest).
        anneal_steps: steps of the linear ramp, or the length of one cycle.
        ratio: rising fraction of a cycle ("cyclical" only), in (0, 1].
    """

    weight: float
    kind: str = "constant"
    anneal_steps: int = 1000
    ratio: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in KL_SCHEDULES:
            raise ValueError(f"kl_schedule must be one of {KL_SCHEDULES}, got {self.kind!r}")
        if self.weight < 0:
            raise ValueError(f"kl_weight must be >= 0, got {self.weight}")
        if self.anneal_steps < 1:
            raise ValueError(f"kl_anneal_steps must be >= 1, got {self.anneal_steps}")
        if not 0 < self.ratio <= 1:
            raise ValueError(f"kl_cycle_ratio must be in (0, 1], got {self.ratio}")

    def __call__(self, step: int) -> float:
        """KL weight for the 0-based optimizer `step`."""
        if self.kind in ("constant", "adaptive"):
            return self.weight
        if self.kind == "linear":
            return self.weight * min(1.0, step / self.anneal_steps)
        position = (step % self.anneal_steps) / self.anneal_steps
        return self.weight * min(1.0, position / self.ratio)
