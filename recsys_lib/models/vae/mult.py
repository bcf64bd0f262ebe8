"""MultVAE (Liang et al., 2018, "Variational Autoencoders for Collaborative Filtering"): a
user's item row -> Gaussian latent -> multinomial likelihood over all items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from recsys_lib.data.interactions import Interactions, index_of
from recsys_lib.metrics import ndcg_at_k
from recsys_lib.models.scoring import mask_seen, top_k_numpy
from recsys_lib.models.vae.common import (
    FLOAT_BYTES,
    VAERecommender,
    evaluating,
    mlp,
    reparameterize,
)
from recsys_lib.models.vae.config import MultVAEConfig
from recsys_lib.training import (
    LossOutput,
    SparseRowBatches,
    Trainer,
    TrainerConfig,
    ValidateFn,
    densify_rows,
)

__all__ = ["MultVAE", "MultVAENet"]

_LOGVAR_BOUND = 10.0
_FIT_HOLD = 0.1  # share of a fit user's interactions held out of the input (train NDCG)


class MultVAENet(nn.Module):
    """L2-normalised input -> dropout -> tanh MLP -> (mu, logvar) -> tanh MLP -> item logits.

    Args:
        n_items: input and output width.
        config: hidden widths, latent size and input dropout.
    """

    def __init__(self, n_items: int, config: MultVAEConfig) -> None:
        super().__init__()
        hidden = list(config.hidden_dims)
        self.input_dropout = nn.Dropout(config.dropout_rate)
        self.encoder = mlp([n_items, *hidden], nn.Tanh)
        self.to_mu = nn.Linear(hidden[-1], config.latent_dim)
        self.to_logvar = nn.Linear(hidden[-1], config.latent_dim)
        self.decoder = mlp([config.latent_dim, *reversed(hidden), n_items], nn.Tanh,
                           last_activation=False)
        for layer in self.modules():
            if isinstance(layer, nn.Linear):  # the paper's initialisation
                nn.init.xavier_uniform_(layer.weight)
                nn.init.normal_(layer.bias, std=0.001)

    def forward(self, x: torch.Tensor, sample: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Item logits and the latent mean and log-variance for dense float32 rows `x`
        of shape (n, n_items); `sample` draws z instead of taking the mean."""
        h = self.encoder(self.input_dropout(F.normalize(x, dim=1)))
        mu = self.to_mu(h)
        logvar = self.to_logvar(h).clamp(-_LOGVAR_BOUND, _LOGVAR_BOUND)
        return self.decoder(reparameterize(mu, logvar, sample)), mu, logvar


