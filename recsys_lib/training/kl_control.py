"""The adaptive KL weight: a PI feedback controller that holds a VAE's KL term near a
target (Shao et al., 2020, "ControlVAE").

Unlike the schedules, the weight depends on the KL the model produces, so the controller
keeps state (its integral). It works on tensors, so reading the KL never waits for the
device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["KLController"]


@dataclass
class KLController:
    """PI control of the KL weight: more weight while the KL is above `target`, less while
    it is below.

    With the relative error `e = (kl - target) / target`, each call returns

        weight = clamp(max_weight * (kp * sigmoid(e) + I), 0, max_weight),
        I <- clamp(I + ki * e, -kp, 1)

    (the proportional term is ControlVAE's `Kp / (1 + exp(-e))`; clamping the integral
    is its anti-windup). At the target the proportional term alone gives
    `max_weight * kp / 2`; the integral adds or takes away what holding the target
    takes.

    Attributes:
        target: the KL to hold, in nats per sample (per user for MultVAE, per rating for
            RatingVAE); > 0.
        max_weight: the largest weight (the config's `kl_weight`).
        kp: proportional gain, as a fraction of `max_weight`.
        ki: integral gain per call and unit relative error, a fraction of `max_weight`.
    """

    target: float
    max_weight: float
    kp: float = 0.5
    ki: float = 0.01

    def __post_init__(self) -> None:
        if self.target <= 0:
            raise ValueError(f"kl_target must be > 0 nats, got {self.target}")
        if self.kp < 0 or self.ki < 0:
            raise ValueError(f"kl_kp and kl_ki must be >= 0, got {self.kp} and {self.ki}")
        self._integral: torch.Tensor | None = None

    def __call__(self, kl: torch.Tensor) -> torch.Tensor:
        """The weight for a loss whose KL term is `kl` (a scalar tensor, detached here),
        on `kl`'s device; updates the integral."""
        error = (kl.detach().float() - self.target) / self.target
        if self._integral is None:
            self._integral = torch.zeros((), device=error.device)
        self._integral = (self._integral + self.ki * error).clamp(-self.kp, 1.0)
        fraction = self.kp * torch.sigmoid(error) + self._integral
        return (self.max_weight * fraction).clamp(0.0, self.max_weight)
