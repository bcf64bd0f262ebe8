"""The torch models: RatingVAE (ratings) and MultVAE (rankings), trained with
recsys_lib.training.Trainer. Importing this package imports torch.

    from recsys_lib.models.vae import RatingVAE, load_config
    run = load_config("cpu_quick", overrides={"epochs": 3})
    model = run.build().fit(train, validation)
"""

from recsys_lib.models.vae.common import VAERecommender, gaussian_kl
from recsys_lib.models.vae.config import (
    MODEL_CONFIGS,
    MultVAEConfig,
    RatingVAEConfig,
    RunConfig,
    VAEConfig,
    config_path,
    load_config,
)
from recsys_lib.models.vae.mult import MultVAE, MultVAENet
from recsys_lib.models.vae.rating import RatingVAE, RatingVAENet

__all__ = [
    "MODEL_CONFIGS",
    "MultVAE",
    "MultVAEConfig",
    "MultVAENet",
    "RatingVAE",
    "RatingVAEConfig",
    "RatingVAENet",
    "RunConfig",
    "VAEConfig",
    "VAERecommender",
    "config_path",
    "gaussian_kl",
    "load_config",
]
