"""What both VAEs share: the Gaussian latent layer, the KL term, and the Recommender glue that
trains a network with the Trainer and saves it as numpy arrays."""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from recsys_lib.data.interactions import Interactions
from recsys_lib.device import resolve_device
from recsys_lib.models.base import Recommender, fit_estimate
from recsys_lib.models.vae.config import VAEConfig
from recsys_lib.training import (
    BatchSource,
    LossOutput,
    StepInfo,
    Trainer,
    TrainerConfig,
    TrainingPlan,
    TrainResult,
    ValidateFn,
)
from recsys_lib.training.early_warnings import COLLAPSE_KL_NATS

__all__ = [
    "FLOAT_BYTES",
    "VAERecommender",
    "evaluating",
    "gaussian_kl",
    "kl_per_dimension",
    "mlp",
    "reparameterize",
]

logger = logging.getLogger(__name__)

FLOAT_BYTES = 4
_STATE_PREFIX = "net."
_FIT_SUBSET_RATINGS = 20_000  # at most this many fit ratings measure the train side


def mlp(widths: Sequence[int], activation: Callable[[], nn.Module], dropout: float = 0.0,
        last_activation: bool = True) -> nn.Sequential:
    """Linear layers `widths[0] -> widths[1] -> ...`, each followed by `activation` (and
    dropout when `dropout` > 0); `last_activation=False` leaves the last layer linear."""
    layers: list[nn.Module] = []
    for index, (n_in, n_out) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(n_in, n_out))
        if last_activation or index < len(widths) - 2:
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) of each latent dimension, averaged over the
    batch: float32 nats of shape (latent_dim,)."""
    mu, logvar = mu.float(), logvar.float()
    return (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).mean(dim=0)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float = 0.0) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) summed over latent dimensions, averaged over the
    batch, in nats (computed in float32).

    With `free_bits` > 0 each dimension's batch-mean KL counts as at least `free_bits`
    (Kingma et al., 2016), so dimensions under it get no gradient towards the prior.
    """
    per_dimension = kl_per_dimension(mu, logvar)
    if free_bits > 0:
        return torch.clamp(per_dimension, min=free_bits).sum()
    return per_dimension.sum()


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, sample: bool) -> torch.Tensor:
    """`mu + eps * exp(logvar / 2)` with eps ~ N(0, 1) when `sample`, else `mu`."""
    if not sample:
        return mu
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


@contextmanager
def evaluating(network: nn.Module) -> Iterator[None]:
    """Run the block in eval mode (no dropout) without gradients, then restore the mode."""
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        network.train(was_training)


