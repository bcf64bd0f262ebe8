"""A memory plan to show before training: parameters, estimated bytes, verdict, a micro-batch
that fits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from recsys_lib.memory import MB, Preflight, preflight, training_bytes
from recsys_lib.memory.units import format_mb

__all__ = ["TrainingPlan", "count_parameters", "plan_training", "training_estimate_bytes"]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@dataclass(frozen=True)
class TrainingPlan:
    """Estimated training memory for one configuration.

    Attributes:
        n_params: trainable parameters.
        device: where training runs.
        batch_size: effective batch (samples per optimizer step).
        micro_batch_size: samples per forward/backward pass.
        activation_bytes_per_sample: activation bytes one sample keeps for the backward pass.
        state_mb: weights + gradients + optimizer state (+ autocast copies), in MB.
        data_mb: the training data the batch source holds, in MB.
        estimate_mb: state, activations of one micro-batch and training data, in MB.
        estimate_bytes: `estimate_mb` in bytes (what `training_estimate_bytes` returns).
        preflight: the verdict against the memory available on `device`.
        suggested_micro_batch: the largest power of two at most `micro_batch_size` whose
            estimate "fits"; set when the verdict is not "fits", None otherwise (also None
            when even one sample does not fit).
    """

    n_params: int
    device: str
    batch_size: int
    micro_batch_size: int
    activation_bytes_per_sample: int
    state_mb: float
    data_mb: float
    estimate_mb: float
    estimate_bytes: int
    preflight: Preflight
    suggested_micro_batch: int | None

    @property
    def verdict(self) -> str:
        """"fits", "tight" or "will not fit"."""
        return self.preflight.verdict

    def to_frame(self) -> pd.DataFrame:
        """A two-column table ("what", "value") for a notebook cell."""
        rows = [
            ("device", self.device),
            ("trainable parameters", f"{self.n_params:,}"),
            ("weights + grads + optimizer", format_mb(self.state_mb)),
            ("activations per sample", f"{self.activation_bytes_per_sample:,} bytes"),
            ("training data", format_mb(self.data_mb)),
            ("batch / micro-batch", f"{self.batch_size} / {self.micro_batch_size}"),
            ("estimated training memory", format_mb(self.estimate_mb)),
            ("available", format_mb(self.preflight.available_mb)),
            ("verdict", self.verdict),
        ]
        if self.suggested_micro_batch is not None:
            rows.append(("suggested micro-batch", str(self.suggested_micro_batch)))
        return pd.DataFrame(rows, columns=["what", "value"])

    def summary(self) -> dict[str, Any]:
        """JSON-ready plan for results.json "plan" (sizes in MB)."""
        return {
            "n_params": self.n_params,
            "device": self.device,
            "batch_size": self.batch_size,
            "micro_batch_size": self.micro_batch_size,
            "state_mb": round(self.state_mb, 2),
            "estimate_mb": round(self.estimate_mb, 2),
            "available_mb": round(self.preflight.available_mb, 1),
            "verdict": self.verdict,
            "suggested_micro_batch": self.suggested_micro_batch,
        }


def training_estimate_bytes(
    n_params: int,
    *,
    micro_batch_size: int,
    activation_bytes_per_sample: int,
    data_bytes: int = 0,
    optimizer: str = "adam",
    mixed_precision: bool = False,
) -> int:
    """Bytes training needs: weights, gradients and optimizer state (+ autocast copies),
    activations of one micro-batch, and the training data the batch source holds.

    Args:
        n_params: trainable parameters.
        micro_batch_size: samples per forward/backward pass.
        activation_bytes_per_sample: bytes of activations and their gradients per sample.
        data_bytes: bytes of training data held while training.
        optimizer: "adam", "adamw", "sgd" or "sgd_momentum".
        mixed_precision: count the half-precision weight copies autocast makes.
    """
    state = training_bytes(n_params, optimizer=optimizer, mixed_precision=mixed_precision)
    return state + activation_bytes_per_sample * micro_batch_size + data_bytes


def plan_training(
    module: nn.Module,
    *,
    batch_size: int,
    micro_batch_size: int,
    activation_bytes_per_sample: int,
    data_bytes: int = 0,
    device: str = "cpu",
    optimizer: str = "adam",
    mixed_precision: bool = False,
    available_bytes: int | None = None,
    tight_fraction: float = 0.7,
) -> TrainingPlan:
    """Estimate training memory and judge it against the device's free memory.

    Args:
        module: the network (parameters are counted, not allocated).
        batch_size: effective batch.
        micro_batch_size: samples per forward/backward pass.
        activation_bytes_per_sample: bytes of activations and their gradients per sample.
        data_bytes: bytes of training data held while training (counted in the estimate,
            not changed by a smaller micro-batch).
        device: "cpu" (container-aware available RAM) or "cuda[:N]" (free GPU memory).
        optimizer: "adam", "adamw", "sgd" or "sgd_momentum".
        mixed_precision: count the half-precision weight copies autocast makes.
        available_bytes: memory to compare with; None reads it from the device.
        tight_fraction: share of the available memory above which the verdict is "tight".
    """
    n_params = count_parameters(module)
    state = training_bytes(n_params, optimizer=optimizer, mixed_precision=mixed_precision)
    estimate = training_estimate_bytes(
        n_params, micro_batch_size=micro_batch_size,
        activation_bytes_per_sample=activation_bytes_per_sample, data_bytes=data_bytes,
        optimizer=optimizer, mixed_precision=mixed_precision)
    if available_bytes is None and device.startswith("cuda"):
        available_bytes = torch.cuda.mem_get_info(torch.device(device))[0]
    check = preflight(estimate, label=f"training on {device}", available_bytes=available_bytes,
                      tight_fraction=tight_fraction)
    suggested = None
    if check.verdict != "fits":
        budget = tight_fraction * check.available_mb * MB - state - data_bytes
        suggested = 1 << (micro_batch_size.bit_length() - 1)
        while suggested >= 1 and activation_bytes_per_sample * suggested > budget:
            suggested //= 2
        suggested = suggested or None
    return TrainingPlan(
        n_params=n_params, device=device, batch_size=batch_size,
        micro_batch_size=micro_batch_size,
        activation_bytes_per_sample=activation_bytes_per_sample,
        state_mb=state / MB, estimate_mb=estimate / MB, preflight=check,
        suggested_micro_batch=suggested, data_mb=data_bytes / MB, estimate_bytes=estimate,
    )
