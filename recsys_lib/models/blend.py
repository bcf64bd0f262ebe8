"""A blend of models: weights learned on an inner held-out split, members fit on all data."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys_lib.data.interactions import Interactions, index_of
from recsys_lib.data.sampling import choose_users, seeded_subset
from recsys_lib.data.split import split_ratings
from recsys_lib.environment import available_cores
from recsys_lib.memory import dense_matrix_bytes, release_freed_heap
from recsys_lib.metrics import ranking_metrics
from recsys_lib.models.base import Recommender, fit_estimate
from recsys_lib.models.row_chunks import chunk_rows
from recsys_lib.models.scoring import mask_seen, top_k_numpy

__all__ = [
    "DEFAULT_MEMBERS", "Blend", "candidate_scores", "normalised_scores", "tune_batch_users",
    "whole_user_sample",
]

logger = logging.getLogger(__name__)

#: Members of `Blend()` (class names in `recsys_lib.models`, default parameters).
DEFAULT_MEMBERS = {
    "baseline": "BiasBaseline", "svd": "SVD", "knn": "ItemKNN", "user_knn": "UserKNN",
    "ease": "EASE",
}
#: Most training ratings `Blend` learns its weights from (its 100,000 held-out ratings
#: still fix a handful of ridge weights): the classical notebook's blend on 25M ratings
#: fits in 26.7 s on 2 cores at this size, 35.7 s at 1M (and 2.30 GB peak instead of 2.69
#: GB, with two other memory changes), for the same NDCG@10 (0.0736) and RMSE 0.8155
#: instead of 0.8153.
DEFAULT_MAX_INNER_RATINGS = 500_000
DEFAULT_HOLDOUT_SPLITS = 3
#: Best unseen items per member and tuning user among which the ranking blend's weights
#: are searched (their union); k = 10 needs far fewer.
TUNE_CANDIDATES = 100
TUNE_BATCH_USERS = 200  # most tuning users whose full score rows are held at once
TUNE_BATCH_BYTES = 8 * 2**20  # and at most this much of one member's full score rows
#: Candidate weights of one member in the ranking blend's coordinate search.
RANKING_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
_SEARCH_ROUNDS = 2


def normalised_scores(scores: Any, *, in_place: bool = False) -> np.ndarray:
    """Each row standardised over its items (zero mean, unit sd; a constant row gives 0).

    Args:
        scores: float32 numpy array or torch tensor of shape (n_users, n_items).
        in_place: standardise a float32 numpy `scores` itself (a score block nobody else
            holds: no copy of its size); otherwise `scores` is not changed.

    Returns:
        float32 numpy array of the same shape: `scores` itself when standardised in
        place, else one new array.
    """
    if isinstance(scores, np.ndarray):
        if not (in_place and scores.dtype == np.float32):
            scores = scores.astype(np.float32)  # a copy
    else:
        scores = np.array(scores.detach().float().cpu().numpy(), dtype=np.float32)
    # float32 passes over the block, no temporaries of its size (numpy's float64 std made
    # three: a fifth of the time, and of MovieLens 25M's blend evaluation 11 of 34 s).
    # A row's mean only shifts the whole row, which no ranking sees; the sd is taken
    # after centring, so it does not suffer the cancellation of E[x^2] - E[x]^2.
    # The mean of the centred rows is taken out again (float32 sums of 59,047 items round
    # off 1e-4 of the mean); a constant row's sd is then a residue of under 1e-6 of its
    # mean and counts as 0.
    n_items = max(scores.shape[1], 1)
    average = np.full(scores.shape[1], 1 / n_items, dtype=np.float32)
    mean = scores @ average
    scores -= mean[:, None]
    scores -= (scores @ average)[:, None]
    sd = np.sqrt(np.einsum("ij,ij->i", scores, scores) / n_items)
    varies = sd > 1e-6 * np.abs(mean)  # so sd > 0
    scores *= np.divide(1.0, sd, out=np.zeros_like(sd), where=varies)[:, None]
    return scores


def whole_user_sample(train: Interactions, max_ratings: int, seed: int) -> pd.DataFrame:
    """The ratings (a frame, by user then item) of users taken in a seeded random order
    while their ratings add up to at most `max_ratings` (at least one user)."""
    counts = np.diff(train.user_items.indptr)
    return train.to_frame(choose_users(train.user_ids, counts, max_ratings, seed, at_most=True))


def candidate_scores(
    members: list[Recommender], users: np.ndarray, train: Interactions
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The items a ranking blend of `members` could put first for each of `users`, and
    every member's standardised score of them: the union of each member's
    `TUNE_CANDIDATES` best unseen items (scores standardised over all items, as
    `normalised_scores`), computed `tune_batch_users` users at a time so that the full
    users x items score rows exist for one batch only.

    Args:
        members: models fitted on `train`.
        users: training rows of the users.
        train: their training interactions (the seen items excluded).

    Returns:
        int32 item columns (n_users, width), float32 scores (n_members, n_users, width)
        and a boolean (n_users, width) mask of slots that hold no candidate (a repeat of
        another member's candidate, or nothing where fewer items are unseen); excluded
        slots score 0. width = n_members x min(TUNE_CANDIDATES, n_items).
    """
    depth = min(TUNE_CANDIDATES, train.n_items)
    batch_users = tune_batch_users(train.n_items)
    columns, scores, excluded = [], [], []
    for start in range(0, len(users), batch_users):
        batch = users[start : start + batch_users]
        seen = train.user_items[batch]
        full = [normalised_scores(member._score(batch), in_place=True) for member in members]
        best = np.concatenate(
            [top_k_numpy(mask_seen(member.copy(), seen), depth)[0] for member in full], axis=1
        )
        best.sort(axis=1)  # -1 (nothing) first, repeats side by side
        missing = best < 0
        missing[:, 1:] |= best[:, 1:] == best[:, :-1]
        best[missing] = 0
        values = np.stack([np.take_along_axis(member, best, axis=1) for member in full])
        values[:, missing] = 0.0
        columns.append(best)
        scores.append(values)
        excluded.append(missing)
    return np.concatenate(columns), np.concatenate(scores, axis=1), np.concatenate(excluded)


