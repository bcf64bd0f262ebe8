"""Model configs of the VAEs and the run config that a YAML file holds.

A config file is one flat mapping: a `model` key (a VAE kind of
recsys_lib.models.vae.registry: "rating_vae" or "mult_vae"), that kind's model keys
(`RatingVAEConfig` or `MultVAEConfig`) and the trainer's (`TrainerConfig`).
Any other key is an error that names it, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys_lib.config import ConfigBase, ConfigError, check_known_keys, read_yaml_mapping
from recsys_lib.training.config import TrainerConfig
from recsys_lib.training.kl_control import KLController
from recsys_lib.training.schedules import KLSchedule

if TYPE_CHECKING:
    from recsys_lib.models.vae.common import VAERecommender
    from recsys_lib.models.vae.registry import VAEKind

__all__ = [
    "CONFIG_DIR_ENV",
    "PACKAGED_CONFIGS",
    "MultVAEConfig",
    "RatingVAEConfig",
    "RunConfig",
    "VAEConfig",
    "config_path",
    "load_config",
]

CONFIG_DIR_ENV = "RECSYS_CONFIG_DIR"
# Shipped inside the package (so a wheel on Kaggle has them); notebooks/configs links here.
PACKAGED_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class VAEConfig(ConfigBase):
    """Keys both VAEs share.

    Attributes:
        hidden_dims: widths of the encoder's hidden layers (the decoder mirrors them).
        latent_dim: size of the Gaussian latent code.
        dropout_rate: dropout probability (hidden layers for RatingVAE, the input for
            MultVAE).
        kl_weight: the largest weight of the KL term (beta).
        kl_schedule: "constant", "linear" (anneal from 0 over `kl_anneal_steps`),
            "cyclical" (cycles of `kl_anneal_steps` steps) or "adaptive" (a PI controller
            holds the KL per sample near `kl_target`, the weight between 0 and
            `kl_weight`; see `recsys_lib.training.KLController`).
        kl_anneal_steps: optimizer steps of the ramp, or of one cycle.
        kl_cycle_ratio: rising share of each cycle ("cyclical").
        free_bits: minimum KL per latent dimension, in nats (0: off); dimensions below
            it are not pushed further towards the prior.
        kl_target: the KL to hold with kl_schedule "adaptive", in nats per sample (per
            user for MultVAE, per rating for RatingVAE).
        kl_kp: the controller's proportional gain (a fraction of `kl_weight`).
        kl_ki: its integral gain per step and unit relative error (likewise).
        target_rmse: RatingVAE: stop training once the validation RMSE (stars) is at or
            below it; None: no target.
        target_ndcg: MultVAE: stop training once the validation NDCG@top_k is at or
            above it; None: no target.
    """

    hidden_dims: tuple[int, ...] = (600,)
    latent_dim: int = 200
    dropout_rate: float = 0.5
    kl_weight: float = 0.2
    kl_schedule: str = "linear"
    kl_anneal_steps: int = 1000
    kl_cycle_ratio: float = 0.5
    free_bits: float = 0.0
    kl_target: float = 10.0
    kl_kp: float = 0.5
    kl_ki: float = 0.01
    target_rmse: float | None = None
    target_ndcg: float | None = None

    def __post_init__(self) -> None:
        self.kl()  # validates the KL settings
        KLController(self.kl_target, self.kl_weight, self.kl_kp, self.kl_ki)  # and these
        if not self.hidden_dims or any(width < 1 for width in self.hidden_dims):
            raise ValueError(f"hidden_dims must be positive widths, got {self.hidden_dims}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if not 0 <= self.dropout_rate < 1:
            raise ValueError(f"dropout_rate must be in [0, 1), got {self.dropout_rate}")
        if self.free_bits < 0:
            raise ValueError(f"free_bits must be >= 0, got {self.free_bits}")
        if self.target_rmse is not None and self.target_rmse <= 0:
            raise ValueError(f"target_rmse must be > 0 stars, got {self.target_rmse}")
        if self.target_ndcg is not None and not 0 < self.target_ndcg <= 1:
            raise ValueError(f"target_ndcg must be in (0, 1], got {self.target_ndcg}")

    def kl(self) -> KLSchedule:
        """The KL-weight schedule these settings describe."""
        return KLSchedule(self.kl_weight, self.kl_schedule, self.kl_anneal_steps,
                          self.kl_cycle_ratio)

    def kl_controller(self) -> KLController | None:
        """A fresh controller of the KL weight with kl_schedule "adaptive", else None."""
        if self.kl_schedule != "adaptive":
            return None
        return KLController(self.kl_target, self.kl_weight, self.kl_kp, self.kl_ki)


@dataclass(frozen=True)
class RatingVAEConfig(VAEConfig):
    """RatingVAE: user and item embeddings -> MLP encoder -> latent -> MLP decoder -> rating.

    Attributes:
        n_factors: size of the user and of the item embedding.
        init_biases: start the global, user and item biases from the damped-mean
            baseline (recsys_lib.models.baseline.Biases), so the network starts from the
            baseline and learns the residual; False starts them at the mean and zero.
        fixed_biases: keep those baseline biases fixed (needs `init_biases`): the ratings
            are normalised by the regularised baseline and the network learns only the
            residual, instead of re-fitting the biases with nothing to damp them.
        dot_skip: add the dot product of the user and item embeddings to the decoder's
            residual, a matrix-factorisation path that skips the VAE.
        embedding_l2: L2 penalty on the embeddings of each batch's users and items (sum
            of squares per rating, as matrix factorisation's SGD applies it); 0: off.
        embedding_std: standard deviation of the embeddings' normal initialisation.
    """

    hidden_dims: tuple[int, ...] = (512, 256, 128)
    latent_dim: int = 32
    dropout_rate: float = 0.2
    kl_weight: float = 0.01
    n_factors: int = 64
    init_biases: bool = True
    fixed_biases: bool = False
    dot_skip: bool = False
    embedding_l2: float = 0.0
    embedding_std: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_factors < 1:
            raise ValueError(f"n_factors must be >= 1, got {self.n_factors}")
        if self.target_ndcg is not None:
            raise ValueError("target_ndcg applies to mult_vae; RatingVAE validates RMSE: "
                             "set target_rmse")
        if self.fixed_biases and not self.init_biases:
            raise ValueError("fixed_biases needs init_biases: true (the biases it keeps)")
        for name in ("embedding_l2", "embedding_std"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class MultVAEConfig(VAEConfig):
    """MultVAE (Liang et al., 2018): a user's item row -> encoder -> latent -> softmax over
    items. The defaults are the paper's: I -> 600 -> 200 -> 600 -> I, input dropout 0.5,
    KL weight annealed to 0.2.

    Attributes:
        positive_threshold: ratings at or above it count as interactions; None counts
            every rating.
        input_values: "binary" (each interaction is 1, as in the paper) or "rating" (the
            stars: the multinomial likelihood weighs well-rated items more).
        top_k: cut-off of the validation NDCG.
    """

    positive_threshold: float | None = None
    input_values: str = "binary"
    top_k: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.target_rmse is not None:
            raise ValueError("target_rmse applies to rating_vae; MultVAE validates NDCG: "
                             "set target_ndcg")
        if self.input_values not in ("binary", "rating"):
            raise ValueError(f"input_values must be 'binary' or 'rating', got "
                             f"{self.input_values!r}")


@dataclass(frozen=True)
class RunConfig:
    """A YAML config: which model, its settings and the trainer's.

    Attributes:
        model: the VAE kind's key ("rating_vae" or "mult_vae"; see `kind`).
        model_config: the model's settings.
        trainer: the trainer's settings.
        source: the file it came from ("" when built from a dict).
    """

    model: str
    model_config: VAEConfig
    trainer: TrainerConfig
    source: str = ""

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str = "") -> RunConfig:
        """Split one flat mapping into the model's and the trainer's keys.

        Raises:
            ConfigError: no or an unknown `model` (the known kinds listed), or keys that
                belong to neither config (all named), or a bad value.
        """
        where = f" in {source}" if source else ""
        values = dict(values)
        model = values.pop("model", None)
        try:
            model_class = _kind(model).config_class
        except ConfigError as error:
            raise ConfigError(f"key 'model'{where}: {error}") from None
        model_keys, trainer_keys = model_class.field_names(), TrainerConfig.field_names()
        check_known_keys(values, (*model_keys, *trainer_keys), what=f"{model} or trainer",
                         source=source)
        return cls(
            model=model,
            model_config=model_class.from_dict(
                {k: v for k, v in values.items() if k in model_keys}, source=source),
            trainer=TrainerConfig.from_dict(
                {k: v for k, v in values.items() if k in trainer_keys}, source=source),
            source=source,
        )

    @classmethod
    def from_yaml(cls, path: str | Path,
                  overrides: Mapping[str, Any] | None = None) -> RunConfig:
        """Read a YAML file; `overrides` (for example the notebook's EPOCHS) replace its
        keys before checking."""
        return cls.from_dict({**read_yaml_mapping(path), **(overrides or {})}, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The flat mapping a YAML file would hold."""
        return {"model": self.model, **self.model_config.to_dict(), **self.trainer.to_dict()}

    def with_overrides(self, overrides: Mapping[str, Any]) -> RunConfig:
        """A copy with some keys replaced (checked like `from_dict`)."""
        return RunConfig.from_dict({**self.to_dict(), **overrides}, source=self.source)

    @property
    def kind(self) -> VAEKind:
        """The registry entry of `model` (classes, display name, yardsticks)."""
        return _kind(self.model)

    def build(self) -> VAERecommender:
        """The unfitted model (a RatingVAE or MultVAE) these settings describe."""
        return self.kind.model_class(self.model_config, self.trainer)


def _kind(key: str) -> VAEKind:
    """`vae_kind(key)`, imported here: the registry imports the models, which import this
    module."""
    from recsys_lib.models.vae.registry import vae_kind

    return vae_kind(key)


def config_path(name_or_path: str | Path) -> Path:
    """The YAML file for a path, or for a bare name ("cpu_quick") looked up in the
    RECSYS_CONFIG_DIR folder, then among the configs shipped in the package
    (recsys_lib/configs, linked from notebooks/configs).

    Raises:
        ConfigError: nothing found; the message lists where it looked.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    folders = [Path(os.environ[CONFIG_DIR_ENV])] if CONFIG_DIR_ENV in os.environ else []
    folders.append(PACKAGED_CONFIGS)
    names = [path.name] if path.suffix in (".yaml", ".yml") else [f"{path.name}.yaml",
                                                                   f"{path.name}.yml"]
    candidates = [folder / name for folder in folders for name in names]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(f"config {str(name_or_path)!r} not found; looked at {path} and "
                      + ", ".join(str(c) for c in candidates))


def load_config(name_or_path: str | Path,
                overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Read a run config by path or name (see `config_path`), with optional overrides."""
    return RunConfig.from_yaml(config_path(name_or_path), overrides)
