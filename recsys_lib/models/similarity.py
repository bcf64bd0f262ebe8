"""Items like an item: the nearest items of a fitted model, from what the model learned.

Works from a model's public arrays, whichever it has (first match wins):

- its own `similar_items(item_ids, k)` method;
- `neighbors_`: an items x items sparse similarity (ItemKNN's neighbours; not UserKNN's,
  whose `neighbors_of` is "users");
- `weight_rows(positions)` (with `kept_`, the item columns it covers): rows of an
  item-item weight matrix (EASE);
- `item_factors_`: item factors (SVD, ALS), compared by cosine similarity.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys_lib.models.base import NotFittedError, Recommender
from recsys_lib.models.scoring import top_k_numpy

__all__ = ["has_item_similarity", "similar_items"]

logger = logging.getLogger(__name__)


def has_item_similarity(model: Recommender) -> bool:
    """Whether `similar_items` works for `model` (it has item similarities or factors)."""
    own = getattr(type(model), "similar_items", None)
    if callable(own):
        return True
    return _item_neighbors(model) is not None or any(
        getattr(model, name, None) is not None for name in ("kept_", "item_factors_")
    )


def _item_neighbors(model: Any) -> Any:
    """The model's `neighbors_` where they are item neighbours (not UserKNN's users)."""
    if getattr(model, "neighbors_of", "items") != "items":
        return None
    return getattr(model, "neighbors_", None)


def similar_items(
    model: Recommender, item_ids: np.ndarray, k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` items most similar to each raw item id, most similar first (never itself).

    Args:
        model: a fitted model with item similarities or item factors.
        item_ids: raw item ids known to the model's training data.
        k: neighbours per item.

    Returns:
        int32 raw item ids and float32 similarities (cosine for factors and neighbours,
        the model's weight for EASE), each of shape (len(item_ids), k); -1 and -inf fill
        rows with fewer than k similar items.

    Raises:
        TypeError: the model has neither item similarities nor item factors.
        NotFittedError: the model is not fitted.
        ValueError: `k` is not positive, or an item id is not in the training data.
    """
    own = getattr(model, "similar_items", None)
    if callable(own):
        return own(item_ids, k)
    train = model.train_
    if train is None:
        raise NotFittedError(f"{type(model).__name__} is not fitted; call fit() first")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    item_ids = np.asarray(item_ids)
    cols = train.item_index(item_ids)
    if (cols < 0).any():
        missing = item_ids[cols < 0].tolist()
        raise ValueError(f"item id(s) {missing} are not in {type(model).__name__}'s training data")
    block = _similarity_rows(model, cols)
    block[np.arange(len(cols)), cols] = -np.inf  # never the item itself
    best, scores = top_k_numpy(block, min(k, train.n_items))
    index = np.full((len(cols), k), -1, dtype=np.int32)
    values = np.full((len(cols), k), -np.inf, dtype=np.float32)
    index[:, : best.shape[1]], values[:, : best.shape[1]] = best, scores
    raw = np.where(index >= 0, train.item_ids[np.maximum(index, 0)], -1)
    return raw.astype(np.int32), values


def _similarity_rows(model: Any, cols: np.ndarray) -> np.ndarray:
    """float32 (len(cols), n_items) similarities; -inf where the model knows none."""
    n_items = model.train_.n_items
    neighbors = _item_neighbors(model)
    if neighbors is not None and sp.issparse(neighbors):
        rows = sp.csr_matrix(neighbors)[cols]
        block = np.full((len(cols), n_items), -np.inf, dtype=np.float32)
        row_of = np.repeat(np.arange(len(cols)), np.diff(rows.indptr))
        block[row_of, rows.indices] = rows.data
        return block
    kept = getattr(model, "kept_", None)
    if kept is not None:
        kept = np.asarray(kept)
        position = np.full(n_items, -1)
        position[kept] = np.arange(len(kept))
        if (position[cols] < 0).any():
            raise ValueError(f"{type(model).__name__} models only its most-rated items; "
                             f"item(s) {model.train_.item_ids[cols[position[cols] < 0]].tolist()} "
                             f"are not among them")
        block = np.full((len(cols), n_items), -np.inf, dtype=np.float32)
        block[:, kept] = model.weight_rows(position[cols])
        return block
    factors = getattr(model, "item_factors_", None)
    if factors is not None:
        factors = np.asarray(factors, dtype=np.float32)
        norms = np.linalg.norm(factors, axis=1)
        unit = factors / np.where(norms > 0, norms, 1.0)[:, None]
        return (unit[cols] @ unit.T).astype(np.float32)
    raise TypeError(f"{type(model).__name__} has no item similarities or item factors; "
                    f"use ItemKNN, SVD, ALS or EASE")
