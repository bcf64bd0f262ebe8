"""A verdict on whether an estimated allocation fits in the memory still available."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from recsys_lib.memory.probes import memory_limit
from recsys_lib.memory.units import format_mb, to_mb

__all__ = ["VERDICTS", "Preflight", "preflight"]

logger = logging.getLogger(__name__)

VERDICTS = ("fits", "tight", "will not fit")


@dataclass(frozen=True)
class Preflight:
    """The verdict of `preflight`.

    Attributes:
        label: what was checked ("SVD fit"); may be empty.
        verdict: "fits", "tight" or "will not fit".
        estimate_mb: the estimate, in MB.
        available_mb: memory available when checked, in MB.
        message: one line with the numbers, e.g.
            "SVD fit: needs ~12.3 MB of 20,123.4 MB available -> fits".
    """

    label: str
    verdict: str
    estimate_mb: float
    available_mb: float
    message: str

    @property
    def ok(self) -> bool:
        """True unless the verdict is "will not fit"."""
        return self.verdict != "will not fit"

    def raise_if_not_fits(self) -> Preflight:
        """Return self, or raise MemoryError with `message` when the verdict is "will not fit"."""
        if not self.ok:
            raise MemoryError(self.message)
        return self


def preflight(
    estimate_bytes: int,
    *,
    label: str = "",
    available_bytes: int | None = None,
    tight_fraction: float = 0.7,
) -> Preflight:
    """Compare an estimate with the available memory.

    The verdict is "fits" up to `tight_fraction` of the available memory, "tight" up to all
    of it, and "will not fit" beyond.

    Args:
        estimate_bytes: bytes the step will allocate (see `dense_matrix_bytes`,
            `sparse_matrix_bytes`, `training_bytes`).
        label: what is checked, shown at the start of the message.
        available_bytes: memory to compare with; None = the container-aware available
            memory now (pass GPU free memory to check a GPU allocation).
        tight_fraction: share of the available memory above which the verdict is "tight".

    Raises:
        ValueError: a negative estimate or available memory, or tight_fraction not in (0, 1].
    """
    if estimate_bytes < 0:
        raise ValueError(f"estimate_bytes must be >= 0, got {estimate_bytes!r}")
    if available_bytes is not None and available_bytes < 0:
        raise ValueError(f"available_bytes must be >= 0, got {available_bytes!r}")
    if not 0 < tight_fraction <= 1:
        raise ValueError(f"tight_fraction must be in (0, 1], got {tight_fraction!r}")
    if available_bytes is None:
        available_bytes = memory_limit().available_bytes
    if estimate_bytes <= tight_fraction * available_bytes:
        verdict, note = "fits", ""
    elif estimate_bytes <= available_bytes:
        verdict, note = "tight", f" (over {tight_fraction:.0%} of it)"
    else:
        verdict, note = "will not fit", ""
    prefix = f"{label}: " if label else ""
    message = (
        f"{prefix}needs ~{format_mb(to_mb(estimate_bytes))} of "
        f"{format_mb(to_mb(available_bytes))} available -> {verdict}{note}"
    )
    logger.log(logging.INFO if verdict == "fits" else logging.WARNING, "%s", message)
    return Preflight(label, verdict, to_mb(estimate_bytes), to_mb(available_bytes), message)