class MultVAE(VAERecommender):
    """Ranking-only VAE over users' item rows: multinomial log-likelihood + beta x KL.

    User rows are batched from the sparse matrix and densified per micro-batch only.
    Ratings count as interactions (at or above `positive_threshold` when set), each
    weighing 1 (the paper) or its rating (`input_values`). Validation
    monitors NDCG@top_k (recsys_lib.metrics) on the validation users known to training,
    with each user's training items excluded.

    Args:
        config: a `MultVAEConfig` (or a mapping of its keys).
        trainer: a `TrainerConfig` (or a mapping of its keys).
    """

    predicts_ratings = False
    config_class = MultVAEConfig
    config: MultVAEConfig

    def __init__(self, config: MultVAEConfig | Mapping[str, Any] | None = None,
                 trainer: TrainerConfig | Mapping[str, Any] | None = None) -> None:
        super().__init__(config, trainer)
        self._inputs: tuple[sp.csr_matrix, sp.csr_matrix] | None = None

    @property
    def validation_metric(self) -> tuple[str, str]:
        return f"ndcg@{self.config.top_k}", "max"

    @property
    def validation_target(self) -> float | None:
        return self.config.target_ndcg

    def _shape_network(self, n_users: int, n_items: int) -> MultVAENet:
        return MultVAENet(n_items, self.config)

    def _input_matrix(self) -> sp.csr_matrix:
        """The training matrix as the network's float32 input: 1 (or the rating, with
        `input_values="rating"`) per counted interaction (cached per training matrix)."""
        ratings = self._require_fitted().user_items
        if self._inputs is None or self._inputs[0] is not ratings:
            inputs = sp.csr_matrix(ratings, dtype=np.float32, copy=True)
            if self.config.input_values == "binary":
                inputs.data[:] = 1.0
            if self.config.positive_threshold is not None:
                inputs.data[ratings.data < self.config.positive_threshold] = 0.0
                inputs.eliminate_zeros()
            self._inputs = (ratings, inputs)
        return self._inputs[1]

    def _batches(self, train: Interactions, trainer: Trainer) -> SparseRowBatches:
        return SparseRowBatches(self._input_matrix(), self.trainer_config.batch_size,
                                device=trainer.device, seed=self.trainer_config.seed)

    def _data_bytes(self, n_users: int, nnz: int) -> int:
        # the 0/1 interaction matrix: float32 values, int32 columns and row pointers
        return 2 * FLOAT_BYTES * nnz + FLOAT_BYTES * (n_users + 1)

    def _loss(self, network: nn.Module, micro_batch: Any, step: int) -> LossOutput:
        logits, mu, logvar = network(micro_batch, sample=True)
        nll = -(F.log_softmax(logits.float(), dim=1) * micro_batch).sum(dim=1).mean()
        return self._elbo(nll, mu, logvar, step)

    def _validator(self, validation: Interactions) -> ValidateFn:
        train = self._require_fitted()
        k, name = self.config.top_k, self.validation_metric[0]
        frame = validation.to_frame()
        if self.config.positive_threshold is not None:
            frame = frame[frame["rating"] >= self.config.positive_threshold]
        frame = frame[train.user_index(frame["user_id"].to_numpy()) >= 0]
        users = np.unique(frame["user_id"].to_numpy())
        rows = index_of(users, frame["user_id"].to_numpy())
        items = frame["item_id"].to_numpy()

        def ndcg(network: nn.Module) -> dict[str, float]:  # network_, used via recommend
            if len(users) == 0:
                return {name: float("nan")}
            recommended, _ = self.recommend(users, k, device=self.device_,
                                            batch_size=self.trainer_config.eval_batch)
            return {name: ndcg_at_k(recommended, rows, items)}

        return ndcg

    def _fit_validator(self, train: Interactions, n_ratings: int) -> ValidateFn:
        """NDCG@top_k on fit users as validation measures it on held-out ratings: a
        seeded `_FIT_HOLD` of the interactions of a fixed sample of users (about
        `n_ratings` of them in all) are left out of those users' input rows and ranked
        among the items the input leaves unseen."""
        inputs = self._input_matrix()
        k, name = self.config.top_k, self.validation_metric[0]
        rng = np.random.default_rng(self.trainer_config.seed)
        counts = np.diff(inputs.indptr)
        users = rng.permutation(np.flatnonzero(counts >= 2))
        users = np.sort(users[:max(1, np.searchsorted(np.cumsum(counts[users]), n_ratings))])
        block = inputs[users].tocoo()
        held = rng.random(block.nnz) < _FIT_HOLD
        kept = sp.csr_matrix((block.data[~held], (block.row[~held], block.col[~held])),
                             shape=block.shape, dtype=np.float32)
        scored = np.bincount(block.row[held], minlength=len(users)) > 0  # users with any
        relevant_rows = (np.cumsum(scored) - 1)[block.row[held]]
        relevant_items = block.col[held]
        rows = np.arange(len(users))

        def ndcg(network: nn.Module) -> dict[str, float]:
            if len(relevant_rows) == 0:
                return {name: float("nan")}
            x = densify_rows(kept, rows, torch.device(self.device_))
            with evaluating(network):
                logits, _, _ = network(x)
            scores = mask_seen(logits.float().cpu().numpy(), kept)
            best, _ = top_k_numpy(scores, k)
            return {name: ndcg_at_k(best[scored], relevant_rows, relevant_items)}

        return ndcg

    def _activation_bytes_per_sample(self, n_items: int) -> int:
        cfg = self.config
        widths = [n_items, *cfg.hidden_dims, 3 * cfg.latent_dim, *cfg.hidden_dims, n_items]
        # dense input, dropout, logits, log-softmax: each with its gradient
        return 3 * FLOAT_BYTES * sum(widths) + 2 * FLOAT_BYTES * n_items

    def _score(self, user_rows: np.ndarray) -> torch.Tensor:
        network = self._require_network()
        x = densify_rows(self._input_matrix(), np.asarray(user_rows), torch.device(self.device_))
        with evaluating(network):
            logits, _, _ = network(x)
        return logits.float()

