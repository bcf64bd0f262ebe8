"""Shared fixtures: small seeded ratings frames with the real schema."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def tiny_ratings() -> pd.DataFrame:
    """200 ratings by 20 users on 30 items, half-star ratings, MovieLens dtypes."""
    rng = np.random.default_rng(0)
    pairs = rng.choice(20 * 30, size=200, replace=False)
    return pd.DataFrame(
        {
            "user_id": (pairs // 30 + 1).astype(np.int32),
            "item_id": (pairs % 30 * 3 + 1).astype(np.int32),
            "rating": (rng.integers(1, 11, size=200) / 2).astype(np.float32),
            "timestamp": rng.integers(9e8, 1.5e9, size=200).astype(np.int32),
        }
    )
