"""Interactions.from_ratings on frames built by hand: negative ids are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data import DataError, Interactions


@pytest.mark.parametrize("column", ["user_id", "item_id"])
def test_negative_ids_are_refused_naming_column_row_and_value(column: str) -> None:
    ratings = pd.DataFrame({"user_id": np.int32([1, 2, 3]), "item_id": np.int32([5, 6, 7]),
                            "rating": np.float32([4.0, 3.0, 2.0])})  # fmt: skip
    ratings.loc[1, column] = -1
    with pytest.raises(DataError, match=rf"{column} -1 at row 1 is negative \(1 such rows\)"):
        Interactions.from_ratings(ratings)
    ratings.loc[1, column] = 0  # zero is an id like any other
    interactions = Interactions.from_ratings(ratings)
    assert interactions.nnz == 3
    assert 0 in getattr(interactions, f"{column}s")
