"""Recommender models sharing one protocol (see `recsys_lib.models.base.Recommender`).

Classical models: `BiasBaseline` and `SVD` (rating prediction), `ItemKNN` (both),
`ALS`, `EASE` and `Popularity` (ranking only), and `Blend` (learned weights over any of
them). Torch models live in `recsys_lib.models.vae` and are not imported here, so
importing this package stays light (no torch, no implicit).
"""

from recsys_lib.models.als import ALS
from recsys_lib.models.base import DEFAULT_BATCH_USERS, NotFittedError, Recommender
from recsys_lib.models.baseline import BiasBaseline
from recsys_lib.models.blend import Blend
from recsys_lib.models.ease import EASE
from recsys_lib.models.knn import ItemKNN
from recsys_lib.models.popularity import Popularity
from recsys_lib.models.svd import SVD

__all__ = [
    "ALS",
    "DEFAULT_BATCH_USERS",
    "EASE",
    "SVD",
    "BiasBaseline",
    "Blend",
    "ItemKNN",
    "NotFittedError",
    "Popularity",
    "Recommender",
]
