"""Early warnings of a training run, checked on each finished epoch's history row; each
kind fires once, at the first epoch that shows it.

- posterior collapse: most latent dimensions carry less than `COLLAPSE_KL_NATS` of KL
  (the `kl_active` column: the share of dimensions above it), or the mean KL fell below
  `KL_FALL_FRACTION` of its peak;
- a train/validation gap: the metric on a fixed subset of the fit data (`val_fit_<name>`)
  is better than on the validation set by more than a threshold, in the metric's units;
- a plateau: the validation metric did not improve for `PLATEAU_EPOCHS` epochs before
  a given epoch;
- GPU memory: the card's peak reserved memory above `GPU_FRACTION` of its total;
- repeated NaN/Inf steps: `BAD_STEPS` skipped steps or more so far.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch

__all__ = [
    "BAD_STEPS",
    "COLLAPSE_ACTIVE_FRACTION",
    "COLLAPSE_KL_NATS",
    "GPU_FRACTION",
    "KL_FALL_FRACTION",
    "PLATEAU_EPOCHS",
    "WARNING_KINDS",
    "EarlyWarning",
    "EarlyWarnings",
    "gpu_memory_fraction",
]

logger = logging.getLogger(__name__)

WARNING_KINDS = ("posterior_collapse", "train_val_gap", "plateau", "gpu_memory", "bad_steps")
#: A latent dimension whose batch-mean KL is below this many nats carries no information.
COLLAPSE_KL_NATS = 0.01
#: Posterior collapse when fewer than this share of the dimensions are active.
COLLAPSE_ACTIVE_FRACTION = 0.5
#: ... or when the mean KL fell below this fraction of its peak so far.
KL_FALL_FRACTION = 0.01
PLATEAU_EPOCHS = 3
GPU_FRACTION = 0.9
BAD_STEPS = 3


@dataclass(frozen=True)
class EarlyWarning:
    """One early warning.

    Attributes:
        kind: one of `WARNING_KINDS`.
        epoch: the 1-based epoch where it first showed.
        message: what was seen, with the numbers.
    """

    kind: str
    epoch: int
    message: str

    def __str__(self) -> str:
        return f"WARNING: epoch {self.epoch}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for results.json "warnings"."""
        return asdict(self)


def gpu_memory_fraction(device: str) -> float | None:
    """Peak memory torch reserved on the CUDA `device` as a share of the card's total;
    None on a CPU or without CUDA."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return None
    total = torch.cuda.get_device_properties(device).total_memory
    return torch.cuda.max_memory_reserved(device) / total if total else None


class EarlyWarnings:
    """Checks history rows as epochs finish and keeps the warnings that fired.

    Args:
        metric: the validation column that selects the best epoch ("val_rmse"), or None
            without validation (then only the collapse, memory and NaN checks run).
        mode: "min" or "max": which way `metric` is better.
        gap: the largest train/validation gap that passes, in `metric`'s units; None: off.
        plateau_before: a plateau that starts before this epoch is warned about.
        device: the training device (GPU memory is read on CUDA).

    Attributes:
        fired: the warnings so far, in the order they fired.
    """

    def __init__(self, *, metric: str | None, mode: str, gap: float | None,
                 plateau_before: int, device: str) -> None:
        self.metric, self.mode, self.gap = metric, mode, gap
        self.plateau_before, self.device = plateau_before, device
        self.fired: list[EarlyWarning] = []
        self._kl_peak = 0.0
        self._since_best = 0
        self._bad_steps_so_far = 0

    def check(self, row: Mapping[str, Any]) -> list[EarlyWarning]:
        """The warnings that fire first at this epoch's `row` (logged, and kept)."""
        epoch = int(row["epoch"])
        found = {kind: message for kind, message in (
            ("posterior_collapse", self._collapse(row)), ("train_val_gap", self._gap(row)),
            ("plateau", self._plateau(row, epoch)), ("gpu_memory", self._gpu()),
            ("bad_steps", self._bad_steps(row))) if message}
        seen = {warning.kind for warning in self.fired}
        new = [EarlyWarning(kind, epoch, message) for kind, message in found.items()
               if kind not in seen]
        for warning in new:
            logger.warning("%s", warning)
        self.fired.extend(new)
        return new

    def _collapse(self, row: Mapping[str, Any]) -> str | None:
        active, kl = row.get("kl_active"), row.get("kl")
        if active is not None and math.isfinite(active) and active < COLLAPSE_ACTIVE_FRACTION:
            return (f"posterior collapse: only {active:.0%} of the latent dimensions carry "
                    f"{COLLAPSE_KL_NATS} nats of KL or more")
        if kl is None or not math.isfinite(kl):
            return None
        self._kl_peak = max(self._kl_peak, kl)
        if self._kl_peak > 0 and kl < KL_FALL_FRACTION * self._kl_peak:
            return (f"posterior collapse: the mean KL fell to {kl:.3g} nats, under "
                    f"{KL_FALL_FRACTION:.0%} of its peak {self._kl_peak:.3g}")
        return None

    def _gap(self, row: Mapping[str, Any]) -> str | None:
        if self.gap is None or self.metric is None:
            return None
        fit_key = "val_fit_" + self.metric.removeprefix("val_")
        held_out, fit = row.get(self.metric), row.get(fit_key)
        if held_out is None or fit is None or not math.isfinite(held_out - fit):
            return None
        gap = held_out - fit if self.mode == "min" else fit - held_out
        if gap <= self.gap:
            return None
        name = self.metric.removeprefix("val_")
        return (f"train/validation gap {gap:.3f} > {self.gap:g}: {name} {fit:.4f} on a "
                f"subset of the fit data, {held_out:.4f} on the validation set (overfitting)")

    def _plateau(self, row: Mapping[str, Any], epoch: int) -> str | None:
        if self.metric is None:
            return None
        self._since_best = 0 if row.get("improved") else self._since_best + 1
        if self._since_best < PLATEAU_EPOCHS or epoch >= self.plateau_before:
            return None
        return (f"plateau: {self.metric} has not improved for {self._since_best} epochs, "
                f"before epoch {self.plateau_before}")

    def _gpu(self) -> str | None:
        fraction = gpu_memory_fraction(self.device)
        if fraction is None or fraction <= GPU_FRACTION:
            return None
        return (f"GPU memory: peak {fraction:.0%} of the card reserved (> "
                f"{GPU_FRACTION:.0%}); lower micro_batch_size before an out-of-memory error")

    def _bad_steps(self, row: Mapping[str, Any]) -> str | None:
        self._bad_steps_so_far += int(row.get("skipped_steps") or 0)
        if self._bad_steps_so_far < BAD_STEPS:
            return None
        return (f"{self._bad_steps_so_far} NaN/Inf steps skipped so far: lower the learning "
                f"rate or check the data")
