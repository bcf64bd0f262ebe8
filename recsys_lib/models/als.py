"""Implicit-feedback ALS (Hu, Koren and Volinsky 2008) through the `implicit` library."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys_lib.data.interactions import Interactions
from recsys_lib.memory import dense_matrix_bytes, sparse_matrix_bytes
from recsys_lib.models.base import Recommender, fit_estimate
from recsys_lib.progress import work_progress

__all__ = ["ALS", "confidence_matrix"]

logger = logging.getLogger(__name__)


def confidence_matrix(
    user_items: sp.csr_matrix, alpha: float, min_rating: float | None = None
) -> sp.csr_matrix:
    """Hu et al.'s confidence `c_ui = 1 + alpha * r_ui` for every kept rating.

    Every rating is a positive observation (the user chose to watch and rate the item),
    weighted more the higher the rating; cells without a rating are negatives with
    confidence 1 (implicit's convention for unstored cells).

    Args:
        user_items: float32 users x items CSR of ratings.
        alpha: confidence per star, >= 0.
        min_rating: keep only ratings >= this many stars (None keeps every rating).

    Returns:
        float32 CSR of the same shape, int32 indices.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    data, indices, indptr = user_items.data, user_items.indices, user_items.indptr
    if min_rating is not None:
        keep = data >= min_rating
        indptr = np.concatenate([[0], np.cumsum(keep)])[indptr]
        data, indices = data[keep], indices[keep]
    confidence = data.astype(np.float32, copy=True)  # one new array, scaled in place
    confidence *= np.float32(alpha)
    confidence += np.float32(1.0)
    return sp.csr_matrix(
        (confidence, indices.astype(np.int32, copy=False), indptr.astype(np.int32, copy=False)),
        shape=user_items.shape,
    )


class ALS(Recommender):
    """Matrix factorisation of rating confidences with `implicit`'s ALS; ranking only.

    Fitted with BLAS limited to one thread (`implicit` parallelises over users itself
    and asks for this). Runs `implicit`'s GPU model when `device` is CUDA and `implicit`
    was built with CUDA, its CPU model otherwise.

    Args:
        factors: latent dimensions.
        iterations: ALS sweeps (users then items).
        regularization: L2 weight on the factors.
        alpha: confidence per star (see `confidence_matrix`).
        min_rating: use only ratings >= this many stars as positives (None: all ratings).

    The defaults (alpha 0.5, regularization 5) gave the best or near-best NDCG@10 of a
    small grid (alpha 0.25-1, regularization 0.05-5) on random 80/20 splits of
    ml-latest-small and of 50,000-rating samples of it; keeping only ratings >= 3.5 helped
    on the full set and not on the samples, so every rating counts by default.
        seed: seeds the initial factors.
        device: "cpu", "cuda" or "cuda:N".
        show_progress: a progress bar over the iterations (`progress_bar`'s mode, not
            implicit's own bar) once they have taken `PROGRESS_DELAY_S`: quick fits show
            none (MovieLens 25M's shape: about 4 s an iteration on 2 cores).
    """

    predicts_ratings = False

    def __init__(
        self,
        factors: int = 30,
        iterations: int = 5,
        regularization: float = 5.0,
        alpha: float = 0.5,
        min_rating: float | None = None,
        seed: int = 42,
        device: str = "cpu",
        show_progress: bool = True,
    ) -> None:
        super().__init__()
        if factors < 1 or iterations < 1:
            raise ValueError(f"factors and iterations must be >= 1, got {factors}, {iterations}")
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.min_rating = min_rating
        self.seed = seed
        self.device = device
        self.show_progress = show_progress
        self.user_factors_: np.ndarray | None = None
        self.item_factors_: np.ndarray | None = None

    def _fit(self, train: Interactions) -> None:
        from threadpoolctl import threadpool_limits
        from tqdm import TqdmWarning

        with warnings.catch_warnings():
            # implicit imports tqdm.auto, which warns in a notebook without ipywidgets;
            # its own progress bar stays off.
            warnings.simplefilter("ignore", TqdmWarning)
            import implicit.als
            import implicit.gpu

        use_gpu = self.device.startswith("cuda") and implicit.gpu.HAS_CUDA
        if self.device.startswith("cuda") and not use_gpu:
            logger.warning("implicit was built without CUDA; fitting ALS on the CPU")
        confidence = confidence_matrix(train.user_items, self.alpha, self.min_rating)
        with threadpool_limits(1, "blas"), work_progress(
            self.iterations, "ALS fit" if self.show_progress else None, "iterations"
        ) as bar:
            model = implicit.als.AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=1.0,  # the confidence already holds 1 + alpha * rating
                dtype=np.float32,
                iterations=self.iterations,
                use_gpu=use_gpu,
                random_state=self.seed,
            )
            # implicit calls back after each iteration (its number, seconds, loss)
            model.fit(confidence, show_progress=False, callback=lambda *_: bar.update(1))
        if use_gpu:
            model = model.to_cpu()
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[user_rows] @ self.item_factors_.T

    def get_params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "iterations": self.iterations,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "min_rating": self.min_rating,
            "seed": self.seed,
            "device": self.device,
            "show_progress": self.show_progress,
        }

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.user_factors_, self.item_factors_ = state["user_factors"], state["item_factors"]

    @fit_estimate
    def estimate_fit_bytes(cls, n_users: int, n_items: int, nnz: int, *, factors: int = 30) -> int:
        """The confidence matrix and implicit's items x users transpose (float32 CSR), the
        float32 factors twice (implicit's and the contiguous copies kept here) and
        implicit's small per-thread solver buffers."""
        matrices = sparse_matrix_bytes((n_users, n_items), nnz) + sparse_matrix_bytes(
            (n_items, n_users), nnz
        )
        factor_bytes = 2 * dense_matrix_bytes((n_users + n_items, factors))
        return matrices + factor_bytes + 8 * dense_matrix_bytes((factors, factors))
