"""An ensemble of VAEs trained with different model seeds on the same split: predictions
and ranking scores averaged over its members."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from recsys_lib.data.interactions import Interactions
from recsys_lib.models.base import NotFittedError, Recommender
from recsys_lib.models.vae.common import VAERecommender

__all__ = ["SeedEnsemble"]


class SeedEnsemble(Recommender):
    """The mean of fitted VAEs of one kind, fitted on the same training data.

    RatingVAE members: the mean predicted rating (ranking by it too). MultVAE members: the
    mean of their log-softmax scores (a geometric mean of their item distributions, so no
    member's logit scale dominates). Users and items unknown to training get the members'
    shared fallbacks.

    Args:
        members: fitted models of one class, all on the same training `Interactions`.

    Raises:
        ValueError: no members, members of different classes, an unfitted member, or
            members fitted on different data.
    """

    def __init__(self, members: Sequence[VAERecommender]) -> None:
        super().__init__()
        if not members:
            raise ValueError("a SeedEnsemble needs at least one member")
        classes = {type(member).__name__ for member in members}
        if len(classes) > 1:
            raise ValueError(f"members must be one kind of model, got {sorted(classes)}")
        if any(member.train_ is None for member in members):
            raise NotFittedError("every member must be fitted before it joins an ensemble")
        first = members[0].train_
        if any(not _same_data(first, member.train_) for member in members[1:]):
            raise ValueError("members were fitted on different training data")
        self.members = list(members)
        self.predicts_ratings = members[0].predicts_ratings
        self.train_, self._popularity = first, members[0]._popularity
        self.device_ = members[0].device_

    def _fit(self, train: Interactions) -> None:
        raise TypeError("a SeedEnsemble averages fitted members: fit each member instead")

    def _predict(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        return np.mean([m._predict(user_rows, item_cols) for m in self.members], axis=0,
                       dtype=np.float32)

    def _score(self, user_rows: np.ndarray) -> torch.Tensor:
        total = None
        for member in self.members:
            scores = torch.as_tensor(member._score(user_rows)).float()
            if not self.predicts_ratings:
                scores = F.log_softmax(scores, dim=1)
            total = scores if total is None else total + scores
        return total / len(self.members)

    def _get_state(self) -> dict[str, np.ndarray]:
        raise TypeError("a SeedEnsemble is saved as its members: save each of them")


def _same_data(a: Interactions, b: Interactions) -> bool:
    return a is b or (a.nnz == b.nnz and np.array_equal(a.user_ids, b.user_ids)
                      and np.array_equal(a.item_ids, b.item_ids))
