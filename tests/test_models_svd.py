"""SVD: the low-rank term is the truncated SVD of the baseline residuals."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data.interactions import Interactions
from recsys_lib.models import SVD


@pytest.fixture
def train() -> Interactions:
    """8 users x 6 items, 34 of 48 cells rated with half stars."""
    rng = np.random.default_rng(7)
    cells = rng.choice(48, size=34, replace=False)
    return Interactions.from_ratings(
        pd.DataFrame(
            {
                "user_id": (cells // 6 + 1).astype(np.int32),
                "item_id": (cells % 6 * 10 + 10).astype(np.int32),
                "rating": (rng.integers(1, 11, size=34) / 2).astype(np.float32),
            }
        )
    )


def _dense_residuals(model: SVD, train: Interactions) -> np.ndarray:
    return model.biases_.residuals(train.user_items).toarray()


def test_full_rank_reconstructs_the_residuals_and_training_ratings(train: Interactions) -> None:
    model = SVD(n_components=6).fit(train)
    low_rank = model.user_factors_ @ model.item_factors_.T
    np.testing.assert_allclose(low_rank, _dense_residuals(model, train), atol=1e-4)
    frame = train.to_frame()
    predicted = model.predict(frame["user_id"].to_numpy(), frame["item_id"].to_numpy())
    np.testing.assert_allclose(predicted, frame["rating"].to_numpy(), atol=1e-4)


@pytest.mark.parametrize("solver", ["randomized", "arpack"])
def test_truncation_is_the_best_rank_k_approximation(train: Interactions, solver: str) -> None:
    model = SVD(n_components=2, solver=solver, seed=1).fit(train)
    residuals = _dense_residuals(model, train)
    u, s, vt = np.linalg.svd(residuals.astype(np.float64), full_matrices=False)
    expected = (u[:, :2] * s[:2]) @ vt[:2]
    low_rank = model.user_factors_ @ model.item_factors_.T
    assert model.user_factors_.dtype == model.item_factors_.dtype == np.float32
    np.testing.assert_allclose(low_rank, expected, atol=1e-4)
    # predictions add exactly this term to the baseline (before clipping)
    users, items = np.array([1, 8]), np.array([20, 60])
    rows, cols = train.user_index(users), train.item_index(items)
    unclipped = model.biases_.predict(rows, cols) + low_rank[rows, cols]
    np.testing.assert_allclose(model.predict(users, items), model.biases_.clip(unclipped),
                               atol=1e-5)


def test_too_many_components_are_clipped_with_a_warning(
    train: Interactions, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="recsys_lib.models.svd"):
        model = SVD(n_components=30, solver="arpack").fit(train)
    assert model.user_factors_.shape == (8, 5) and model.item_factors_.shape == (6, 5)
    assert "n_components=30" in caplog.text and "using 5" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"n_components": 0}, "n_components"), ({"solver": "lu"}, "solver")]
)
def test_bad_parameters_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SVD(**kwargs)


def test_fit_estimate_uses_the_models_own_size_parameters() -> None:
    default = SVD.estimate_fit_bytes(10_000, 5_000, 1_000_000)
    wide = SVD.estimate_fit_bytes(10_000, 5_000, 1_000_000, n_components=100)
    assert wide > default
    assert SVD(n_components=100).estimate_fit_bytes(10_000, 5_000, 1_000_000) == wide
    assert SVD().estimate_fit_bytes(10_000, 5_000, 1_000_000) == default
