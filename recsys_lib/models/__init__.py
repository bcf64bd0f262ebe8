"""Recommender models sharing one protocol (see `recsys_lib.models.base.Recommender`).

Classical models: `BiasBaseline` and `SVD` (rating prediction), `ItemKNN` and `UserKNN` (both),
`ALS`, `EASE` and `Popularity` (ranking only), and `Blend` (learned weights over any of
them). The torch models `RatingVAE` and `MultVAE` are importable from here too, but
imported only on first use, so importing this package stays light (no torch, no implicit).
`load_model(path)` reads any saved model, whatever its class; `similar_items(model,
item_ids, k)` lists the nearest items of a model that has item similarities or item factors.
"""

from __future__ import annotations

import importlib
from typing import Any

from recsys_lib.models.als import ALS
from recsys_lib.models.base import DEFAULT_BATCH_USERS, NotFittedError, Recommender
from recsys_lib.models.baseline import BiasBaseline
from recsys_lib.models.blend import Blend
from recsys_lib.models.catalog import MODEL_CLASSES, load_model, model_class
from recsys_lib.models.ease import EASE
from recsys_lib.models.knn import ItemKNN, UserKNN
from recsys_lib.models.popularity import Popularity
from recsys_lib.models.similarity import has_item_similarity, similar_items
from recsys_lib.models.svd import SVD

__all__ = [
    "ALS",
    "DEFAULT_BATCH_USERS",
    "EASE",
    "MODEL_CLASSES",
    "SVD",
    "BiasBaseline",
    "Blend",
    "ItemKNN",
    "MultVAE",
    "NotFittedError",
    "Popularity",
    "RatingVAE",
    "Recommender",
    "UserKNN",
    "has_item_similarity",
    "load_model",
    "model_class",
    "similar_items",
]

#: Names imported on first access (they import torch).
_LAZY = {"RatingVAE", "MultVAE"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attribute = MODEL_CLASSES[name].partition(":")
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
