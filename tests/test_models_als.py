"""ALS: confidence weights, implicit's settings, and beating popularity on clustered data."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys_lib.data.interactions import Interactions
from recsys_lib.evaluation import evaluate_ranking
from recsys_lib.models import ALS, Popularity
from recsys_lib.models.als import confidence_matrix


def _clustered_ratings(seed: int = 0) -> pd.DataFrame:
    """300 users in 4 taste groups of unequal size, each rating 12 items, 90% from the
    group's own 20 items: popularity favours the largest group, ALS can learn the groups."""
    rng = np.random.default_rng(seed)
    group_of_user = rng.choice(4, size=300, p=[0.4, 0.3, 0.2, 0.1])
    rows = []
    for user, group in enumerate(group_of_user):
        own = rng.choice(20, size=11, replace=False) + 20 * group
        other = rng.choice(np.setdiff1d(np.arange(80), own), size=1)
        for item in np.concatenate([own, other]):
            rows.append((user + 1, item + 1, float(rng.integers(6, 11) / 2)))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).astype(
        {"user_id": np.int32, "item_id": np.int32, "rating": np.float32}
    )


def test_confidence_is_one_plus_alpha_times_rating() -> None:
    ratings = sp.csr_matrix(np.array([[5.0, 0, 2.0], [0, 3.5, 0]], dtype=np.float32))
    confidence = confidence_matrix(ratings, alpha=0.5)
    np.testing.assert_allclose(confidence.toarray(), [[3.5, 0, 2.0], [0, 2.75, 0]])
    assert confidence.dtype == np.float32 and confidence.indices.dtype == np.int32
    positives = confidence_matrix(ratings, alpha=0.5, min_rating=3.0)
    np.testing.assert_allclose(positives.toarray(), [[3.5, 0, 0], [0, 2.75, 0]])
    with pytest.raises(ValueError, match="alpha"):
        confidence_matrix(ratings, alpha=-1.0)


def test_fit_is_quiet_and_keeps_float32_factors(capfd: pytest.CaptureFixture) -> None:
    train = Interactions.from_ratings(_clustered_ratings())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # implicit warns when BLAS runs several threads
        model = ALS(factors=8, iterations=3).fit(train)
    assert capfd.readouterr().err == ""  # implicit's own bar never; ours only when slow
    assert model.user_factors_.shape == (300, 8) and model.item_factors_.shape == (80, 8)
    assert model.user_factors_.dtype == model.item_factors_.dtype == np.float32


def test_a_slow_fit_shows_one_progress_line_of_its_iterations(monkeypatch, capfd) -> None:
    import recsys_lib.progress as progress

    monkeypatch.setenv("RECSYS_PROGRESS", "lines")
    monkeypatch.setattr(progress, "PROGRESS_DELAY_S", 0.0)
    train = Interactions.from_ratings(_clustered_ratings())
    shown = ALS(factors=8, iterations=3).fit(train)
    assert re.fullmatch(r"ALS fit: 3/3 iterations in \d+\.\d s\n", capfd.readouterr().err)
    quiet = ALS(factors=8, iterations=3, show_progress=False).fit(train)
    assert capfd.readouterr().err == ""
    np.testing.assert_array_equal(shown.item_factors_, quiet.item_factors_)


def test_cuda_without_implicit_gpu_falls_back_to_cpu(caplog: pytest.LogCaptureFixture) -> None:
    import implicit.gpu

    if implicit.gpu.HAS_CUDA:
        pytest.skip("implicit has CUDA here")
    train = Interactions.from_ratings(_clustered_ratings())
    model = ALS(factors=4, iterations=1, device="cuda").fit(train)
    assert "without CUDA" in caplog.text
    assert model.user_factors_.shape == (300, 4)


def test_als_beats_popularity_on_held_out_ratings() -> None:
    ratings = _clustered_ratings()
    test_rows = np.random.default_rng(1).random(len(ratings)) < 0.25
    train = Interactions.from_ratings(ratings[~test_rows])
    test = ratings[test_rows]
    als = evaluate_ranking(ALS(factors=8, iterations=5).fit(train), train, test, k=5)
    popularity = evaluate_ranking(Popularity().fit(train), train, test, k=5)
    assert als["ndcg@5"] > popularity["ndcg@5"] + 0.1
    assert als["precision@5"] > popularity["precision@5"] + 0.1
