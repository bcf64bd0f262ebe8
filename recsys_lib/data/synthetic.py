"""Synthetic MovieLens-shaped ratings and movies, for tests and scale benchmarks.

The ratings have MovieLens's shape: long-tailed item popularity and user activity,
gapped item ids, half-star ratings with MovieLens's distribution (mean about 3.5, mode
4.0), timestamps in 1996-2018, no duplicate (user, item) pairs and at least one rating
per user. Each rating is `clip(round(global + user bias + item bias + low-rank term +
noise))`, so a model that learns biases or factors beats the global mean on it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

__all__ = ["GENRES", "ML_25M_SHAPE", "TIME_RANGE", "synthetic_movies", "synthetic_ratings"]

logger = logging.getLogger(__name__)

#: The 18 MovieLens genres common to every release (ml-latest spelling).
GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
#: Inclusive range of synthetic timestamps, unix seconds (1996-01-01 .. 2018-12-31 UTC).
TIME_RANGE = (820_454_400, 1_546_300_799)
#: MovieLens 25M's size: `synthetic_ratings(**ML_25M_SHAPE)` is the benchmarks' scale data.
ML_25M_SHAPE = {"n_users": 162_541, "n_items": 59_047, "n_ratings": 25_000_095}

_USER_SIGMA = 1.25  # lognormal spread of user activity (MovieLens: mean/median about 2.2)
_ITEM_SIGMA = 2.0  # lognormal spread of item popularity (a long tail of rarely rated items)
_ID_GAP = 3  # item ids are drawn from 1 .. 3 * n_items, like MovieLens's gapped ids
_RANK = 4  # rank of the user x item interaction term
_GLOBAL_MEAN = 3.4
_USER_BIAS_SD = 0.35
_ITEM_BIAS_SD = 0.40
_FACTOR_SD = 0.55  # per-factor sd; the low-rank term has sd _FACTOR_SD**2 * sqrt(_RANK)
_NOISE_SD = 0.55
_DISLIKE_SCALE = 0.5  # scale of a centred exponential subtracted from the noise (left skew)
_HALF_STAR_USERS = 0.7  # share of users who use half stars (the rest give whole stars)
_MEAN_SPAN_S = 200 * 86_400  # mean length of a user's rating period, seconds
_RESAMPLE_ROUNDS = 6
_CHUNK_ROWS = 1_000_000
_DENSE_CELLS = 1 << 22  # cells per block when dense sampling resolves the last duplicates


def synthetic_ratings(n_users: int, n_items: int, n_ratings: int, seed: int = 42) -> pd.DataFrame:
    """MovieLens-shaped random ratings.

    Runs in O(n_ratings) memory (about 50 bytes a rating at the peak) and time.

    Args:
        n_users: number of users; ids are 1 .. n_users and every user rates at least once.
        n_items: number of items; ids are sorted, distinct and gapped, from 1 .. 3 * n_items.
            Rarely rated items may end up with no rating.
        n_ratings: exact number of rows, between n_users and n_users * n_items.
        seed: random seed; the same arguments give the same frame.

    Returns:
        Frame sorted by user then item, with columns user_id int32, item_id int32,
        rating float32 (half stars 0.5-5) and timestamp int32 (unix seconds).

    Raises:
        ValueError: a size is out of range (the message names it).
    """
    _check_sizes(n_users, n_items, n_ratings)
    rng = np.random.default_rng(seed)
    item_ids = np.sort(rng.choice(_ID_GAP * n_items, size=n_items, replace=False)) + 1
    counts = _user_counts(n_users, n_items, n_ratings, rng)
    popularity = rng.lognormal(0.0, _ITEM_SIGMA, size=n_items)
    keys = _sample_pairs(counts, popularity / popularity.sum(), rng)
    users = (keys // n_items).astype(np.int32)
    items = (keys % n_items).astype(np.int32)
    del keys
    ratings = _ratings(users, items, n_users, popularity, rng)
    timestamps = _timestamps(users, n_users, rng)
    logger.debug("synthetic ratings: %d users, %d items, %d ratings", n_users, n_items, n_ratings)
    return pd.DataFrame(
        {
            "user_id": users + np.int32(1),
            "item_id": item_ids.astype(np.int32)[items],
            "rating": ratings,
            "timestamp": timestamps,
        }
    )


def synthetic_movies(item_ids: np.ndarray, seed: int = 42) -> pd.DataFrame:
    """Movie titles and genres for the given ids, in MovieLens's style.

    Titles end in a release year ("Movie 12 (1997)"); some follow MovieLens's
    "Title, The (1997)" form, some hold double quotes or latin-1 accents, so writers must
    quote and encode them properly. Every title is latin-1 encodable and free of the "|"
    and "::" separators.

    Args:
        item_ids: the item ids (any integer array; duplicates are dropped).
        seed: random seed.

    Returns:
        Frame sorted by item_id with columns item_id int32, title str and genres str
        (1-3 of `GENRES` joined by "|").
    """
    rng = np.random.default_rng(seed)
    ids = np.unique(np.asarray(item_ids)).astype(np.int32)
    years = rng.integers(1920, 2018, size=len(ids))
    style = rng.integers(0, 4, size=len(ids))
    forms = ("Movie {id} ({year})", "Movie {id}, The ({year})", 'Movie {id} "Redux" ({year})',
             "Café {id} ({year})")
    titles = [forms[s].format(id=i, year=y) for i, y, s in zip(ids, years, style, strict=True)]
    n_genres = rng.integers(1, 4, size=len(ids))
    picks = np.argsort(rng.random((len(ids), len(GENRES))), axis=1)
    genres = ["|".join(GENRES[g] for g in sorted(row[:k])) for row, k in zip(picks, n_genres,
                                                                               strict=True)]
    return pd.DataFrame({"item_id": ids, "title": titles, "genres": genres})


def _check_sizes(n_users: int, n_items: int, n_ratings: int) -> None:
    for name, value in (("n_users", n_users), ("n_items", n_items)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not n_users <= n_ratings <= n_users * n_items:
        raise ValueError(
            f"n_ratings must be between n_users ({n_users}) and n_users * n_items "
            f"({n_users * n_items}) so every user rates at least once without repeats; "
            f"got {n_ratings}"
        )


def _user_counts(n_users: int, n_items: int, n_ratings: int, rng: np.random.Generator
                 ) -> np.ndarray:
    """int64 ratings per user: 1 each plus a lognormal-weighted share, capped at n_items."""
    weights = rng.lognormal(0.0, _USER_SIGMA, size=n_users)
    counts = 1 + rng.multinomial(n_ratings - n_users, weights / weights.sum())
    # Users over the cap give their excess to users with room, in proportion to weight.
    while (excess := int(np.maximum(counts - n_items, 0).sum())) > 0:
        counts = np.minimum(counts, n_items)
        open_weights = np.where(counts < n_items, weights, 0.0)
        counts += rng.multinomial(excess, open_weights / open_weights.sum())
    return counts


def _sample_pairs(counts: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sorted int64 keys user * n_items + item: counts[u] distinct items per user, drawn
    with probabilities p without replacement."""
    n_items = len(p)

    def draw(size: int) -> np.ndarray:
        # i.i.d. items from p: counts per item, spread in random order (no binary search).
        items = np.repeat(np.arange(n_items, dtype=np.int64), rng.multinomial(size, p))
        return rng.permutation(items)

    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    keys = np.repeat(np.arange(len(counts), dtype=np.int64) * n_items, counts) + draw(
        int(counts.sum())
    )
    keys.sort()
    active = np.arange(len(keys))
    # Keys stay sorted, so each user's rows keep their range and repeats are neighbours.
    # Redraw repeats, each round looking only at the ranges of users that had some.
    for round_ in range(_RESAMPLE_ROUNDS):
        sub = keys if round_ == 0 else keys[active]
        repeats = active[np.flatnonzero(sub[1:] == sub[:-1]) + 1]
        if len(repeats) == 0:
            return keys
        keys[repeats] = keys[repeats] // n_items * n_items + draw(len(repeats))
        bad = np.unique(keys[repeats] // n_items)
        active = _ranges(starts[bad], counts[bad])
        keys[active] = np.sort(keys[active])
    _fill_repeats(keys, active, p, rng)
    keys.sort()
    return keys


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for each (s, n), without a Python loop."""
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(int(lengths.sum()))


def _fill_repeats(keys: np.ndarray, active: np.ndarray, p: np.ndarray,
                  rng: np.random.Generator) -> None:
    """Replace the repeated keys among the sorted `active` rows by items their user does
    not hold yet, drawn without replacement with probabilities p (exponential keys over
    dense blocks of users x items)."""
    n_items = len(p)
    sub = keys[active]
    is_repeat = np.concatenate(([False], sub[1:] == sub[:-1]))
    users = sub // n_items
    repeat_at = np.flatnonzero(is_repeat)
    bad, first, need = np.unique(users[repeat_at], return_index=True, return_counts=True)
    logger.debug("dense sampling for %d users with %d repeats", len(bad), len(repeat_at))
    held = ~is_repeat & np.isin(users, bad)
    held_users, held_items = users[held], sub[held] % n_items
    block = max(1, _DENSE_CELLS // n_items)
    for lo in range(0, len(bad), block):
        block_users, block_need = bad[lo:lo + block], need[lo:lo + block]
        sample_keys = rng.exponential(size=(len(block_users), n_items)) / p
        in_block = (held_users >= block_users[0]) & (held_users <= block_users[-1])
        rows = np.searchsorted(block_users, held_users[in_block])
        sample_keys[rows, held_items[in_block]] = np.inf
        # The k smallest keys per user, in order; a user takes its first `need`.
        k = int(block_need.max())
        part = np.argpartition(sample_keys, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(sample_keys, part, axis=1), axis=1)
        chosen = np.take_along_axis(part, order, axis=1)[np.arange(k) < block_need[:, None]]
        targets = repeat_at[_ranges(first[lo:lo + block], block_need)]
        sub[targets] = block_users.repeat(block_need) * n_items + chosen
    keys[active] = sub


def _ratings(users: np.ndarray, items: np.ndarray, n_users: int, popularity: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """float32 half-star ratings from biases, a low-rank term and noise."""
    n_items = len(popularity)
    log_pop = np.log(popularity)
    # Popular items are rated a little higher, as in MovieLens.
    item_bias = (rng.normal(0.0, _ITEM_BIAS_SD, n_items)
                 + 0.1 * (log_pop - log_pop.mean()) / _ITEM_SIGMA).astype(np.float32)
    user_bias = rng.normal(0.0, _USER_BIAS_SD, n_users).astype(np.float32)
    user_factors = rng.normal(0.0, _FACTOR_SD, (n_users, _RANK)).astype(np.float32)
    item_factors = rng.normal(0.0, _FACTOR_SD, (n_items, _RANK)).astype(np.float32)
    steps = np.where(rng.random(n_users) < _HALF_STAR_USERS, 2.0, 1.0).astype(np.float32)
    out = np.empty(len(users), dtype=np.float32)
    for lo in range(0, len(users), _CHUNK_ROWS):
        u, i = users[lo:lo + _CHUNK_ROWS], items[lo:lo + _CHUNK_ROWS]
        latent = (np.float32(_GLOBAL_MEAN) + user_bias[u] + item_bias[i]
                  + np.einsum("ij,ij->i", user_factors[u], item_factors[i])
                  + np.float32(_NOISE_SD) * rng.standard_normal(len(u), dtype=np.float32)
                  - np.float32(_DISLIKE_SCALE)
                  * (rng.standard_exponential(len(u), dtype=np.float32) - np.float32(1.0)))
        step = steps[u]
        out[lo:lo + _CHUNK_ROWS] = np.clip(np.round(latent * step) / step, 1.0 / step, 5.0)
    return out


def _timestamps(users: np.ndarray, n_users: int, rng: np.random.Generator) -> np.ndarray:
    """int32 unix seconds: each user rates within an exponential-length period."""
    low, high = TIME_RANGE
    start = rng.integers(low, high, size=n_users, endpoint=True)
    span = np.minimum(rng.exponential(_MEAN_SPAN_S, size=n_users), high - start)
    out = np.empty(len(users), dtype=np.int32)
    for lo in range(0, len(users), _CHUNK_ROWS):
        u = users[lo:lo + _CHUNK_ROWS]
        out[lo:lo + _CHUNK_ROWS] = start[u] + (rng.random(len(u)) * span[u]).astype(np.int64)
    return out
