"""RatingVAE: predicts one rating per (user, item) pair through a Gaussian latent code, on top
of global, user and item biases."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from recsys_lib.data.interactions import Interactions
from recsys_lib.data.sampling import seeded_subset
from recsys_lib.models.baseline import Biases, user_rows_of
from recsys_lib.models.vae.common import (
    FLOAT_BYTES,
    VAERecommender,
    evaluating,
    mlp,
    reparameterize,
)
from recsys_lib.models.vae.config import RatingVAEConfig
from recsys_lib.training import LossOutput, TensorBatches, Trainer, ValidateFn

__all__ = ["RatingVAE", "RatingVAENet"]

_LOGVAR_BOUND = 10.0  # keeps exp(logvar) finite in fp16


class RatingVAENet(nn.Module):
    """rating = global + user bias + item bias + decoder(z), z ~ encoder(user ++ item).

    Args:
        n_users: rows of the user tables.
        n_items: rows of the item tables.
        config: layer sizes and dropout.

    The decoder's last layer starts at zero, so an untrained network predicts the biases
    (plus, with `dot_skip`, the embeddings' dot product: a skip path around the VAE).
    `rating_range` (a buffer, saved with the weights) bounds predictions to the training
    scale.
    """

    def __init__(self, n_users: int, n_items: int, config: RatingVAEConfig) -> None:
        super().__init__()
        f, hidden = config.n_factors, list(config.hidden_dims)
        self.user_factors = nn.Embedding(n_users, f)
        self.item_factors = nn.Embedding(n_items, f)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        self.global_bias = nn.Parameter(torch.zeros(()))
        self.register_buffer("rating_range", torch.tensor([0.5, 5.0]))
        self.encoder = mlp([2 * f, *hidden], nn.ReLU, config.dropout_rate)
        self.to_mu = nn.Linear(hidden[-1], config.latent_dim)
        self.to_logvar = nn.Linear(hidden[-1], config.latent_dim)
        self.decoder = mlp([config.latent_dim, *reversed(hidden), 1], nn.ReLU,
                           config.dropout_rate, last_activation=False)
        self.dot_skip = config.dot_skip
        nn.init.normal_(self.user_factors.weight, std=config.embedding_std)
        nn.init.normal_(self.item_factors.weight, std=config.embedding_std)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.zeros_(self.decoder[-1].bias)

    def forward(self, users: torch.Tensor, items: torch.Tensor, sample: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Unbounded ratings (float32) and the latent mean and log-variance.

        Args:
            users: int32/int64 user rows, shape (n,).
            items: item columns, shape (n,).
            sample: draw z from the posterior (training) instead of taking its mean.
        """
        user, item = self.user_factors(users), self.item_factors(items)
        h = self.encoder(torch.cat([user, item], dim=1))
        mu = self.to_mu(h)
        logvar = self.to_logvar(h).clamp(-_LOGVAR_BOUND, _LOGVAR_BOUND)
        residual = self.decoder(reparameterize(mu, logvar, sample)).squeeze(1).float()
        if self.dot_skip:
            residual = residual + (user * item).sum(dim=1).float()
        return self.biases(users, items) + residual, mu, logvar

    def biases(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """global + user bias + item bias, float32, shape (n,)."""
        return (self.global_bias + self.user_bias(users).squeeze(1)
                + self.item_bias(items).squeeze(1)).float()

    def bound(self, ratings: torch.Tensor) -> torch.Tensor:
        """Ratings clamped to the training scale."""
        return ratings.clamp(self.rating_range[0], self.rating_range[1])


class RatingVAE(VAERecommender):
    """Variational rating model: MSE + kl_weight x KL, biases plus a learned residual.

    Predicts ratings on the training scale; recommends the items with the highest predicted
    rating (ranked before clamping to the scale, so predictions above its top keep their
    order). Unknown users or items fall back to the bias terms (the global mean when both
    are unknown).

    Args:
        config: a `RatingVAEConfig` (or a mapping of its keys).
        trainer: a `TrainerConfig` (or a mapping of its keys).
    """

    config_class = RatingVAEConfig
    config: RatingVAEConfig

    @property
    def validation_metric(self) -> tuple[str, str]:
        return "rmse", "min"

    @property
    def validation_target(self) -> float | None:
        return self.config.target_rmse

    def _shape_network(self, n_users: int, n_items: int) -> RatingVAENet:
        return RatingVAENet(n_users, n_items, self.config)

    def _build_network(self, train: Interactions) -> RatingVAENet:
        network = self._shape_network(train.n_users, train.n_items)
        ratings = train.user_items.data
        with torch.no_grad():
            network.rating_range.copy_(torch.tensor([ratings.min(), ratings.max()]))
            if self.config.init_biases:
                biases = Biases.fit(train.user_items)
                network.global_bias.fill_(biases.mean)
                network.user_bias.weight.copy_(torch.from_numpy(biases.user)[:, None])
                network.item_bias.weight.copy_(torch.from_numpy(biases.item)[:, None])
                if self.config.fixed_biases:  # predict the residual of the baseline
                    for bias in (network.global_bias, network.user_bias.weight,
                                 network.item_bias.weight):
                        bias.requires_grad_(False)
            else:
                network.global_bias.fill_(float(ratings.mean()))
        return network

    def _batches(self, train: Interactions, trainer: Trainer) -> TensorBatches:
        matrix = train.user_items
        triples = [torch.from_numpy(user_rows_of(matrix)),
                   torch.from_numpy(matrix.indices.astype(np.int32, copy=False)),
                   torch.from_numpy(matrix.data.astype(np.float32, copy=False))]
        return TensorBatches(triples, self.trainer_config.batch_size, device=trainer.device,
                             seed=self.trainer_config.seed)

    def _data_bytes(self, n_users: int, nnz: int) -> int:
        # int32 user, int32 item, float32 rating: the source and the shuffled epoch buffer
        return 2 * 3 * FLOAT_BYTES * nnz

    def _loss(self, network: nn.Module, micro_batch: Any, step: int) -> LossOutput:
        users, items, ratings = micro_batch
        predicted, mu, logvar = network(users, items, sample=True)
        out = self._elbo(F.mse_loss(predicted, ratings), mu, logvar, step)
        if not self.config.embedding_l2:
            return out
        penalty = (network.user_factors(users).float().pow(2).sum(dim=1)
                   + network.item_factors(items).float().pow(2).sum(dim=1)).mean()
        return LossOutput(out.loss + self.config.embedding_l2 * penalty,
                          {**out.parts, "embedding_l2": penalty})

    def _validator(self, validation: Interactions) -> ValidateFn:
        train = self._require_fitted()
        frame = validation.to_frame()
        rows = train.user_index(frame["user_id"].to_numpy())
        cols = train.item_index(frame["item_id"].to_numpy())
        ratings = frame["rating"].to_numpy(np.float64)

        def rmse(network: nn.Module) -> dict[str, float]:  # network_, used via predict
            error = self._predict(rows, cols) - ratings
            return {"rmse": float(np.sqrt(np.mean(error**2)))}

        return rmse

    def _fit_validator(self, train: Interactions, n_ratings: int) -> ValidateFn:
        frame = train.to_frame()
        subset = frame.iloc[seeded_subset(np.arange(len(frame)), n_ratings,
                                          self.trainer_config.seed)]
        return self._validator(Interactions.from_ratings(subset))

    def _activation_bytes_per_sample(self, n_items: int) -> int:
        cfg = self.config
        widths = [2 * cfg.n_factors, *cfg.hidden_dims, 3 * cfg.latent_dim,
                  *cfg.hidden_dims, 1]
        # each layer output, its ReLU/dropout copy and its gradient
        return 3 * FLOAT_BYTES * sum(widths)

    # ---- prediction ----------------------------------------------------------------
    def _predict(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        network = self._require_network()
        out = np.empty(len(user_rows), dtype=np.float32)
        step = self.trainer_config.eval_batch
        for start in range(0, len(user_rows), step):
            users = torch.from_numpy(np.asarray(user_rows[start:start + step], np.int32))
            items = torch.from_numpy(np.asarray(item_cols[start:start + step], np.int32))
            out[start:start + step] = self._ratings(network, users, items).cpu().numpy()
        return out

    def _score(self, user_rows: np.ndarray) -> torch.Tensor:
        network = self._require_network()
        n_items = self._require_fitted().n_items
        items = torch.arange(n_items, dtype=torch.int32)
        users_per_pass = max(1, self.trainer_config.eval_batch // n_items)
        blocks = []
        for start in range(0, len(user_rows), users_per_pass):
            rows = torch.from_numpy(np.asarray(user_rows[start:start + users_per_pass], np.int32))
            users = rows.repeat_interleave(n_items)
            blocks.append(self._ratings(network, users, items.repeat(len(rows)), bound=False)
                          .view(len(rows), n_items))
        return torch.cat(blocks)

    def _ratings(self, network: RatingVAENet, users: torch.Tensor, items: torch.Tensor,
                 bound: bool = True) -> torch.Tensor:
        """Ratings on the network's device (in eval mode, without gradients); -1 marks an
        unknown user or item, whose terms drop out (the residual needs both). `bound`
        clamps them to the training scale."""
        users, items = users.to(self.device_), items.to(self.device_)
        user_known, item_known = users >= 0, items >= 0
        users, items = users.clamp(min=0), items.clamp(min=0)
        with evaluating(network):
            full, _, _ = network(users, items)
            fallback = (network.global_bias.float()
                        + network.user_bias(users).squeeze(1).float() * user_known
                        + network.item_bias(items).squeeze(1).float() * item_known)
            ratings = torch.where(user_known & item_known, full, fallback)
            return network.bound(ratings) if bound else ratings
