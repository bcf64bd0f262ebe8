"""Item-item k-nearest neighbours on baseline residuals (Koren 2010; Surprise's KNNBaseline).

The similarity of items i and j is the correlation of their baseline residuals over the
users who rated both ("pearson_baseline"), shrunk by that co-rating support:
`s_ij = corr_ij * n_ij / (n_ij + shrinkage)`. A rating prediction is the baseline plus the
similarity-weighted residuals of the `n_neighbors` items most similar to i among those
the user rated. Where few users co-rate, similarities are small and predictions stay at
the baseline, so sparse samples do not trust one co-rater.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys_lib.data.interactions import Interactions
from recsys_lib.environment import available_cores
from recsys_lib.memory import release_freed_heap, sparse_matrix_bytes
from recsys_lib.models.base import Recommender, fit_estimate
from recsys_lib.models.baseline import BiasBaseline, Biases, row_spans, user_rows_of
from recsys_lib.models.row_chunks import dense_product
from recsys_lib.models.scoring import descending_by_row
from recsys_lib.progress import work_progress

__all__ = [
    "ItemKNN", "UserKNN", "capped_rows", "item_neighbors", "positive_top_k", "rater_block_size",
]

logger = logging.getLogger(__name__)

#: Per worker: one block's dense work. Blocks that fill it stay nearer the cache: with 24
#: instead of 64 MB, ItemKNN's fits on the embedded data (62 instead of 154 items a block)
#: took 0.65 vs 0.80-0.86 s from a process's second fit on and 0.96 vs 0.91 s for its
#: first (fresh processes, both orders), at 166 instead of 200 MB peak RSS; 6.8 vs
#: 8.9-9.2 s on a 400,000-rating sample of MovieLens 25M's shape with 35,035 items (the
#: blend's inner fit there). 16 and 32 MB were as fast, 8 MB slower. MovieLens 25M itself
#: (4 items a block) is set by `_RATER_BLOCK_RATINGS`.
BLOCK_BUDGET_BYTES = 24 * 2**20
# per block cell (float32): the four sums, a slice's four terms being added to them, the
# shrinkage factor, the similarities' C-ordered copy and positive_top_k's masks
_BYTES_PER_CELL = 44
# per rater and block item: the dense users x block operands (ratings, residuals, squares)
_BYTES_PER_RATER_CELL = 12
# The ratings of a block's raters, summed over its items, that set its width: their rows
# are multiplied with every column of the block, so wider blocks waste work on the raters
# of other items, narrower ones repeat the per-block work over all items (MovieLens 25M's
# shape: 4 items per block; the embedded data's users, UserKNN: about 80).
_RATER_BLOCK_RATINGS = 500_000
# The most ratings of those rows taken at once: 16 bytes each (index, residual, one, square).
_SLICE_RATINGS = 2_000_000
_BYTES_PER_SLICE_RATING = 16
_CHUNK_NNZ = 2_000_000  # gathered candidate entries per prediction chunk
_SELECTION_SAMPLE = 2_048  # about this many columns of a row set positive_top_k's threshold
_SELECTION_SURPLUS = 3  # entries the threshold lets through per entry kept, expected


def rater_block_size(n_users: int, n_items: int, squared_ratings: float) -> int:
    """Items per similarity block: about `_RATER_BLOCK_RATINGS` ratings of the raters of
    a block's items (an item's raters hold `squared_ratings / n_items` of them on
    average, `squared_ratings` being the sum over users of their ratings squared), within
    the `BLOCK_BUDGET_BYTES` per-worker budget of the block's dense work."""
    per_item = _BYTES_PER_CELL * n_items + _BYTES_PER_RATER_CELL * n_users
    mean_raters_ratings = max(squared_ratings / max(n_items, 1), 1.0)
    width = round(_RATER_BLOCK_RATINGS / mean_raters_ratings)
    return int(max(1, min(width, BLOCK_BUDGET_BYTES // per_item, n_items)))


def item_neighbors(
    residuals: sp.csr_matrix,
    n_neighbors: int,
    *,
    shrinkage: float = 100.0,
    min_support: int = 1,
    block_size: int | None = None,
    n_jobs: int | None = None,
    progress: str | None = None,
) -> sp.csr_matrix:
    """Top-`n_neighbors` shrunk residual correlations of every item, without an items x
    items matrix.

    For items i and j with co-raters U (users with a stored entry in both columns),
    `corr = sum_U e_ui e_uj / sqrt(sum_U e_ui^2 * sum_U e_uj^2)` and the similarity is
    `corr * n / (n + shrinkage)` with n = |U|, or 0 when n < `min_support`. Each block of
    `block_size` items is computed against all items at once, (block_size, n_items), and
    only each row's `n_neighbors` largest positive similarities are kept (ties to the
    lower item index; an item is never its own neighbour). The sums come from products
    of the rows of the users who rated one of the block's items with dense operands of
    the block's own ratings (`_rater_products`).

    Args:
        residuals: float32 users x items CSR; its stored entries are the ratings and its
            values the residuals `e_ui` (a stored zero still counts as a rating).
        n_neighbors: neighbours kept per item.
        shrinkage: co-rating support at which a correlation is halved, >= 0.
        min_support: fewest co-raters for a similarity to count, >= 1.
        block_size: items per block; None sizes blocks to the work per item
            (`rater_block_size`).
        n_jobs: threads working on blocks at once (scipy's products release the GIL);
            None uses every available core.
        progress: the description of a progress bar over the blocks (`progress_bar`:
            shown once the work has taken `PROGRESS_DELAY_S`); None: no bar.

    Returns:
        float32 CSR of shape (n_items, n_items): row i holds item i's neighbours j with
        their similarity. The result does not depend on `n_jobs`, nor on `block_size`
        except for float32 rounding where a block's raters hold more than
        `_SLICE_RATINGS` ratings (their rows are then summed in slices).
    """
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be at least 1, got {n_neighbors}")
    if block_size is not None and block_size < 1:
        raise ValueError(f"block_size must be at least 1 or None, got {block_size}")
    n_items = residuals.shape[1]
    k = min(n_neighbors, n_items - 1)
    if k < 1 or residuals.nnz == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    n_jobs = available_cores() if n_jobs is None else max(1, n_jobs)
    values = np.asarray(residuals.data, dtype=np.float32)  # the residuals' own, read only
    errors = sp.csr_matrix((values, residuals.indices, residuals.indptr), shape=residuals.shape)
    errors_t = errors.T.tocsr()  # items x users: each item's raters and their residuals
    if block_size is None:
        lengths = np.diff(errors.indptr).astype(np.float64)
        block_size = rater_block_size(*errors.shape, float(lengths @ lengths))
    shrinkage = np.float32(shrinkage)

    def block(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The block's neighbours per item, their columns and similarities (by item)."""
        stop = min(start + block_size, n_items)
        support, other_squares, norms, rows = _rater_products(errors, errors_t, start, stop)
        if min_support > 1:
            support[support < min_support] = 0
        # the shrinkage factor n / (n + shrinkage), in place (0 where nobody co-rated)
        shrunk = support + shrinkage if shrinkage > 0 else np.maximum(support, 1)
        support /= shrunk
        del shrunk
        norms *= other_squares
        del other_squares
        np.sqrt(norms, out=norms)
        norms[norms == 0] = np.inf  # no co-rated residual: similarity 0
        rows /= norms
        del norms
        rows *= support
        del support
        rows[np.arange(stop - start), np.arange(start, stop)] = 0  # not itself
        items, neighbours, similarities = positive_top_k(np.ascontiguousarray(rows), k)
        return np.bincount(items, minlength=stop - start), neighbours, similarities

    starts = range(0, n_items, block_size)
    logger.debug("item similarity: %d blocks of %d items on %d threads",
                 len(starts), block_size, n_jobs)
    with ThreadPoolExecutor(max_workers=n_jobs) as pool, work_progress(
        len(starts), progress, "blocks"
    ) as bar:
        parts = []
        for part in pool.map(block, starts):
            parts.append(part)
            bar.update(1)
    release_freed_heap()  # what the blocks' work left in the threads' heaps
    # the rows come by block and item, in order: CSR straight away, not through COO
    counts, columns, similarities = (np.concatenate([part[i] for part in parts]) for i in range(3))
    del parts
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indptr = indptr.astype(np.int32 if indptr[-1] < 2**31 else np.int64)
    neighbors = sp.csr_matrix((similarities, columns.astype(indptr.dtype, copy=False), indptr),
                              shape=(n_items, n_items))
    neighbors.sort_indices()
    return neighbors


def _rater_products(
    errors: sp.csr_matrix, errors_t: sp.csr_matrix, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sums over the co-raters U of items i in `start:stop` and every item j, each float32
    (stop - start, n_items): the support |U|, `sum_U e_uj^2`, `sum_U e_ui^2` and
    `sum_U e_ui e_uj` (transposed views of C-ordered arrays).

    Only the users who rated one of the block's items take part: the items x users
    transpose of their rows times dense users x block operands built from the block's own
    ratings (four products, one pass over those rows each, written dense). Their rows
    are taken in slices of at most about `_SLICE_RATINGS` ratings, which bounds the
    memory; the sums of a block that needs several slices add the slices' sums, so they
    round differently than in one pass. Against the sparse x sparse products of the
    block with every rating, densified, that this replaced: on MovieLens 25M's shape
    (57,632 items, 18.8M ratings after `similarity_cap`) 69-71 vs 101-102 s for ItemKNN's
    similarities on 2 cores, a peak of 0.81-0.83 instead of 1.19-1.22 GB (no ratings,
    squares or transposes of them held), the same neighbours; on a 500,000-rating sample
    of it with all 57,632 items, where the dense per-block work dominates, 29 vs 26 s. On
    the embedded data it is faster and leaner than dense users x items operands (ItemKNN
    0.85 vs 0.96 s, 51 vs 161 MB traced; UserKNN 0.04-0.05 s against the sparse x sparse
    products' 0.08 s).
    """
    n_users, n_items = errors.shape
    width = stop - start
    lo, hi = errors_t.indptr[start], errors_t.indptr[stop]
    raters = errors_t.indices[lo:hi]
    item = np.repeat(np.arange(width), np.diff(errors_t.indptr[start:stop + 1]))
    seen = np.zeros(n_users, dtype=bool)
    seen[raters] = True
    users = np.flatnonzero(seen)
    row = (np.cumsum(seen, dtype=np.int32) - 1)[raters]  # each rating's row among users
    del seen
    # the block's ratings, residuals and squared residuals, users x block
    operands = np.zeros((3, len(users), width), dtype=np.float32)
    operands[0, row, item] = 1
    operands[1, row, item] = errors_t.data[lo:hi]
    operands[2, row, item] = np.square(errors_t.data[lo:hi])
    block_rated, block_errors, block_squares = operands
    del row, item
    ratings = errors.indptr[users + 1] - errors.indptr[users]
    sums = None
    for first, last in row_spans(ratings, _SLICE_RATINGS):
        part = errors[users[first:last]]
        # the items x users transposes of the slice: CSC on the slice's own arrays
        pattern, shape = (part.indices, part.indptr), (n_items, last - first)
        part_t = sp.csc_matrix((part.data, *pattern), shape=shape)
        rated_t = sp.csc_matrix((np.ones_like(part.data), *pattern), shape=shape)
        squares_t = sp.csc_matrix((part.data * part.data, *pattern), shape=shape)
        del part
        # items x block each, C-ordered alike (numpy is slow on arrays of mixed order)
        terms = (rated_t @ block_rated[first:last], squares_t @ block_rated[first:last],
                 rated_t @ block_squares[first:last], part_t @ block_errors[first:last])
        del part_t, rated_t, squares_t
        if sums is None:
            sums = terms
        else:
            for total, term in zip(sums, terms, strict=True):
                total += term
    return tuple(total.T for total in sums)


def positive_top_k(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's `k` largest positive entries, ties to the lower column (as `top_k_numpy`
    picks them), without selecting among every column: a row's entries at or above a
    threshold that at least `k` of them reach hold its `k` best, ties included, so only
    those are sorted. The threshold is the value a strided sample of the row's columns
    puts about `_SELECTION_SURPLUS` x `k` entries above (0: every positive); a row with
    fewer than `k` entries there sorts all its positives instead. One 32 x 57,632 block of
    MovieLens 25M's shape takes about a tenth of the time of a full selection (4 vs 38 ms).

    Args:
        rows: float32 (n_rows, n_columns) block.
        k: entries kept per row, >= 1.

    Returns:
        int32 rows, int32 columns and float32 values of the kept entries.
    """
    n_rows, n_columns = rows.shape
    stride = max(1, n_columns // _SELECTION_SAMPLE)
    sample = rows[:, ::stride]
    rank = -(-_SELECTION_SURPLUS * k * sample.shape[1] // n_columns)  # ceiling
    smallest_positive = np.nextafter(np.float32(0), np.float32(1))
    threshold = np.full(n_rows, smallest_positive, dtype=np.float32)
    if rank <= sample.shape[1]:
        kth = -np.partition(-sample, rank - 1, axis=1)[:, rank - 1]
        np.maximum(threshold, kth, out=threshold)
    kept = rows >= threshold[:, None]
    # flat positions, by row then column (np.nonzero on 2-d is several times slower)
    positions = np.flatnonzero(kept)
    counts = np.bincount(positions // n_columns, minlength=n_rows)
    short = np.flatnonzero((counts < k) & (threshold > smallest_positive))
    if len(short):  # the sample set the bar too high: all of these rows' positives
        kept[short] = rows[short] > 0
        positions = np.flatnonzero(kept)
        counts = np.bincount(positions // n_columns, minlength=n_rows)
    del kept
    found, columns = np.divmod(positions, n_columns)
    values = rows.reshape(-1)[positions]
    chosen = _best_per_row(found, values, np.cumsum(counts) - counts, k)
    return found[chosen].astype(np.int32), columns[chosen].astype(np.int32), values[chosen]


def _best_per_row(
    rows: np.ndarray, values: np.ndarray, row_starts: np.ndarray, k: int
) -> np.ndarray:
    """Positions of each row's `k` largest float32 `values` among entries ordered by row,
    then column (equal values keep the lower column first); `row_starts[r]` is the
    position of row r's first entry."""
    order = descending_by_row(rows, values)
    return order[np.arange(len(order)) - row_starts[rows[order]] < k]


def capped_rows(matrix: sp.csr_matrix, cap: int, seed: int = 0) -> sp.csr_matrix:
    """`matrix` with at most `cap` stored entries per row: of a longer row a seeded random
    `cap` of them (in their order), the other rows as they are (the same object when no
    row is longer)."""
    counts = np.diff(matrix.indptr)
    long_rows = np.flatnonzero(counts > cap)
    if len(long_rows) == 0:
        return matrix
    keep = np.ones(matrix.nnz, dtype=bool)
    rng = np.random.default_rng(seed)
    for row in long_rows:
        start, length = matrix.indptr[row], counts[row]
        keep[start + rng.choice(length, length - cap, replace=False)] = False
    indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, cap))]).astype(matrix.indptr.dtype)
    capped = sp.csr_matrix((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)
    capped.has_sorted_indices = matrix.has_sorted_indices
    return capped


class ItemKNN(Recommender):
    """Item-item KNN on baseline residuals: never much worse than its baseline.

    `r_ui = b_ui + sum_j w_ij (r_uj - b_uj) / (sum_j w_ij + damping)`, `w_ij = sign(s_ij)
    |s_ij|^amplification`, over the
    `n_neighbors` items j most similar to i (largest s_ij, ties to the lower index) among
    those user u rated, chosen from item i's `n_candidates` stored neighbours; `s_ij` is
    the residual correlation shrunk by co-rating support (`item_neighbors`). With little
    evidence (few co-raters, hence small similarities) the `damping` term keeps the
    prediction at the baseline `b_ui` (a `Biases` fit with its default regularisation).
    Ranking scores are `user_items @ similarity`: each item's similarity-weighted sum of
    the user's ratings.

    The defaults come from `benchmarks/knn_sweep.py`: RMSE minus BiasBaseline's on a
    seeded 80/20 random split of the embedded ml-latest-small (full), uniform 30,000- and
    50,000-rating samples of it (seeds 1-3) and a 60,000-rating synthetic set. Of the 16
    settings of a first sweep (k 15/40, shrinkage 25/100, min_support 1/3, damping
    0.3/1.0, no amplification) none lost to the baseline anywhere; k 40, shrinkage 100,
    min_support 1 was best. Case amplification with a smaller damping (a second sweep:
    amplification 1-2.5, damping 0.02-0.3 on it) brings the full-data RMSE under 0.840
    at both k while never losing to the baseline, at a slightly smaller mean gain on the
    samples (30k: -0.005 to -0.007 instead of -0.008 to -0.011):

        k  damping amplification   mean    worst   full RMSE (baseline 0.8717)
        40   0.02       2.0       -0.0160  -0.0051  0.8386   <- defaults
        15   0.02       2.0       -0.0156  -0.0050  0.8392   (the notebook's k)
        40   0.045      1.75      -0.0163  -0.0054  0.8397
        40   0.06       1.5       -0.0175  -0.0072  0.8410
        40   0.3        1.0       -0.0173  -0.0077  0.8441   (before amplification)
        15   0.3        1.0       -0.0171  -0.0078  0.8440

    (The sweeps ran before `similarity_cap`; with it the defaults give 0.8391 and 0.8398.
    Surprise's KNNBaseline, pearson_baseline, k=40, shrinkage 100: 0.8496 on the full
    set's seed-42 split, as measured in issue 11; `benchmarks/peers.py` reruns it.)

    Args:
        n_neighbors: rated neighbours used per prediction (k).
        shrinkage: co-rating support at which a similarity is halved.
        min_support: fewest co-raters for a similarity to count.
        damping: added to the neighbours' similarity sum in the prediction's denominator
            (similarity units); larger keeps predictions nearer the baseline.
        amplification: the prediction weighs neighbour j by sign(s_ij) |s_ij|^p
            (Breese et al.'s case amplification; 1: by s_ij), so close neighbours count
            more; the damping is in those weights' units. Ranking scores do not use it.
        n_candidates: neighbours stored per item, the pool the rated ones are drawn from
            (memory: 8 bytes per item and candidate); at least `n_neighbors`.
        similarity_cap: most ratings of one user (UserKNN: of one item) the similarities
            are computed from; of a user with more, a seeded random `similarity_cap` of
            them (Linden et al. 2003's sampling of heavy customers). Predictions still use
            every rating. The similarity work is the sum over users of their ratings
            squared, so the heaviest users dominate it: at MovieLens 25M's shape 1,000
            keeps 92% of the ratings and 53% of those multiply-adds: the similarities
            take 71 s instead of 124 s (2 cores), and RMSE is 0.8179 instead of 0.8191.
            On the embedded data (12 users above it) the full set's RMSE moves 0.8386 ->
            0.8391 and its NDCG@10 0.2222 -> 0.2272; the 30k/50k samples have (almost)
            nobody above it.
            None: no cap.
        block_size: items per similarity block (None: `item_neighbors` sizes them).
        n_jobs: threads computing similarity blocks and ranking scores (None: every
            available core).
        show_progress: a progress bar over the similarity blocks (`progress_bar`'s
            mode) once they have taken `PROGRESS_DELAY_S`: quick fits show none.
    """

    #: What the rows and columns of `neighbors_` are: "items" (ItemKNN) or "users".
    neighbors_of = "items"

    def __init__(
        self,
        n_neighbors: int = 40,
        shrinkage: float = 100.0,
        min_support: int = 1,
        damping: float = 0.02,
        amplification: float = 2.0,
        n_candidates: int = 200,
        similarity_cap: int | None = 1_000,
        block_size: int | None = None,
        n_jobs: int | None = None,
        show_progress: bool = True,
    ) -> None:
        super().__init__()
        if n_neighbors < 1:
            raise ValueError(f"n_neighbors must be at least 1, got {n_neighbors}")
        if shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
        if min_support < 1:
            raise ValueError(f"min_support must be at least 1, got {min_support}")
        if damping < 0:
            raise ValueError(f"damping must be >= 0, got {damping}")
        if amplification <= 0:
            raise ValueError(f"amplification must be > 0, got {amplification}")
        if n_candidates < n_neighbors:
            raise ValueError(
                f"n_candidates must be >= n_neighbors ({n_neighbors}), got {n_candidates}"
            )
        if similarity_cap is not None and similarity_cap < 1:
            raise ValueError(f"similarity_cap must be at least 1 or None, got {similarity_cap}")
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage
        self.amplification = amplification
        self.min_support = min_support
        self.damping = damping
        self.n_candidates = n_candidates
        self.similarity_cap = similarity_cap
        self.block_size = block_size
        self.n_jobs = n_jobs
        self.show_progress = show_progress
        self.biases_: Biases | None = None
        self.neighbors_: sp.csr_matrix | None = None
        self._rows_ratings: sp.csr_matrix | None = None
        self._similarity_t: sp.csr_matrix | None = None

    def _fit(self, train: Interactions) -> None:
        self.biases_ = Biases.fit(train.user_items)
        self._rows_ratings = self._similarity_t = None
        residuals = self._residual_rows()
        if self.similarity_cap is not None:
            residuals = capped_rows(residuals, self.similarity_cap)
        self.neighbors_ = item_neighbors(
            residuals,
            self.n_candidates,
            shrinkage=self.shrinkage,
            min_support=self.min_support,
            block_size=self.block_size,
            n_jobs=self.n_jobs,
            progress=f"{type(self).__name__} similarities" if self.show_progress else None,
        )

    def _ratings_by_row(self) -> sp.csr_matrix:
        """The training ratings with the residual matrix's rows first, its columns being
        what `neighbors_` relates: users x items (UserKNN: items x users)."""
        return self.train_.user_items

    def _residual_rows(self, rows: np.ndarray | None = None) -> sp.csr_matrix:
        """float32 residuals `r_ui - b_ui` of `rows` of `_ratings_by_row()` (None: all of
        them), CSR on their pattern: built when needed rather than held (at MovieLens
        25M's size 160 MB)."""
        ratings = self._ratings_by_row()
        if rows is not None:
            ratings = ratings[rows]
        residuals = self.biases_.residuals(ratings, rows, by_item=self.neighbors_of == "users")
        residuals.sort_indices()
        return residuals

    def _predict(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        ratings = self.biases_.predict(user_rows, item_cols)
        known = np.flatnonzero((user_rows >= 0) & (item_cols >= 0))
        if len(known) == 0:
            return self.biases_.clip(ratings)
        # rows of the residual matrix (users here) and the neighbour lists' axis (items)
        rows, targets = self._pair_axes(user_rows[known], item_cols[known])
        # Chunks of pairs whose rows hold about _CHUNK_NNZ ratings in all bound memory.
        gathered = np.cumsum(np.diff(self._ratings_by_row().indptr)[rows])
        for chunk in np.split(np.arange(len(known)),
                              np.flatnonzero(np.diff(gathered // _CHUNK_NNZ)) + 1):
            ratings[known[chunk]] += self._neighbour_term(rows[chunk], targets[chunk])
        return self.biases_.clip(ratings)

    def _pair_axes(
        self, user_rows: np.ndarray, item_cols: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows of the residual matrix, rows of the neighbour lists) of each pair."""
        return user_rows, item_cols

    def _neighbour_term(self, user_rows: np.ndarray, item_cols: np.ndarray) -> np.ndarray:
        """sum s e / (sum s + damping) over each pair's top rated neighbours, float32
        (for UserKNN the roles swap: rows are items, neighbours users)."""
        # a row's residuals once however many of the pairs are its (a user's test ratings)
        rows, pair_row = np.unique(user_rows, return_inverse=True)
        residuals = self._residual_rows(rows)
        n_pairs, n_items = len(user_rows), residuals.shape[1]
        pattern = residuals[pair_row]
        rated = sp.csr_matrix(
            (np.ones_like(pattern.data), pattern.indices, pattern.indptr), shape=pattern.shape
        )
        del pattern
        common = sp.csr_matrix(self.neighbors_[item_cols].multiply(rated))
        common.sort_indices()
        pair = user_rows_of(common)
        # each common entry's residual: find (row, item) among the rows' residuals
        keys = user_rows_of(residuals).astype(np.int64) * n_items + residuals.indices
        wanted = pair_row[pair].astype(np.int64) * n_items + common.indices
        errors = residuals.data[np.searchsorted(keys, wanted)]
        chosen = _best_per_row(pair, common.data, common.indptr, self.n_neighbors)
        weights = common.data[chosen].astype(np.float64)
        if self.amplification != 1.0:  # sign(s) |s|^p: closer neighbours count more
            weights = np.sign(weights) * np.abs(weights) ** self.amplification
        # float64 even for a chunk without any rated neighbour (bincount gives int64 then)
        numerator = np.bincount(pair[chosen], weights * errors[chosen], n_pairs).astype(float)
        mass = np.bincount(pair[chosen], weights, n_pairs) + self.damping
        term = np.divide(numerator, mass, out=np.zeros_like(numerator), where=mass > 0)
        return term.astype(np.float32)

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        if self._similarity_t is None:
            self._similarity_t = self.neighbors_.T.tocsr()
        return dense_product(self.train_.user_items[user_rows], self._similarity_t,
                             n_jobs=self.n_jobs)

    def get_params(self) -> dict[str, Any]:
        return {
            "n_neighbors": self.n_neighbors,
            "shrinkage": self.shrinkage,
            "min_support": self.min_support,
            "damping": self.damping,
            "amplification": self.amplification,
            "n_candidates": self.n_candidates,
            "similarity_cap": self.similarity_cap,
            "block_size": self.block_size,
            "n_jobs": self.n_jobs,
            "show_progress": self.show_progress,
        }

    def _get_state(self) -> dict[str, np.ndarray]:
        n = self.neighbors_
        return {
            **self.biases_.state(),
            "neighbor_data": n.data,
            "neighbor_indices": n.indices,
            "neighbor_indptr": n.indptr,
        }

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.biases_ = Biases.from_state(state)
        biases = self.biases_.item if self.neighbors_of == "items" else self.biases_.user
        self.neighbors_ = sp.csr_matrix(
            (state["neighbor_data"], state["neighbor_indices"], state["neighbor_indptr"]),
            shape=(len(biases), len(biases)),
        )
        self._rows_ratings = self._similarity_t = None

    @fit_estimate
    def estimate_fit_bytes(
        cls,
        n_users: int,
        n_items: int,
        nnz: int,
        *,
        n_candidates: int = 200,
        similarity_cap: int | None = 1_000,
        block_size: int | None = None,
        n_jobs: int | None = None,
    ) -> int:
        """Peak of the baseline fit and the similarity phase: the residuals and their
        items x users transpose; the concurrent blocks' work (a slice of the raters'
        rows, the dense users x block operands and `_BYTES_PER_CELL` per block cell); and
        the neighbour lists (collected by block, then joined into one CSR). With a
        `similarity_cap`, a capped copy of the residuals (at most all of them). For
        UserKNN the same with users and items swapped (users x users neighbours)."""
        if cls.neighbors_of == "users":
            n_users, n_items = n_items, n_users
        n_jobs = available_cores() if n_jobs is None else max(1, n_jobs)
        copies = 1 if similarity_cap is None else 2
        residuals = copies * sparse_matrix_bytes((n_users, n_items), nnz)
        transpose = sparse_matrix_bytes((n_items, n_users), nnz)
        if block_size is None:  # users rating alike: the fewest squared ratings, widest blocks
            block_size = rater_block_size(n_users, n_items, nnz * nnz / max(n_users, 1))
        block_size = min(block_size, n_items)
        blocks = n_jobs * (
            _BYTES_PER_SLICE_RATING * min(nnz, _SLICE_RATINGS + n_items)
            + _BYTES_PER_RATER_CELL * block_size * n_users
            + _BYTES_PER_CELL * block_size * n_items
        )
        n_pairs = n_items * min(n_candidates, max(n_items - 1, 0))
        neighbors = 2 * sparse_matrix_bytes((n_items, n_items), n_pairs)
        baseline = BiasBaseline.estimate_fit_bytes(n_users, n_items, nnz)
        return max(baseline, residuals + transpose + blocks + neighbors)


class UserKNN(ItemKNN):
    """User-user KNN on baseline residuals: ItemKNN with the roles of users and items
    swapped (Surprise's KNNBaseline with `user_based=True`).

    `r_ui = b_ui + sum_v w_uv (r_vi - b_vi) / (sum_v w_uv + damping)` over the
    `n_neighbors` users v most similar to u among those who rated i; the similarities are
    the shrunk residual correlations of users over co-rated items (`item_neighbors` on
    the items x users residuals). Its errors differ from ItemKNN's, which is what a blend
    of the two gains from (on the embedded data: ItemKNN 0.8391, UserKNN 0.8492, their
    blend with SVD and the baseline 0.829). Ranking scores are `similarity @
    user_items`: the similarity-weighted sum of the neighbours' ratings of each item.

    The similarity work grows with the sum over items of their raters squared, so at
    MovieLens 25M's 162,541 users it costs far more than ItemKNN: it is a library model
    and a default `Blend` member, not one of the classical notebook's models. The
    defaults are ItemKNN's.
    """

    neighbors_of = "users"

    def _ratings_by_row(self) -> sp.csr_matrix:
        """Items x users, held once built: `_fit` finds each user's neighbours among its
        columns."""
        if self._rows_ratings is None:
            self._rows_ratings = self.train_.user_items.T.tocsr()
            self._rows_ratings.sort_indices()
        return self._rows_ratings

    def _pair_axes(
        self, user_rows: np.ndarray, item_cols: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return item_cols, user_rows

    def _score(self, user_rows: np.ndarray) -> np.ndarray:
        return dense_product(self.neighbors_[user_rows], self.train_.user_items, n_jobs=self.n_jobs)
