"""The VAE kinds: one entry per model, found by one lookup.

Each kind names its model and config classes, its default YAML config, its display name
(also its key under `metrics` in results.json) and the yardsticks it is shown against. Adding
a kind is one `VAEKind` entry here plus its module.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from recsys_lib.config import ConfigError
from recsys_lib.models.als import ALS
from recsys_lib.models.base import Recommender
from recsys_lib.models.baseline import BiasBaseline
from recsys_lib.models.popularity import Popularity
from recsys_lib.models.svd import SVD
from recsys_lib.models.vae.common import VAERecommender
from recsys_lib.models.vae.config import MultVAEConfig, RatingVAEConfig, VAEConfig
from recsys_lib.models.vae.mult import MultVAE
from recsys_lib.models.vae.rating import RatingVAE

__all__ = ["VAE_KINDS", "VAEKind", "vae_kind"]


@dataclass(frozen=True)
class VAEKind:
    """One VAE model kind.

    Attributes:
        key: the `model` value of a YAML config and the notebook's MODEL ("rating_vae").
        name: display name and the model's key in results.json `metrics` ("RatingVAE").
        model_class: the Recommender class.
        config_class: its config class (the model keys of a YAML config).
        default_config: the shipped YAML config used when none is given (a name that
            `recsys_lib.models.vae.config_path` resolves).
        yardsticks: seed -> unfitted models the VAE is shown against, by display name.
    """

    key: str
    name: str
    model_class: type[VAERecommender]
    config_class: type[VAEConfig]
    default_config: str
    yardsticks: Callable[[int], dict[str, Recommender]]


def _rating_yardsticks(seed: int) -> dict[str, Recommender]:
    """RatingVAE predicts ratings: the bias baseline's RMSE is the floor, truncated SVD's
    (the classical notebook's) the bar to beat."""
    return {"BiasBaseline": BiasBaseline(), "SVD": SVD(seed=seed)}


def _ranking_yardsticks(seed: int) -> dict[str, Recommender]:
    """MultVAE ranks: popularity and implicit ALS are the bars."""
    return {"Popularity": Popularity(), "ALS": ALS(seed=seed)}


VAE_KINDS: dict[str, VAEKind] = {
    kind.key: kind
    for kind in (
        VAEKind("rating_vae", "RatingVAE", RatingVAE, RatingVAEConfig, "cpu_quick",
                _rating_yardsticks),
        VAEKind("mult_vae", "MultVAE", MultVAE, MultVAEConfig, "mult_vae_quick",
                _ranking_yardsticks),
    )
}


def vae_kind(key: str) -> VAEKind:
    """The VAE kind registered under `key`.

    Raises:
        ConfigError: no kind has that key; the message lists the known ones and the
            closest match.
    """
    if key in VAE_KINDS:
        return VAE_KINDS[key]
    close = difflib.get_close_matches(str(key), list(VAE_KINDS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"VAE kind must be one of {', '.join(VAE_KINDS)}; got {key!r}{hint}")
