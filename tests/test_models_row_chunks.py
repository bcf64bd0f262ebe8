"""Row-chunked work: dense products and top-k selection give what one pass over all the
rows gives, whatever the chunks and threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_lib.models import row_chunks
from recsys_lib.models.row_chunks import dense_product, map_row_chunks
from recsys_lib.models.scoring import top_k_numpy


def _sparse(n_rows: int, n_columns: int, density: float, seed: int) -> sp.csr_matrix:
    matrix = sp.random(n_rows, n_columns, density, format="csr", random_state=seed)
    return matrix.astype(np.float32)


@pytest.mark.parametrize("chunk_cells", [7, 400, 10**9])  # many chunks, a few, one
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_dense_product_is_the_densified_product(chunk_cells: int, n_jobs: int,
                                                monkeypatch) -> None:
    monkeypatch.setattr(row_chunks, "CHUNK_CELLS", chunk_cells)
    left = _sparse(37, 23, 0.2, seed=1)
    for right in (_sparse(23, 19, 0.3, seed=2), _sparse(23, 19, 0.3, seed=2).toarray()):
        got = dense_product(left, right, n_jobs=n_jobs)
        assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == (37, 19)
        expected = left @ right
        expected = expected.toarray() if sp.issparse(expected) else expected
        np.testing.assert_array_equal(got, expected)
    # a CSC left operand is taken as CSR
    np.testing.assert_array_equal(dense_product(left.tocsc(), right, n_jobs=n_jobs),
                                  (left @ right))
    # a float64 operand: its product is written into the float32 result, not refused
    wide = _sparse(23, 19, 0.3, seed=3).astype(np.float64)
    np.testing.assert_allclose(dense_product(left, wide, n_jobs=n_jobs),
                               (left @ wide).toarray(), rtol=1e-6)


def test_dense_product_of_no_rows_is_empty() -> None:
    assert dense_product(_sparse(0, 5, 0.5, seed=1), _sparse(5, 4, 0.5, seed=2)).shape == (0, 4)


def test_map_row_chunks_covers_the_rows_in_order_in_bounded_chunks(monkeypatch) -> None:
    monkeypatch.setattr(row_chunks, "CHUNK_CELLS", 30)
    threads = set()

    def rows(chunk: slice) -> range:
        threads.add(threading.get_ident())
        return range(chunk.start, chunk.stop)

    parts = map_row_chunks(rows, 23, 10, n_jobs=2)  # 3 rows of 10 columns per chunk
    assert [len(part) for part in parts] == [3] * 7 + [2]
    assert [row for part in parts for row in part] == list(range(23))
    assert threading.get_ident() not in threads  # worked on the pool's threads
    assert map_row_chunks(rows, 0, 10) == [range(0, 0)]
    single = map_row_chunks(lambda chunk: threading.get_ident(), 23, 10, n_jobs=1)
    assert set(single) == {threading.get_ident()}  # one job: in the caller's thread


def test_top_k_by_chunks_picks_what_one_pass_picks(monkeypatch) -> None:
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 5, (41, 30)).astype(np.float32)  # many ties
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[3] = -np.inf  # a row with nothing to recommend
    whole = top_k_numpy(scores, 7)
    monkeypatch.setattr(row_chunks, "CHUNK_CELLS", 60)  # chunks of 2 rows
    chunked = top_k_numpy(scores, 7)
    for got, expected in zip(chunked, whole, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert (whole[0][3] == -1).all()
    # ties go to the lower column: row 0's picks among equal scores are in column order
    best = whole[0][0]
    for value in np.unique(whole[1][0][np.isfinite(whole[1][0])]):
        tied = best[whole[1][0] == value]
        assert (np.diff(tied) > 0).all()
