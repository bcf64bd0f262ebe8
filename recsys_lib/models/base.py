"""The protocol every model follows: fit, predict, recommend, save, load (raw MovieLens ids)."""

from __future__ import annotations

import functools
import inspect
import json
import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp

from recsys_lib.data.interactions import Interactions
from recsys_lib.files import atomic_path
from recsys_lib.models.scoring import mask_seen, top_k_numpy, top_k_torch
from recsys_lib.progress import work_progress

__all__ = [
    "DEFAULT_BATCH_USERS", "NotFittedError", "Recommender", "fit_estimate", "item_counts",
    "score_batch_users",
]

logger = logging.getLogger(__name__)

DEFAULT_BATCH_USERS = 500
#: Score cells of one batch of users: a 32 MB float32 block (MovieLens 25M's 59,047 items:
#: 135 users; 500 up to 16,000 items). The models' temporaries are a few such blocks, so
#: at 59,047 items a 500-user batch cost the evaluation 140-300 MB more peak memory.
DEFAULT_BATCH_CELLS = 8_000_000


def score_batch_users(n_items: int) -> int:
    """Users `recommend` scores at once by default: `DEFAULT_BATCH_USERS`, fewer where
    their float32 score block would exceed `DEFAULT_BATCH_CELLS` cells."""
    return int(max(1, min(DEFAULT_BATCH_USERS, DEFAULT_BATCH_CELLS // max(n_items, 1))))


ModelT = TypeVar("ModelT", bound="Recommender")


class NotFittedError(RuntimeError):
    """A model was used before `fit` (or `load`)."""


class fit_estimate:
    """Decorator for `estimate_fit_bytes(cls, n_users, n_items, nnz, *, size params)`.

    Works as a class method (`SVD.estimate_fit_bytes(n, m, nnz, n_components=50)`); called
    on an instance, its keyword-only size parameters default to that model's own
    (`SVD(n_components=50).estimate_fit_bytes(n, m, nnz)`).
    """

    def __init__(self, func: Callable[..., int]) -> None:
        self.func = func
        self.keywords = [
            parameter.name
            for parameter in inspect.signature(func).parameters.values()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        ]

    def __get__(self, instance: Recommender | None, owner: type) -> Callable[..., int]:
        own = {} if instance is None else instance.get_params()
        defaults = {name: own[name] for name in self.keywords if name in own}

        @functools.wraps(self.func)
        def estimate(n_users: int, n_items: int, nnz: int, **size: Any) -> int:
            return int(self.func(owner, n_users, n_items, nnz, **{**defaults, **size}))

        return estimate


class Recommender(ABC):
    """Base class: subclasses implement `_fit`, `_score` and, for rating models, `_predict`.

    All public methods take and return raw MovieLens ids. Users or items unknown to the
    training data never raise: rating predictions fall back to the model's baseline and
    recommendations to item popularity; `fallback_counts` counts each case.
    """

    #: Whether `predict` returns ratings (False for ranking-only models).
    predicts_ratings: ClassVar[bool] = True
    #: Whether every user's `_score` row is the same up to a constant shift (item
    #: popularity, item biases): standardised over the items they are one row, which a
    #: `Blend` then computes once instead of once per user.
    same_ranking_for_every_user: ClassVar[bool] = False

    def __init__(self) -> None:
        self.train_: Interactions | None = None
        self.fallback_counts: Counter[str] = Counter()
        self._popularity: np.ndarray | None = None

    # ---- what subclasses implement -------------------------------------------------
    @abstractmethod
    def _fit(self, train: Interactions) -> None:
        """Learn parameters from `train` (already stored on `self.train_`)."""

    @abstractmethod
    def _score(self, user_rows: np.ndarray) -> Any:
        """Ranking scores of all items for known users.

        Args:
            user_rows: int32 row indices into the training matrix.

        Returns:
            float32 numpy array or torch tensor of shape (len(user_rows), n_items), newly
            allocated: the caller masks seen items in place.
        """

    def _predict(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """float32 ratings for index pairs; -1 marks an unknown user or item."""
        raise TypeError(f"{type(self).__name__} ranks items and does not predict ratings")

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable), saved with the model."""
        return {}

    def _get_state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save; keys must not start with an underscore."""
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `_get_state` returned."""
        if state:
            raise ValueError(f"{type(self).__name__} saves no arrays, got {sorted(state)}")

    @fit_estimate
    def estimate_fit_bytes(cls, n_users: int, n_items: int, nnz: int) -> int:
        """Peak extra bytes `fit` needs on data of this size (for a preflight check).

        Subclasses whose size parameters matter take them as keyword-only arguments named
        and defaulted like the constructor's; with `@fit_estimate`, calling the method on
        a model fills them from that model.
        """
        raise NotImplementedError(f"{cls.__name__} has no fit memory estimate")

    # ---- the protocol ----------------------------------------------------------------
    def fit(self: ModelT, train: Interactions) -> ModelT:
        """Fit on a training `Interactions`; returns self."""
        if train.nnz == 0:
            raise ValueError("cannot fit on an empty training set")
        self.train_ = train
        self.fallback_counts = Counter()
        self._popularity = item_counts(train.user_items)
        try:
            self._fit(train)
        except BaseException:
            self.train_ = None
            raise
        return self

    def predict(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Predicted ratings for pairs of raw ids.

        Returns:
            float32 array of len(user_ids); pairs with an unknown user or item get the
            baseline's prediction and are counted in `fallback_counts`.

        Raises:
            TypeError: the model ranks items only (`predicts_ratings` is False).
            NotFittedError: the model is not fitted.
        """
        if not self.predicts_ratings:
            raise TypeError(f"{type(self).__name__} ranks items and does not predict ratings")
        train = self._require_fitted()
        user_ids, item_ids = np.asarray(user_ids), np.asarray(item_ids)
        if user_ids.shape != item_ids.shape:
            raise ValueError(
                f"user_ids and item_ids differ in shape: {user_ids.shape} vs {item_ids.shape}"
            )
        user_rows, item_cols = train.user_index(user_ids), train.item_index(item_ids)
        self.fallback_counts["predict_unknown_user"] += int((user_rows < 0).sum())
        self.fallback_counts["predict_unknown_item"] += int((item_cols < 0).sum())
        return self._predict(user_rows, item_cols).astype(np.float32, copy=False)

    def recommend(
        self,
        user_ids: np.ndarray,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        batch_size: int | None = None,
        device: str = "cpu",
        backend: str = "auto",
        progress: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-`k` items for each raw user id, scored `batch_size` users at a time.

        Args:
            user_ids: raw user ids; users unknown to training get the most popular items.
            k: items per user.
            exclude_seen: leave out each user's training items.
            batch_size: users scored at once (bounds memory: batch_size x n_items floats);
                None: `score_batch_users(n_items)`.
            device: torch device for the torch backend ("cpu", "cuda", "cuda:N").
            backend: "numpy" (argpartition on the CPU), "torch" (torch.topk on `device`,
                cached GPU memory released between batches) or "auto" (torch on CUDA,
                numpy otherwise).
            progress: the description of a progress bar over the users (`progress_bar`,
                shown once the scoring has taken `PROGRESS_DELAY_S`); None: no bar.

        Returns:
            int32 raw item ids and float32 scores, each of shape (len(user_ids), k); -1 and
            -inf fill rows with fewer than k candidate items.
        """
        train = self._require_fitted()
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        if batch_size is None:
            batch_size = score_batch_users(train.n_items)
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if backend not in ("auto", "numpy", "torch"):
            raise ValueError(f"backend must be auto, numpy or torch, got {backend!r}")
        user_rows = train.user_index(np.asarray(user_ids))
        n_users, k_eff = len(user_rows), min(k, train.n_items)
        index = np.full((n_users, k), -1, dtype=np.int32)
        scores = np.full((n_users, k), -np.inf, dtype=np.float32)

        known = np.flatnonzero(user_rows >= 0)
        unknown = np.flatnonzero(user_rows < 0)
        self.fallback_counts["recommend_unknown_user"] += len(unknown)
        if len(unknown):
            best, best_scores = top_k_numpy(self._popularity[None, :], k_eff)
            index[unknown, :k_eff], scores[unknown, :k_eff] = best, best_scores

        use_torch = backend == "torch" or (backend == "auto" and device.startswith("cuda"))
        with work_progress(len(known), progress, "users") as bar:
            for start in range(0, len(known), batch_size):
                positions = known[start : start + batch_size]
                rows = user_rows[positions]
                seen = train.user_items[rows] if exclude_seen else None
                block = self._score(rows)
                if use_torch:
                    best, best_scores = top_k_torch(_to_torch(block, device), k_eff, seen)
                    _release_cached(device)
                else:
                    block = np.asarray(_to_numpy(block), dtype=np.float32)
                    if seen is not None:
                        mask_seen(block, seen)
                    best, best_scores = top_k_numpy(block, k_eff)
                index[positions, :k_eff], scores[positions, :k_eff] = best, best_scores
                bar.update(len(positions))

        item_ids = np.where(index >= 0, train.item_ids[np.maximum(index, 0)], -1)
        return item_ids.astype(np.int32), scores

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to an `.npz` file (numpy arrays and JSON, no pickle),
        atomically: a failed write leaves no partial file and names a full disk.

        Raises:
            DiskFullError: the disk is full (the message says how much is free where).
        """
        train = self._require_fitted()
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        state = self._get_state()
        bad = [key for key in state if key.startswith("_")]
        if bad:
            raise ValueError(f"state keys must not start with '_': {bad}")
        meta = {"class": type(self).__name__, "params": self.get_params()}
        m = train.user_items
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                _meta=np.array(json.dumps(meta)),
                _user_ids=train.user_ids,
                _item_ids=train.item_ids,
                _data=m.data,
                _indices=m.indices,
                _indptr=m.indptr,
                _popularity=self._popularity,
                **state,
            )
        return path

    @classmethod
    def load(cls: type[ModelT], path: str | Path) -> ModelT:
        """Load a model written by `save`. Called on a base class (`Recommender.load`), it
        loads whichever subclass the file names.

        Raises:
            ValueError: the file is not a model file, or holds a model that is not a `cls`.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
            meta = json.loads(str(arrays.pop("_meta")))
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"{path} is not a readable recsys_lib model file: {error}") from error
        if meta["class"] != cls.__name__:
            from recsys_lib.models.catalog import model_class

            try:
                saved = model_class(meta["class"])
            except KeyError as error:
                raise ValueError(f"{path}: {error.args[0]}") from None
            if not issubclass(saved, cls):
                raise ValueError(f"{path} holds a {meta['class']}, not a {cls.__name__}")
            return saved.load(path)
        user_ids, item_ids = arrays.pop("_user_ids"), arrays.pop("_item_ids")
        matrix = sp.csr_matrix(
            (arrays.pop("_data"), arrays.pop("_indices"), arrays.pop("_indptr")),
            shape=(len(user_ids), len(item_ids)),
        )
        model = cls(**meta["params"])
        model.train_ = Interactions(matrix, user_ids, item_ids)
        model._popularity = arrays.pop("_popularity")
        model._set_state(arrays)
        return model

    def _require_fitted(self) -> Interactions:
        if self.train_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() first")
        return self.train_

    def __repr__(self) -> str:
        params = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"{type(self).__name__}({params})"


def item_counts(user_items: sp.csr_matrix, threshold: float | None = None) -> np.ndarray:
    """float32 number of stored ratings per item column (only those >= `threshold` if given)."""
    indices = user_items.indices
    if threshold is not None:
        indices = indices[user_items.data >= threshold]
    return np.bincount(indices, minlength=user_items.shape[1]).astype(np.float32)


def _to_numpy(block: Any) -> np.ndarray:
    if isinstance(block, np.ndarray):
        return block
    return block.detach().float().cpu().numpy()


def _to_torch(block: Any, device: str) -> Any:
    import torch

    if isinstance(block, np.ndarray):
        return torch.from_numpy(block).to(device)
    return block.to(device)


def _release_cached(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