def tune_batch_users(n_items: int) -> int:
    """Tuning users scored at once: `TUNE_BATCH_USERS`, fewer where one member's float32
    score rows of them would exceed `TUNE_BATCH_BYTES` (MovieLens 25M's 59,047 items: 35)."""
    return int(max(1, min(TUNE_BATCH_USERS, TUNE_BATCH_BYTES // (4 * max(n_items, 1)))))


@dataclass(frozen=True)
class _TuningSet:
    """One inner split's ranking search data: `candidate_scores`' columns, member scores
    and excluded slots of the tuning users, and their relevant held-out items (`rows`:
    positions among the tuning users, `item_cols`: inner columns, -2 where unknown)."""

    columns: np.ndarray
    scores: np.ndarray
    excluded: np.ndarray
    rows: np.ndarray
    item_cols: np.ndarray
    n_items: int

    def top(self, weights: np.ndarray, k: int) -> np.ndarray:
        """The `k` best candidate items (inner columns; -1: none) of each tuning user under
        the blend `sum weights_m scores_m`."""
        scores = np.tensordot(weights.astype(np.float32), self.scores, axes=1)
        scores[self.excluded] = -np.inf
        best, _ = top_k_numpy(scores, k)
        return np.where(best >= 0, np.take_along_axis(self.columns, np.maximum(best, 0), 1), -1)


class Blend(Recommender):
    """Fits copies of its members on inner splits of the training data, learns blend
    weights on the held-out parts, then fits the members on all the training data: a
    member already fitted on that very `Interactions` (the same object) is used as it is,
    so models fitted anyway (as in the classical notebook) are not fitted twice.

    Each of the `holdout_splits` inner splits holds out a different seeded random share of
    the ratings; its copies are fitted, scored and freed before the next. On the 30k and
    50k samples of the embedded data (seeds 1-6) three splits gave NDCG@10 1.255x
    Popularity's on average instead of 1.209x with one (five: 1.254x, at 1.7x the time of
    three), and the same RMSE.

    Ratings: ridge regression (unpenalised intercept) of the held-out ratings of every
    split on the rating members' predictions; the blend predicts
    `intercept + sum w_m prediction_m`, clipped to the training range. Ranking:
    `sum w_m z_m`, where `z_m` is member m's score row standardised over the items
    (`normalised_scores`); the weights are found by coordinate search over
    `RANKING_WEIGHTS` (two rounds, starting from the best single member; each weight
    direction scored once) maximising the mean over the splits of NDCG@`k` of the
    held-out users, ranked among the union of the members' `TUNE_CANDIDATES` best unseen items
    (`candidate_scores`: the same weights as ranking all items on the embedded data and
    its six 30k/50k samples, in tuning memory that does not grow with the items).
    `predict` needs at least one member that predicts ratings.

    Args:
        members: name -> model (fitted or not: `fit` fits in place any member not already
            fitted on its training data), or the specs `get_params` returns ({"class":
            name in recsys_lib.models, "params": {...}}); None: the `DEFAULT_MEMBERS`.
        holdout_fraction: share of the training ratings held out to learn the weights.
        ridge: L2 weight on the rating weights (in squared stars).
        k: ranking cut-off the ranking weights are chosen for.
        relevance_threshold: held-out ratings at or above this many stars are relevant.
        tune_users: most held-out users scored when choosing ranking weights (a seeded
            sample; memory tune_users x n_members^2 x TUNE_CANDIDATES float32).
        max_inner_ratings: most training ratings the weights are learned from: above it,
            the inner split is drawn from a seeded sample of whole users holding at most
            this many ratings, so the inner fits cost a bounded time and memory at any
            scale (the members are still fitted on all the training data); None: all.
        holdout_splits: most inner splits; fewer where their training ratings would add
            up to more than `max_inner_ratings` (`inner_splits`), one above it.
    """

    def __init__(
        self,
        members: Mapping[str, Recommender | Mapping[str, Any]] | None = None,
        *,
        holdout_fraction: float = 0.2,
        ridge: float = 1.0,
        k: int = 10,
        relevance_threshold: float = 4.0,
        tune_users: int = 1_000,
        max_inner_ratings: int | None = DEFAULT_MAX_INNER_RATINGS,
        holdout_splits: int = DEFAULT_HOLDOUT_SPLITS,
    ) -> None:
        super().__init__()
        if members is None:
            members = {name: {"class": cls, "params": {}} for name, cls in DEFAULT_MEMBERS.items()}
        if not members:
            raise ValueError("members must name at least one model")
        if not 0 < holdout_fraction < 1:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        if k < 1 or tune_users < 1:
            raise ValueError(f"k and tune_users must be >= 1, got {k} and {tune_users}")
        if max_inner_ratings is not None and max_inner_ratings < 1:
            raise ValueError(f"max_inner_ratings must be >= 1 or None, got {max_inner_ratings}")
        if holdout_splits < 1:
            raise ValueError(f"holdout_splits must be at least 1, got {holdout_splits}")
        self.members = {name: _member(name, spec) for name, spec in members.items()}
        self.holdout_fraction = holdout_fraction
        self.ridge = ridge
        self.k = k
        self.relevance_threshold = relevance_threshold
        self.tune_users = tune_users
        self.max_inner_ratings = max_inner_ratings
        self.holdout_splits = holdout_splits
        self.predicts_ratings = any(m.predicts_ratings for m in self.members.values())
        self.seed = 42
        self.rating_weights_: np.ndarray | None = None
        self.ranking_weights_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.rating_range_: tuple[float, float] = (0.0, 0.0)

    def fit(self, train: Interactions, seed: int = 42) -> Blend:
        """Fit on `train`; `seed` drives the inner split and the tuning-user sample."""
        self.seed = seed
        return super().fit(train)

    def _fit(self, train: Interactions) -> None:
        n_splits = self.inner_splits(train.nnz)
        if self.max_inner_ratings is not None and train.nnz > self.max_inner_ratings:
            frame = whole_user_sample(train, self.max_inner_ratings, self.seed)
            logger.info("blend weights learned on %d users' %d ratings (of %d)",
                        frame["user_id"].nunique(), len(frame), train.nnz)
        else:
            frame = train.to_frame()
        features, targets, tuning = [], [], []
        for offset in range(n_splits):
            split = split_ratings(frame, test_fraction=self.holdout_fraction,
                                  seed=self.seed + offset)
            inner = Interactions.from_ratings(split.train)
            fitted = {name: _fresh(model).fit(inner) for name, model in self.members.items()}
            release_freed_heap()  # what the inner fits freed, before they are scored
            if self.predicts_ratings:
                features.append(self._rating_features(fitted, split.test))
                targets.append(split.test["rating"].to_numpy(np.float64))
            tuning.append(self._tuning_set(fitted, inner, split.test))
            del fitted, inner, split
        del frame
        if self.predicts_ratings:
            self._learn_rating_weights(np.concatenate(features), np.concatenate(targets))
        self.ranking_weights_ = self._learn_ranking_weights(tuning)
        ratings = train.user_items.data
        self.rating_range_ = (float(ratings.min()), float(ratings.max()))
        for name, model in self.members.items():
            if model.train_ is train:
                logger.debug("blend member %s is already fitted on this training data", name)
            else:
                model.fit(train)
        logger.info("%s", self.describe())

    def inner_splits(self, nnz: int) -> int:
        """Inner splits the weights are learned from for `nnz` training ratings: up to
        `holdout_splits`, as many as keep the ratings the inner fits see within
        `max_inner_ratings` in all (at least one, of a sample above it)."""
        if self.max_inner_ratings is None:
            return self.holdout_splits
        return int(min(self.holdout_splits, max(1, self.max_inner_ratings // max(nnz, 1))))

    def _rating_members(self) -> list[str]:
        return [name for name, model in self.members.items() if model.predicts_ratings]

    def _rating_features(self, fitted: dict[str, Recommender], test: pd.DataFrame) -> np.ndarray:
        """float64 (n_test, n_rating_members): each rating member's held-out predictions."""
        users, items = test["user_id"].to_numpy(), test["item_id"].to_numpy()
        return np.stack(
            [fitted[name].predict(users, items) for name in self._rating_members()], axis=1
        ).astype(np.float64)

    def _learn_rating_weights(self, features: np.ndarray, target: np.ndarray) -> None:
        mean_x, mean_y = features.mean(axis=0), target.mean()
        centred = features - mean_x
        gram = centred.T @ centred + self.ridge * np.eye(features.shape[1])
        weights = np.linalg.solve(gram, centred.T @ (target - mean_y))
        self.rating_weights_ = weights
        self.intercept_ = float(mean_y - mean_x @ weights)

    def _tuning_set(
        self, fitted: dict[str, Recommender], inner: Interactions, test: pd.DataFrame
    ) -> _TuningSet | None:
        """One inner split's ranking candidates and relevant held-out items (None when no
        known user has a relevant held-out rating)."""
        relevant = test["rating"].to_numpy() >= self.relevance_threshold
        user_rows = inner.user_index(test["user_id"].to_numpy()[relevant])
        item_cols = inner.item_index(test["item_id"].to_numpy()[relevant])
        known = user_rows >= 0
        user_rows, item_cols = user_rows[known], item_cols[known]
        users = np.unique(user_rows)
        if len(users) == 0:
            return None
        users = seeded_subset(users, self.tune_users, self.seed)
        rows = index_of(users, user_rows)
        keep = rows >= 0
        rows, item_cols = rows[keep], np.where(item_cols[keep] >= 0, item_cols[keep], -2)
        columns, blocks, excluded = candidate_scores(list(fitted.values()), users, inner)
        return _TuningSet(columns, blocks, excluded, rows, item_cols, inner.n_items)

    def _learn_ranking_weights(self, tuning: list[_TuningSet | None]) -> np.ndarray:
        n_members = len(self.members)
        tuning = [part for part in tuning if part is not None]
        if not tuning:
            logger.warning("no relevant held-out rating of a known user: equal ranking weights")
            return np.ones(n_members)
        scored: dict[tuple[float, ...], float] = {}
        metric = f"ndcg@{self.k}"

        def ndcg(weights: np.ndarray) -> float:
            # scaling every weight by one factor ranks alike: each direction is scored once
            direction = tuple(np.round(weights / weights.max(), 9))
            if direction not in scored:
                scored[direction] = float(np.mean(
                    [ranking_metrics(part.top(weights, self.k), part.rows, part.item_cols,
                                     n_items=part.n_items)[metric] for part in tuning]
                ))
            return scored[direction]

        singles = [ndcg(np.eye(n_members)[m]) for m in range(n_members)]
        weights = np.eye(n_members)[int(np.argmax(singles))]
        best = max(singles)
        for _ in range(_SEARCH_ROUNDS):
            for member in range(n_members):
                for value in RANKING_WEIGHTS:
                    trial = weights.copy()
                    trial[member] = value
                    if not trial.any():
                        continue
                    score = ndcg(trial)
                    if score > best + 1e-12:
                        best, weights = score, trial
        logger.debug("ranking blend: held-out ndcg@%d %.4f (single members %s)", self.k, best,
                     np.round(singles, 4))
        return weights

    def describe(self) -> str:
        """One line: the learned rating and ranking weights per member."""
        names = list(self.members)
        parts = []
        if self.rating_weights_ is not None:
            rating = ", ".join(
                f"{name} {w:.3f}" for name, w in zip(self._rating_members(),
                                                     self.rating_weights_, strict=True)
            )
            parts.append(f"ratings = {self.intercept_:.3f} + ({rating})")
        if self.ranking_weights_ is not None:
            ranking = ", ".join(
                f"{name} {w:g}" for name, w in zip(names, self.ranking_weights_, strict=True)
            )
            parts.append(f"ranking = ({ranking})")
        return "Blend: " + "; ".join(parts)

    def _predict(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        train = self._require_fitted()
        users = np.where(user_rows >= 0, train.user_ids[np.maximum(user_rows, 0)], -1)
        items = np.where(item_cols >= 0, train.item_ids[np.maximum(item_cols, 0)], -1)
        total = np.full(len(user_rows), self.intercept_, dtype=np.float64)
        for name, weight in zip(self._rating_members(), self.rating_weights_, strict=True):
            total += weight * self.members[name].predict(users, items)
        return np.clip(total, *self.rating_range_).astype(np.float32)

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        # by chunks of users, so the members' score blocks and their temporaries are a
        # chunk's, not the batch's: as many of `map_row_chunks`' chunks as there are cores
        n_items = self._require_fitted().n_items
        shared = self._shared_scores()
        step = available_cores() * chunk_rows(n_items)
        if len(user_rows) <= step:
            return self._blended_scores(user_rows, shared)
        scores = np.empty((len(user_rows), n_items), dtype=np.float32)
        for start in range(0, len(user_rows), step):
            scores[start : start + step] = self._blended_scores(user_rows[start : start + step],
                                                                shared)
        return scores

    def _shared_scores(self) -> np.ndarray | None:
        """float32 (n_items,): `sum w_m z_m` of the weighted members whose standardised
        scores are the same row for every user (`same_ranking_for_every_user`), scored
        once (of one user's row); None without such a member. At MovieLens 25M's shape
        this saves 3 s of the blend's 10,000-user evaluation: Popularity's and the
        baseline's score blocks and their standardising."""
        shared = None
        one_user = np.zeros(1, dtype=np.int64)
        for model, weight in zip(self.members.values(), self.ranking_weights_, strict=True):
            if weight != 0 and model.same_ranking_for_every_user:
                row = normalised_scores(model._score(one_user), in_place=True)[0]
                shared = weight * row if shared is None else shared + weight * row
        return None if shared is None else shared.astype(np.float32, copy=False)

    def _blended_scores(self, user_rows: np.ndarray, shared: np.ndarray | None) -> np.ndarray:
        """`sum w_m z_m` of the users: float32 (len(user_rows), n_items); `shared` is the
        members' part that is the same for every user (`_shared_scores`)."""
        total = None
        for model, weight in zip(self.members.values(), self.ranking_weights_, strict=True):
            if weight == 0 or model.same_ranking_for_every_user:
                continue
            block = normalised_scores(model._score(user_rows), in_place=True)
            block *= np.float32(weight)
            if total is None:
                total = block
            else:
                total += block
            del block
        if total is None:
            return np.tile(shared, (len(user_rows), 1))
        if shared is not None:
            total += shared
        return total

    def get_params(self) -> dict[str, Any]:
        return {
            "members": {
                name: {"class": type(model).__name__, "params": model.get_params()}
                for name, model in self.members.items()
            },
            "holdout_fraction": self.holdout_fraction,
            "ridge": self.ridge,
            "k": self.k,
            "relevance_threshold": self.relevance_threshold,
            "tune_users": self.tune_users,
            "max_inner_ratings": self.max_inner_ratings,
            "holdout_splits": self.holdout_splits,
        }

    def _get_state(self) -> dict[str, np.ndarray]:
        state = {
            "ranking_weights": self.ranking_weights_,
            "rating_fit": np.array([self.intercept_, *self.rating_range_, self.seed]),
        }
        if self.rating_weights_ is not None:
            state["rating_weights"] = self.rating_weights_
        for position, model in enumerate(self.members.values()):
            member_state = model._get_state()
            state.update({f"m{position}__{key}": value for key, value in member_state.items()})
        return state

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.ranking_weights_ = state.pop("ranking_weights")
        intercept, low, high, seed = state.pop("rating_fit")
        self.intercept_, self.seed = float(intercept), int(seed)
        self.rating_range_ = (float(low), float(high))
        self.rating_weights_ = state.pop("rating_weights", None)
        for position, model in enumerate(self.members.values()):
            prefix = f"m{position}__"
            # members share the blend's training data, as after `fit`
            model.train_, model._popularity = self.train_, self._popularity
            model._set_state({key[len(prefix):]: value for key, value in state.items()
                              if key.startswith(prefix)})

    @fit_estimate
    def estimate_fit_bytes(
        cls, n_users: int, n_items: int, nnz: int, *, members: dict | None = None,
        tune_users: int = 1_000, max_inner_ratings: int | None = DEFAULT_MAX_INNER_RATINGS,
        holdout_splits: int = DEFAULT_HOLDOUT_SPLITS,
    ) -> int:
        """Every member's own fit estimate (all stay fitted), one inner split's copies of
        the ratings (frames and CSR, about 40 bytes a rating, at most `max_inner_ratings`)
        and the ranking search's work: one batch of full standardised score rows per
        member plus a masked copy (`tune_batch_users` x n_items float32), and every
        split's candidates' scores (tune_users x n_members^2 x `TUNE_CANDIDATES` float32,
        with their int32 columns, masks and one blended copy)."""
        blend = cls(members, max_inner_ratings=max_inner_ratings, holdout_splits=holdout_splits)
        members_bytes = sum(
            model.estimate_fit_bytes(n_users, n_items, nnz) for model in blend.members.values()
        )
        n_members, tuned = len(blend.members), min(tune_users, n_users)
        batch_users = min(tune_batch_users(n_items), tuned)
        batch = (n_members + 1) * dense_matrix_bytes((batch_users, n_items))
        width = n_members * min(TUNE_CANDIDATES, n_items)
        candidates = (n_members + 3) * dense_matrix_bytes((tuned, width))
        tuning = batch + blend.inner_splits(nnz) * candidates
        inner = nnz if max_inner_ratings is None else min(nnz, max_inner_ratings)
        return members_bytes + 40 * inner + tuning


def _member(name: str, spec: Recommender | Mapping[str, Any]) -> Recommender:
    """A member model from a model or a {"class", "params"} spec."""
    if isinstance(spec, Recommender):
        return spec
    if not isinstance(spec, Mapping) or set(spec) != {"class", "params"}:
        raise ValueError(
            f"member {name!r} must be a model or a {{'class', 'params'}} mapping, got {spec!r}"
        )
    return _model_class(name, spec["class"])(**spec["params"])


def _model_class(name: str, class_name: str) -> type[Recommender]:
    import recsys_lib.models as models

    found = getattr(models, class_name, None)
    if found is None and class_name.endswith("VAE"):
        import recsys_lib.models.vae as vae  # torch: only for a VAE member

        found = getattr(vae, class_name, None)
    if not (isinstance(found, type) and issubclass(found, Recommender)):
        raise ValueError(f"member {name!r}: {class_name!r} is not a model in recsys_lib.models")
    return found


def _fresh(model: Recommender) -> Recommender:
    """An unfitted copy of `model` with the same parameters."""
    return type(model)(**model.get_params())
