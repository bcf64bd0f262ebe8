"""Mixed-precision policy (autocast dtype and GradScaler) and the CUDA speed switches."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch

__all__ = ["Precision", "configure_cuda", "native_bf16", "resolve_precision"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Precision:
    """How forward passes run and whether losses are scaled.

    Attributes:
        name: "fp32", "bf16" or "fp16".
        device_type: "cpu" or "cuda".
        dtype: autocast dtype; None runs in float32 without autocast.
        use_scaler: whether a GradScaler scales the loss (fp16 only).
    """

    name: str
    device_type: str
    dtype: torch.dtype | None
    use_scaler: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context for forward passes (a no-op context in fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only for fp16 (disabled, it passes values through)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.use_scaler)


def native_bf16(device: str) -> bool:
    """Whether the CUDA device computes in bf16 natively (compute capability 8.0, Ampere,
    or newer); torch.cuda.is_bf16_supported() also counts slow emulation, as on a T4."""
    return torch.cuda.get_device_capability(torch.device(device)) >= (8, 0)


def resolve_precision(mode: str, device: str, *, bf16_supported: bool | None = None) -> Precision:
    """Pick the autocast dtype and scaler for a `mixed_precision` mode on a device.

    Args:
        mode: "auto", "fp16", "bf16" or "off".
        device: a resolved device string ("cpu", "cuda", "cuda:N").
        bf16_supported: whether the CUDA device has native bf16; None asks the device
            (tests pass a value to exercise the CUDA branches on a CPU machine).

    Returns:
        fp32 for "off"; on CPU, bf16 autocast for every other mode (CPU autocast runs in
        bf16); on CUDA, "auto" gives bf16 where native, else fp16 with a GradScaler.
    """
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    if mode == "off":
        return Precision("fp32", device_type, None, use_scaler=False)
    if mode not in ("auto", "fp16", "bf16"):
        raise ValueError(f"mixed_precision must be auto, fp16, bf16 or off, got {mode!r}")
    if device_type == "cpu":
        if mode == "fp16":
            logger.warning("fp16 autocast is not used on the CPU; using bf16 instead")
        return Precision("bf16", "cpu", torch.bfloat16, use_scaler=False)
    if bf16_supported is None:
        bf16_supported = native_bf16(device)
    if mode == "bf16" and not bf16_supported:
        logger.warning("%s has no native bf16; using fp16 with a GradScaler instead", device)
    if mode != "fp16" and bf16_supported:
        return Precision("bf16", "cuda", torch.bfloat16, use_scaler=False)
    return Precision("fp16", "cuda", torch.float16, use_scaler=True)


def configure_cuda(device: str) -> None:
    """Turn on TF32 matmuls and cuDNN autotuning when `device` is CUDA (no-op on CPU)."""
    if not device.startswith("cuda"):
        return
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
