"""Interactions.from_ratings on frames built by hand: negative ids are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data import DataError, Interactions
from recsys_lib.data.interactions import count_by


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


@pytest.mark.parametrize("highest", [50, 3_000_000_000])  # looked up in a table / searched
def test_index_of_finds_known_ids_and_marks_the_rest(highest: int) -> None:
    from recsys_lib.data.interactions import index_of

    rng = np.random.default_rng(3)
    known = np.unique(rng.integers(0, highest, 20)).astype(np.int64)
    raw = np.concatenate([known[::-1], [-5, highest + 7, known[0]], rng.integers(0, highest, 9)])
    expected = np.array([np.flatnonzero(known == value)[0] if value in known else -1
                         for value in raw])
    got = index_of(known, raw)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)
    grid = 3 * (len(raw) // 3)  # a 2-d array keeps its shape
    np.testing.assert_array_equal(index_of(known, raw[:grid].reshape(3, -1)),
                                  expected[:grid].reshape(3, -1))
    assert index_of(known, raw[:0]).shape == (0,)
    assert index_of(known, np.float64(known[1])) == 1  # a float scalar: searched


def test_unique_ids_are_numpys_unique() -> None:
    from recsys_lib.data.interactions import unique_ids

    rng = np.random.default_rng(4)
    for ids in (rng.integers(0, 1_000, 5_000), rng.integers(0, 2**40, 50),
                np.array([3, -2, 3, 7]), np.array([], dtype=np.int32), np.array([2.5, 1.0])):
        got = unique_ids(ids)
        np.testing.assert_array_equal(got, np.unique(ids))
        assert got.dtype == np.unique(ids).dtype


def test_counts_are_the_frames_value_counts() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"user_id": rng.integers(0, 40, 300), "item_id": rng.integers(5, 90, 300),
                          "rating": rng.integers(1, 11, 300) / 2})
    frame = frame.drop_duplicates(["user_id", "item_id"])
    # an id map with users and items that have no rating: they are left out, as in the frame
    encoded = Interactions.from_ratings(frame, user_ids=np.arange(50), item_ids=np.arange(100))
    for column in ("user_id", "item_id", "rating"):
        expected = frame[column].value_counts().sort_index()
        counts = encoded.counts(column).sort_index()
        np.testing.assert_array_equal(counts.index.to_numpy(), expected.index.to_numpy())
        np.testing.assert_array_equal(counts.to_numpy(), expected.to_numpy())
        assert counts.index.name == column
        np.testing.assert_array_equal(count_by(frame, column).sort_index(), expected)
    with pytest.raises(ValueError, match="not 'timestamp'"):
        encoded.counts("timestamp")
