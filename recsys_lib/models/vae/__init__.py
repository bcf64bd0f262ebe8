"""The torch models: RatingVAE (ratings) and MultVAE (rankings), trained with
recsys_lib.training.Trainer, and the registry of VAE kinds (`VAE_KINDS`, `vae_kind`).
Importing this package imports torch.

    from recsys_lib.models.vae import RatingVAE, load_config
    run = load_config("cpu_quick", overrides={"epochs": 3})
    model = run.build().fit(train, validation)
"""

from recsys_lib.models.vae.common import VAERecommender, gaussian_kl
from recsys_lib.models.vae.config import (
    MultVAEConfig,
    RatingVAEConfig,
    RunConfig,
    VAEConfig,
    config_path,
    load_config,
)
from recsys_lib.models.vae.ensemble import SeedEnsemble
from recsys_lib.models.vae.mult import MultVAE, MultVAENet
from recsys_lib.models.vae.rating import RatingVAE, RatingVAENet
from recsys_lib.models.vae.registry import VAE_KINDS, VAEKind, vae_kind

__all__ = [
    "VAE_KINDS",
    "MultVAE",
    "MultVAEConfig",
    "MultVAENet",
    "RatingVAE",
    "RatingVAEConfig",
    "RatingVAENet",
    "RunConfig",
    "SeedEnsemble",
    "VAEConfig",
    "VAEKind",
    "VAERecommender",
    "config_path",
    "gaussian_kl",
    "load_config",
    "vae_kind",
]
