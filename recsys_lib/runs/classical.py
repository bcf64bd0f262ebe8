"""The classical notebook (`notebooks/classical_cf`): its parameters and its models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from recsys_lib.models import ALS, SVD, BiasBaseline, ItemKNN, Popularity, Recommender
from recsys_lib.runs.params import NotebookParams, check_positive

__all__ = ["CLASSICAL_MODELS", "YARDSTICKS", "ClassicalParams", "ModelEntry", "classical_models"]


@dataclass(frozen=True)
class ClassicalParams(NotebookParams):
    """Parameters of `classical_cf`: the shared ones plus the models' knobs.

    Attributes:
        SVD_COMPONENTS: latent factors of SVD.
        KNN_NEIGHBORS: neighbours per item of ItemKNN.
        ALS_FACTORS: latent factors of ALS.
        ALS_ITERATIONS: ALS sweeps.
        TOP_K: recommendations per user in the ranking metrics.
        EVAL_USERS: score a seeded sample of this many test users (None: all).
        DEVICE: "auto", "cpu" or "cuda" (CUDA scores recommendations on the GPU).
    """

    SAMPLE_SIZE: int | None = 50_000
    SVD_COMPONENTS: int = 30
    KNN_NEIGHBORS: int = 15
    ALS_FACTORS: int = 30
    ALS_ITERATIONS: int = 5
    TOP_K: int = 10
    EVAL_USERS: int | None = None
    DEVICE: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("SVD_COMPONENTS", "KNN_NEIGHBORS", "ALS_FACTORS", "ALS_ITERATIONS", "TOP_K"):
            check_positive(self, name)
        check_positive(self, "EVAL_USERS", optional=True)


@dataclass(frozen=True)
class ModelEntry:
    """One model of the notebook.

    Attributes:
        name: its name in the run (results.json metrics key, saved file name).
        build: parameters -> the unfitted model.
        yardstick: a baseline the other models are compared with, never "the best".
    """

    name: str
    build: Callable[[ClassicalParams], Recommender]
    yardstick: bool = False


#: The notebook's models, yardsticks first. Adding a model is one entry here.
CLASSICAL_MODELS: tuple[ModelEntry, ...] = (
    ModelEntry("BiasBaseline", lambda p: BiasBaseline(), yardstick=True),
    ModelEntry("Popularity", lambda p: Popularity(), yardstick=True),
    ModelEntry("SVD", lambda p: SVD(n_components=p.SVD_COMPONENTS, seed=p.SEED)),
    ModelEntry("ItemKNN", lambda p: ItemKNN(n_neighbors=p.KNN_NEIGHBORS)),
    ModelEntry(
        "ALS", lambda p: ALS(factors=p.ALS_FACTORS, iterations=p.ALS_ITERATIONS, seed=p.SEED)
    ),
)

#: The yardsticks' names: what every other model must beat, never "the best".
YARDSTICKS = tuple(entry.name for entry in CLASSICAL_MODELS if entry.yardstick)


def classical_models(params: ClassicalParams, n_items: int) -> dict[str, Recommender]:
    """The notebook's unfitted models by name, yardsticks first.

    Raises:
        ValueError: KNN_NEIGHBORS is not below the number of training items.
    """
    if n_items <= params.KNN_NEIGHBORS:
        raise ValueError(
            f"KNN_NEIGHBORS={params.KNN_NEIGHBORS} needs more items than that; "
            f"the training set has {n_items}"
        )
    return {entry.name: entry.build(params) for entry in CLASSICAL_MODELS}
