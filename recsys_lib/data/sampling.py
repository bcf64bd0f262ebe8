"""Seeded samples of ratings, drawn in memory or while streaming a file in chunks.

Both paths give the same rows for the same data and seed:

- "ratings": a uniform sample of rows. Every row gets a random key from one seeded
  stream (row order, so chunking does not matter) and the rows with the `sample_size`
  smallest keys are kept (bottom-k; O(sample_size + chunk) memory).
- "users": whole histories of random users. Users (sorted ids) are shuffled with the seed
  and taken in that order until their ratings add up to at least `sample_size`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from recsys_lib.data.interactions import index_of
from recsys_lib.data.schema import DataError

__all__ = [
    "SAMPLE_STRATEGIES",
    "RatingSampler",
    "UserCounter",
    "check_sample_args",
    "choose_users",
    "keep_users",
    "sample_info",
    "sample_ratings",
    "seeded_subset",
]

logger = logging.getLogger(__name__)

SAMPLE_STRATEGIES = ("ratings", "users")


def check_sample_args(sample_size: int, strategy: str) -> None:
    """Raise DataError naming the parameter when `sample_size` is not a positive integer
    or `strategy` is not one of SAMPLE_STRATEGIES."""
    if isinstance(sample_size, bool) or not isinstance(sample_size, (int, np.integer)):
        raise DataError(f"sample_size must be a positive integer or None, got {sample_size!r}")
    if sample_size <= 0:
        raise DataError(f"sample_size must be a positive integer or None, got {sample_size}")
    if strategy not in SAMPLE_STRATEGIES:
        raise DataError(f"strategy must be one of {SAMPLE_STRATEGIES}, got {strategy!r}")


class RatingSampler:
    """Uniform sample without replacement of `sample_size` rows from chunks added in order.

    Keeps the rows with the smallest seeded uniform keys seen so far, so memory stays
    O(sample_size + chunk) whatever the total number of rows.
    """

    def __init__(self, sample_size: int, seed: int) -> None:
        self.sample_size = sample_size
        self.n_seen = 0
        self._rng = np.random.default_rng(seed)
        self._keys = np.empty(0, dtype=np.float64)
        self._positions = np.empty(0, dtype=np.int64)
        self._rows: pd.DataFrame | None = None

    def add(self, chunk: pd.DataFrame) -> None:
        """Offer the next rows of the stream."""
        n_rows, first = len(chunk), self.n_seen
        self.n_seen += n_rows
        keys = self._rng.random(n_rows)
        # Only the chunk's own smallest keys, and once the sample is full only keys under
        # its largest, can end up in the sample.
        take = np.arange(n_rows)
        if n_rows > self.sample_size:
            take = np.argpartition(keys, self.sample_size - 1)[: self.sample_size]
        if len(self._keys) >= self.sample_size:
            take = take[keys[take] < self._keys.max()]
        keys, chunk = keys[take], chunk.iloc[take]
        positions = take.astype(np.int64) + first
        self._keys = np.concatenate([self._keys, keys])
        self._positions = np.concatenate([self._positions, positions])
        self._rows = chunk if self._rows is None else pd.concat([self._rows, chunk])
        if len(self._keys) > self.sample_size:
            keep = np.argpartition(self._keys, self.sample_size - 1)[: self.sample_size]
            self._keys, self._positions = self._keys[keep], self._positions[keep]
            self._rows = self._rows.iloc[keep]

    def result(self) -> pd.DataFrame | None:
        """The sampled rows in stream order with a fresh index (None when no rows came)."""
        if self._rows is None:
            return None
        return self._rows.iloc[np.argsort(self._positions)].reset_index(drop=True)


class UserCounter:
    """Number of ratings per user over chunks of user ids."""

    def __init__(self) -> None:
        self.user_ids = np.empty(0, dtype=np.int32)
        self.counts = np.empty(0, dtype=np.int64)

    def add(self, user_ids: np.ndarray) -> None:
        """Count the user ids of one chunk (int32 array)."""
        ids, counts = np.unique(user_ids, return_counts=True)
        merged, inverse = np.unique(np.concatenate([self.user_ids, ids]), return_inverse=True)
        weights = np.concatenate([self.counts, counts])
        self.counts = np.bincount(inverse, weights=weights, minlength=len(merged)).astype(np.int64)
        self.user_ids = merged.astype(np.int32)


def choose_users(
    user_ids: np.ndarray, counts: np.ndarray, sample_size: int, seed: int, *,
    at_most: bool = False,
) -> np.ndarray:
    """Users, shuffled with `seed`, taken until their ratings reach `sample_size`.

    Args:
        user_ids: sorted unique int32 user ids.
        counts: number of ratings of each user.
        sample_size: ratings wanted (at least; the last user's history is kept whole).
        seed: shuffling seed.
        at_most: stop before the user whose ratings would pass `sample_size` instead
            (at least one user is taken).

    Returns:
        Sorted int32 array of the chosen user ids (all users when they hold fewer ratings).
    """
    order = np.random.default_rng(seed).permutation(len(user_ids))
    reached = np.cumsum(counts[order])
    if at_most:
        n_users = max(1, int(np.searchsorted(reached, sample_size, side="right")))
    else:
        n_users = min(int(np.searchsorted(reached, sample_size)) + 1, len(user_ids))
    return np.sort(user_ids[order[:n_users]]).astype(np.int32)


def seeded_subset(values: np.ndarray, size: int, seed: int) -> np.ndarray:
    """`size` of `values` drawn without replacement with `seed`, sorted; `values` itself
    when it holds no more than `size`."""
    if len(values) <= size:
        return values
    return np.sort(np.random.default_rng(seed).choice(values, size=size, replace=False))


def keep_users(ratings: pd.DataFrame, user_ids: np.ndarray) -> pd.DataFrame:
    """Rows of `ratings` whose user is in the sorted array `user_ids`."""
    return ratings.loc[index_of(user_ids, ratings["user_id"].to_numpy()) >= 0]


def sample_ratings(
    ratings: pd.DataFrame, sample_size: int, *, strategy: str = "ratings", seed: int = 42
) -> pd.DataFrame:
    """Seeded sample of a ratings frame already in memory.

    Gives the same rows as ``load_ratings(..., sample_size=..., strategy=..., seed=...)``
    streaming the file the frame was loaded from.

    Args:
        ratings: frame with at least a user_id column (int32).
        sample_size: number of ratings wanted; the whole frame when it holds fewer.
        strategy: "ratings" (uniform rows) or "users" (whole histories of random users,
            at least `sample_size` ratings).
        seed: random seed.

    Returns:
        The sampled rows in their original order, with a fresh RangeIndex and
        ``attrs["sample"]`` describing the sample.
    """
    check_sample_args(sample_size, strategy)
    if strategy == "ratings":
        sampler = RatingSampler(sample_size, seed)
        sampler.add(ratings)
        sample = sampler.result()
        sample = ratings.iloc[:0] if sample is None else sample
    else:
        counter = UserCounter()
        counter.add(ratings["user_id"].to_numpy())
        chosen = choose_users(counter.user_ids, counter.counts, sample_size, seed)
        sample = keep_users(ratings, chosen).reset_index(drop=True)
    skipped = ratings.attrs.get("sample", {}).get("n_bad_rows_skipped", 0)
    sample.attrs = {
        **ratings.attrs,
        "sample": sample_info(strategy, sample_size, seed, len(ratings), skipped),
    }
    return sample


def sample_info(
    strategy: str | None, sample_size: int | None, seed: int, n_rows_read: int, n_skipped: int
) -> dict:
    """The JSON-ready ``attrs["sample"]`` record of a loaded or sampled frame.

    Holds strategy, sample_size, seed, n_rows_read and n_bad_rows_skipped, plus a "note"
    (and a logged warning) when `sample_size` asks for more ratings than were read:
    "asked for 200,000 ratings; the data has 100,836: using all".
    """
    info = {
        "strategy": strategy,
        "sample_size": None if sample_size is None else int(sample_size),
        "seed": int(seed),
        "n_rows_read": int(n_rows_read),
        "n_bad_rows_skipped": int(n_skipped),
    }
    if sample_size is not None and sample_size > n_rows_read:
        info["note"] = (
            f"asked for {sample_size:,} ratings; the data has {n_rows_read:,}: using all"
        )
        logger.warning("sample_size: %s", info["note"])
    return info
