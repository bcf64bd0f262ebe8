"""A memory plan to show before training: parameters, estimated bytes, verdict, a micro-batch
that fits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from recsys_lib.memory import MB, Preflight, preflight, training_bytes
from recsys_lib.memory.preflight import VERDICTS
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
        preflight: the verdict against the memory available on `device`; with several
            cards, the worst card's.
        suggested_micro_batch: the largest power of two at most `micro_batch_size` whose
            estimate "fits"; set when the verdict is not "fits", None otherwise (also None
            when even one sample does not fit).
        world_size: training processes (data-parallel ranks, one per GPU).
        cards: with more than one process, each one's verdict ("training on cuda:1"): every
            card holds the weights, gradients, optimizer state and its rank's micro-batch.
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
    world_size: int = 1
    cards: tuple[Preflight, ...] = ()

    @property
    def verdict(self) -> str:
        """"fits", "tight" or "will not fit"."""
        return self.preflight.verdict

    def to_frame(self) -> pd.DataFrame:
        """A two-column table ("what", "value") for a notebook cell."""
        rows = [
            ("device", self.device if self.world_size == 1
             else f"{self.device} x {self.world_size} processes (data parallel)"),
            ("trainable parameters", f"{self.n_params:,}"),
            ("weights + grads + optimizer", format_mb(self.state_mb)),
            ("activations per sample", f"{self.activation_bytes_per_sample:,} bytes"),
            ("training data", format_mb(self.data_mb)),
            ("batch / micro-batch", f"{self.batch_size} / {self.micro_batch_size}"),
            ("estimated training memory" + (" per process" if self.cards else ""),
             format_mb(self.estimate_mb)),
            *((_card_device(card), f"{format_mb(card.available_mb)} available: {card.verdict}")
              for card in self.cards),
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
            "world_size": self.world_size,
            "cards": [{"device": _card_device(card),
                       "available_mb": round(card.available_mb, 1), "verdict": card.verdict}
                      for card in self.cards],
        }


_CARD_LABEL = "training on "


def _card_device(card: Preflight) -> str:
    """The device a card's verdict is for ("cuda:1")."""
    return card.label.removeprefix(_CARD_LABEL)


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
    available_bytes: int | Sequence[int] | None = None,
    tight_fraction: float = 0.7,
    world_size: int = 1,
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
        available_bytes: memory to compare with (one value per card with several);
            None reads it from the device.
        tight_fraction: share of the available memory above which the verdict is "tight".
        world_size: data-parallel processes. On CUDA one per card ("cuda:0", "cuda:1",
            ...), each judged against its own free memory; on the CPU they share the
            machine's memory, so their estimates add up.
    """
    n_params = count_parameters(module)
    state = training_bytes(n_params, optimizer=optimizer, mixed_precision=mixed_precision)
    estimate = training_estimate_bytes(
        n_params, micro_batch_size=micro_batch_size,
        activation_bytes_per_sample=activation_bytes_per_sample, data_bytes=data_bytes,
        optimizer=optimizer, mixed_precision=mixed_precision)
    on_cuda = device.startswith("cuda")
    devices = ([f"cuda:{rank}" for rank in range(world_size)] if on_cuda and world_size > 1
               else [device])
    availables = (list(available_bytes) if isinstance(available_bytes, Sequence)
                  else [available_bytes] * len(devices))
    if len(availables) != len(devices):
        raise ValueError(f"{len(availables)} available_bytes values for {len(devices)} cards")
    per_device = estimate if on_cuda else estimate * world_size
    checks = tuple(
        preflight(per_device, label=f"{_CARD_LABEL}{card}", tight_fraction=tight_fraction,
                  available_bytes=torch.cuda.mem_get_info(torch.device(card))[0]
                  if available is None and on_cuda else available)
        for card, available in zip(devices, availables, strict=True))
    check = max(checks, key=lambda card: (VERDICTS.index(card.verdict), -card.available_mb))
    suggested = None
    if check.verdict != "fits":
        sharing = 1 if on_cuda else world_size  # processes sharing the memory checked
        budget = tight_fraction * check.available_mb * MB / sharing - state - data_bytes
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
        world_size=world_size, cards=checks if world_size > 1 else (),
    )
