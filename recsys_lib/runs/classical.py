"""The classical notebook (`notebooks/classical_cf`): its parameters and its models."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from recsys_lib.models import (
    ALS,
    EASE,
    SVD,
    BiasBaseline,
    Blend,
    ItemKNN,
    Popularity,
    Recommender,
)
from recsys_lib.runs.params import NotebookParams, check_positive

__all__ = [
    "BLEND_MEMBERS",
    "CLASSICAL_MODELS",
    "YARDSTICKS",
    "ClassicalParams",
    "ModelEntry",
    "classical_models",
]


@dataclass(frozen=True)
class ClassicalParams(NotebookParams):
    """Parameters of `classical_cf`: the shared ones plus the models' knobs.

    Attributes:
        SVD_COMPONENTS: latent factors of SVD.
        KNN_NEIGHBORS: neighbours per item of ItemKNN.
        ALS_FACTORS: latent factors of ALS.
        ALS_ITERATIONS: ALS sweeps.
        EASE_LAMBDA: EASE's L2 weight (in interactions).
        EASE_MAX_ITEMS: most items EASE models (its items x items float32 weights take
            4 x EASE_MAX_ITEMS^2 bytes; the most-rated items are kept); None: as many as
            fit in memory.
        TOP_K: recommendations per user in the ranking metrics.
        EVAL_USERS: score a seeded sample of this many test users (None: all): the
            rating errors on their test ratings, the ranking metrics on their rankings.
        DEVICE: "auto", "cpu" or "cuda" (CUDA scores recommendations on the GPU).
    """

    SAMPLE_SIZE: int | None = 50_000
    SVD_COMPONENTS: int = 30
    KNN_NEIGHBORS: int = 15
    ALS_FACTORS: int = 30
    ALS_ITERATIONS: int = 5
    EASE_LAMBDA: float = 500.0
    EASE_MAX_ITEMS: int | None = 10_000
    TOP_K: int = 10
    EVAL_USERS: int | None = None
    DEVICE: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("SVD_COMPONENTS", "KNN_NEIGHBORS", "ALS_FACTORS", "ALS_ITERATIONS", "TOP_K"):
            check_positive(self, name)
        check_positive(self, "EVAL_USERS", optional=True)
        check_positive(self, "EASE_LAMBDA")
        check_positive(self, "EASE_MAX_ITEMS", optional=True)


@dataclass(frozen=True)
class ModelEntry:
    """One model of the notebook.

    Attributes:
        name: its name in the run (results.json metrics key, saved file name).
        build: (parameters, the models built before it by name) -> the unfitted model.
        yardstick: a baseline the other models are compared with, never "the best".
    """

    name: str
    build: Callable[[ClassicalParams, Mapping[str, Recommender]], Recommender]
    yardstick: bool = False


Built = Mapping[str, Recommender]


def _svd(p: ClassicalParams, built: Built) -> SVD:
    return SVD(n_components=p.SVD_COMPONENTS, seed=p.SEED)


def _knn(p: ClassicalParams, built: Built) -> ItemKNN:
    return ItemKNN(n_neighbors=p.KNN_NEIGHBORS)


def _ease(p: ClassicalParams, built: Built) -> EASE:
    return EASE(lam=p.EASE_LAMBDA, max_items=p.EASE_MAX_ITEMS)


#: The blend's members: its name for each -> the notebook model it is.
BLEND_MEMBERS = {
    "baseline": "BiasBaseline", "popularity": "Popularity", "svd": "SVD", "knn": "ItemKNN",
    "ease": "EASE",
}


def _blend(p: ClassicalParams, built: Built) -> Blend:
    """The blend of the notebook's own models, the same objects: fitted before the blend on
    the same training data, each is fitted once (the blend fits only its inner copies)."""
    return Blend({member: built[name] for member, name in BLEND_MEMBERS.items()})


#: The notebook's models, yardsticks first. Adding a model is one entry here.
CLASSICAL_MODELS: tuple[ModelEntry, ...] = (
    ModelEntry("BiasBaseline", lambda p, built: BiasBaseline(), yardstick=True),
    ModelEntry("Popularity", lambda p, built: Popularity(), yardstick=True),
    ModelEntry("SVD", _svd),
    ModelEntry("ItemKNN", _knn),
    ModelEntry(
        "ALS",
        lambda p, built: ALS(factors=p.ALS_FACTORS, iterations=p.ALS_ITERATIONS, seed=p.SEED),
    ),
    ModelEntry("EASE", _ease),
    ModelEntry("Blend", _blend),
)

#: The yardsticks' names: what every other model must beat, never "the best".
YARDSTICKS = tuple(entry.name for entry in CLASSICAL_MODELS if entry.yardstick)


def classical_models(params: ClassicalParams, n_items: int) -> dict[str, Recommender]:
    """The notebook's unfitted models by name, yardsticks first; the blend's members are
    the `BLEND_MEMBERS` models themselves.

    Raises:
        ValueError: KNN_NEIGHBORS is not below the number of training items.
    """
    if n_items <= params.KNN_NEIGHBORS:
        raise ValueError(
            f"KNN_NEIGHBORS={params.KNN_NEIGHBORS} needs more items than that; "
            f"the training set has {n_items}"
        )
    models: dict[str, Recommender] = {}
    for entry in CLASSICAL_MODELS:
        models[entry.name] = entry.build(params, models)
    return models