class VAERecommender(Recommender):
    """A Recommender whose `fit` trains a torch network with the `Trainer`.

    Subclasses implement `_shape_network` (and may override `_build_network`),
    `validation_metric`, `validation_target`,
    `_batches`, `_loss`, `_validator`, `_activation_bytes_per_sample` and `_data_bytes`.
    Weights are saved as float32 numpy arrays (the state
    dict keys prefixed with "net."), never pickled.

    Args:
        config: the model's settings (a config object or a mapping of its keys).
        trainer: the trainer's settings (likewise); None takes the defaults.

    Attributes:
        network_: the trained torch module (on `device_`), after fit or load.
        device_: the device the network lives on.
        result_: the `TrainResult` of the last fit (history, stop reason, ...).
        trainer_: the `Trainer` of the last fit (its `memory` holds the memory timeline).
        history_: per-epoch history of the last fit (a DataFrame).
        callbacks: functions called after every optimizer step with a `StepInfo`.
    """

    config_class: ClassVar[type[VAEConfig]]

    def __init__(self, config: VAEConfig | Mapping[str, Any] | None = None,
                 trainer: TrainerConfig | Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.config = _as_config(self.config_class, config)
        self.trainer_config = _as_config(TrainerConfig, trainer)
        self._kl = self.config.kl()  # KL weight per optimizer step
        self._kl_controller = self.config.kl_controller()  # "adaptive": set per fit
        self.callbacks: list[Callable[[StepInfo], None]] = []
        self.network_: nn.Module | None = None
        self.device_: str = "cpu"
        self.result_: TrainResult | None = None
        self.trainer_: Trainer | None = None
        self._validation: Interactions | None = None
        self._resume_from: str | Path | None = None

    # ---- what subclasses implement -------------------------------------------------
    @abstractmethod
    def _shape_network(self, n_users: int, n_items: int) -> nn.Module:
        """A network of this shape with its default initialisation."""

    def _build_network(self, train: Interactions) -> nn.Module:
        """The untrained network for `train`; subclasses may start weights from its values."""
        return self._shape_network(train.n_users, train.n_items)

    @property
    @abstractmethod
    def validation_metric(self) -> tuple[str, str]:
        """Validation metric for early stopping and "min" or "max" (which is better)."""

    @property
    @abstractmethod
    def validation_target(self) -> float | None:
        """The config's target for `validation_metric` (training stops once reached)."""

    @abstractmethod
    def _batches(self, train: Interactions, trainer: Trainer) -> BatchSource:
        """Training batches on the trainer's device."""

    @abstractmethod
    def _loss(self, network: nn.Module, micro_batch: Any, step: int) -> LossOutput:
        """Mean loss of one micro-batch at optimizer `step`."""

    def _elbo(self, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              step: int) -> LossOutput:
        """Reconstruction loss plus the KL weight (scheduled, or set by the adaptive
        controller from this KL) x KL (with free bits). The parts logged: the KL without
        free bits and `kl_active`, the share of latent dimensions carrying at least
        `COLLAPSE_KL_NATS` (posterior collapse shows as it falling)."""
        per_dimension = kl_per_dimension(mu, logvar)
        kl = per_dimension.sum()
        free_bits = self.config.free_bits
        penalty = kl if free_bits <= 0 else torch.clamp(per_dimension, min=free_bits).sum()
        weight = (kl.new_tensor(self._kl(step)) if self._kl_controller is None
                  else self._kl_controller(kl))
        active = (per_dimension.detach() >= COLLAPSE_KL_NATS).float().mean()
        return LossOutput(recon + weight * penalty, {"recon_loss": recon, "kl": kl,
                                                     "kl_weight": weight, "kl_active": active})

    @abstractmethod
    def _validator(self, validation: Interactions) -> ValidateFn:
        """The Trainer's `validate` function for `validation` (it receives `network_`);
        what can be computed once is computed here."""

    @abstractmethod
    def _fit_validator(self, train: Interactions, n_ratings: int) -> ValidateFn:
        """The validation metric on a fixed, seeded subset of about `n_ratings` of the fit
        data `train`, in the same units (the train side of the train/validation gap)."""

    @abstractmethod
    def _activation_bytes_per_sample(self, n_items: int) -> int:
        """Rough bytes of activations (and their gradients) one training sample keeps."""

    # ---- the protocol ----------------------------------------------------------------
    def fit(self, train: Interactions, validation: Interactions | None = None, *,
            resume_from: str | Path | None = None) -> VAERecommender:
        """Train on `train` with the Trainer; returns self.

        Args:
            train: training interactions.
            validation: held-out interactions for early stopping and the best weights
                (users and items unknown to `train` use the fallbacks); None: no early
                stopping, the last epoch's weights are kept.
            resume_from: a full checkpoint of an interrupted fit on the same data.
        """
        self._validation, self._resume_from = validation, resume_from
        try:
            return super().fit(train)
        finally:
            self._validation, self._resume_from = None, None

    def _fit(self, train: Interactions) -> None:
        # A fresh controller per fit (its integral restarts, also on resume).
        self._kl_controller = self.config.kl_controller()
        trainer = Trainer(self.trainer_config, callbacks=self.callbacks)
        self.trainer_, self.device_ = trainer, trainer.device

        def build() -> nn.Module:  # called by fit once seeded: a seeded initialisation
            self.network_ = self._build_network(train)
            return self.network_

        validate = None if self._validation is None else self._validator(self._validation)
        if validate is not None and self.trainer_config.warn_gap is not None:
            validate = _with_fit_metrics(validate, self._fit_validator(
                train, min(self._validation.nnz, _FIT_SUBSET_RATINGS)))
        metric, mode = self.validation_metric
        self.result_ = trainer.fit(build, self._loss, self._batches(train, trainer),
                                   validate=validate, metric=metric, mode=mode,
                                   resume_from=self._resume_from,
                                   target=None if validate is None else self.validation_target)
        self._require_network().eval()
        logger.info("%s: %s", type(self).__name__, self.result_.message)

    @property
    def history_(self) -> pd.DataFrame:
        """Per-epoch training history (a DataFrame) of the last fit."""
        if self.result_ is None:
            raise AttributeError("history_ exists after fit()")
        return self.result_.history

    def plan(self, train: Interactions, available_bytes: int | Sequence[int] | None = None,
             *, world_size: int = 1) -> TrainingPlan:
        """Memory plan of fitting on `train` with these settings, without allocating the
        network (parameters are counted on torch's meta device); its `estimate_bytes` is
        what `estimate_fit_bytes` returns for this model and data size. With `world_size`
        data-parallel processes, each card's verdict (see `Trainer.plan`)."""
        trainer, network, activations, data = self._memory_terms(train.n_users, train.n_items,
                                                                 train.nnz)
        return trainer.plan(network, activations, available_bytes, data_bytes=data,
                            world_size=world_size)

    @fit_estimate
    def estimate_fit_bytes(cls, n_users: int, n_items: int, nnz: int, *,
                           config: VAEConfig | Mapping[str, Any] | None = None,
                           trainer: TrainerConfig | Mapping[str, Any] | None = None) -> int:
        """Bytes `fit` needs: weights, gradients and optimizer state, activations of one
        micro-batch, and the training data the batching holds (the plan's estimate).

        Called on a model, `config` and `trainer` default to that model's own settings.

        Args:
            n_users: training rows.
            n_items: training columns.
            nnz: training ratings.
            config: model settings (None: the defaults).
            trainer: trainer settings (None: the defaults).
        """
        trainer_, network, activations, data = cls(config, trainer)._memory_terms(
            n_users, n_items, nnz)
        return trainer_.estimate_bytes(network, activations, data_bytes=data)

    def _memory_terms(self, n_users: int, n_items: int, nnz: int
                      ) -> tuple[Trainer, nn.Module, int, int]:
        """What `plan` and `estimate_fit_bytes` both compute from: a Trainer with these
        settings, the network on the meta device, activation bytes per sample and the
        training data bytes."""
        with torch.device("meta"):
            network = self._shape_network(n_users, n_items)
        return (Trainer(self.trainer_config), network,
                self._activation_bytes_per_sample(n_items), self._data_bytes(n_users, nnz))

    @abstractmethod
    def _data_bytes(self, n_users: int, nnz: int) -> int:
        """Bytes of the training data the batch source keeps."""

    def get_params(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "trainer": self.trainer_config.to_dict()}

    def _get_state(self) -> dict[str, np.ndarray]:
        return {_STATE_PREFIX + key: value.detach().float().cpu().numpy()
                for key, value in self._require_network().state_dict().items()}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        train = self._require_fitted()
        self.device_ = resolve_device(self.trainer_config.device)
        network = self._shape_network(train.n_users, train.n_items)
        weights = {key.removeprefix(_STATE_PREFIX): torch.from_numpy(value)
                   for key, value in state.items() if key.startswith(_STATE_PREFIX)}
        network.load_state_dict(weights)
        self.network_ = network.to(self.device_).eval()

    def _require_network(self) -> nn.Module:
        self._require_fitted()
        if self.network_ is None:
            raise RuntimeError(f"{type(self).__name__} has no network; fit() failed?")
        return self.network_


def _with_fit_metrics(held_out: ValidateFn, fit: ValidateFn) -> ValidateFn:
    """Validation metrics plus the same metrics on the fit subset, prefixed "fit_"."""

    def validate(network: nn.Module) -> dict[str, float]:
        return {**held_out(network), **{f"fit_{name}": value
                                        for name, value in fit(network).items()}}

    return validate


def _as_config(config_class: type[Any], value: Any) -> Any:
    if value is None:
        return config_class()
    if isinstance(value, config_class):
        return value
    if isinstance(value, Mapping):
        return config_class.from_dict(value)
    raise TypeError(f"expected a {config_class.__name__} or a mapping, got {type(value).__name__}")
