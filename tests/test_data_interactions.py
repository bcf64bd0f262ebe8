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


def test_to_frame_of_some_users_is_their_rows_of_the_whole_frame() -> None:
    ratings = pd.DataFrame({"user_id": np.int32([7, 3, 7, 9, 3]),
                            "item_id": np.int32([2, 5, 1, 2, 2]),
                            "rating": np.float32([4.0, 3.0, 2.0, 5.0, 1.0])})  # fmt: skip
    interactions = Interactions.from_ratings(ratings)
    whole = interactions.to_frame()
    assert len(whole) == 5 and list(whole["user_id"]) == [3, 3, 7, 7, 9]  # by user, item
    some = interactions.to_frame(np.array([9, 7, 4]))  # unsorted, 4 unknown
    expected = whole[whole["user_id"].isin([7, 9])].reset_index(drop=True)
    pd.testing.assert_frame_equal(some, expected)
    assert interactions.to_frame(np.array([4])).empty
