"""Blend: no worse than its best member on a held-out split, its formulas, its members."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data import split_ratings, synthetic_ratings
from recsys_lib.data.interactions import Interactions
from recsys_lib.evaluation import evaluate_ranking, evaluate_ratings
from recsys_lib.models import EASE, SVD, BiasBaseline, Blend, ItemKNN, Popularity, Recommender
from recsys_lib.models.blend import candidate_scores, normalised_scores, whole_user_sample
from recsys_lib.models.scoring import mask_seen, top_k_numpy


@pytest.fixture(scope="module")
def split():
    return split_ratings(synthetic_ratings(1_500, 600, 30_000, seed=3), seed=3)


def _members(seed: int = 0) -> dict:
    return {
        "baseline": BiasBaseline(),
        "svd": SVD(n_components=8, seed=seed),
        "knn": ItemKNN(n_neighbors=20),
        "popularity": Popularity(),
    }


def test_blend_rmse_is_at_most_its_best_member_on_a_held_out_split(split) -> None:
    train = Interactions.from_ratings(split.train)
    blend = Blend(_members()).fit(train, seed=1)
    blend_rmse = evaluate_ratings(blend, split.test)["rmse"]
    member_rmse = {name: evaluate_ratings(model, split.test)["rmse"]
                   for name, model in blend.members.items() if model.predicts_ratings}
    assert blend_rmse <= min(member_rmse.values()), (blend_rmse, member_rmse)
    assert set(member_rmse) == {"baseline", "svd", "knn"}  # popularity ranks only
    # the members were refit on all the training data
    assert all(model.train_ is train for model in blend.members.values())


def test_ranking_blend_is_at_least_its_weakest_member_and_weights_are_learned(split) -> None:
    train = Interactions.from_ratings(split.train)
    blend = Blend(_members()).fit(train)
    ndcg = evaluate_ranking(blend, train, split.test)["ndcg@10"]
    members = [evaluate_ranking(m, train, split.test)["ndcg@10"] for m in blend.members.values()]
    assert ndcg >= min(members)
    assert blend.ranking_weights_.shape == (4,) and blend.ranking_weights_.any()
    assert "ranking = (baseline" in blend.describe()


def test_predictions_and_scores_follow_the_learned_weights(split, monkeypatch) -> None:
    train = Interactions.from_ratings(split.train)
    blend = Blend(_members()).fit(train)
    users, items = split.test["user_id"].to_numpy()[:50], split.test["item_id"].to_numpy()[:50]
    rating_members = [blend.members[name] for name in ("baseline", "svd", "knn")]
    expected = blend.intercept_ + sum(
        w * m.predict(users, items) for w, m in zip(blend.rating_weights_, rating_members,
                                                    strict=True)
    )
    expected = np.clip(expected, train.user_items.data.min(), train.user_items.data.max())
    np.testing.assert_allclose(blend.predict(users, items), expected, atol=1e-5)
    rows = np.arange(5)
    scores = sum(w * normalised_scores(m._score(rows))
                 for w, m in zip(blend.ranking_weights_, blend.members.values(), strict=True))
    np.testing.assert_allclose(blend._score(rows), scores, atol=1e-5)
    # scored by chunks of users (here 2 x 2 of them, the cores' chunks), the same scores
    monkeypatch.setattr("recsys_lib.models.blend.available_cores", lambda: 2)
    monkeypatch.setattr("recsys_lib.models.row_chunks.CHUNK_CELLS", 2 * train.n_items)
    np.testing.assert_allclose(blend._score(rows), scores, atol=1e-5)


def test_members_that_rank_alike_for_every_user_are_scored_once(split, monkeypatch) -> None:
    # popularity and item biases: each user's row is the same up to a shift, so standardised
    # it is one row; the blend scores it for one user, whatever the number of users
    train = Interactions.from_ratings(split.train)
    blend = Blend(_members()).fit(train)
    assert [m.same_ranking_for_every_user for m in blend.members.values()] == [
        True, False, False, True]
    scored_rows = []
    popularity = blend.members["popularity"]
    original = popularity._score
    monkeypatch.setattr(popularity, "_score",
                        lambda rows: scored_rows.append(len(rows)) or original(rows))
    rows = np.arange(40)
    for weights in ([1.0, 0.5, 0.25, 2.0], [0.5, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]):
        blend.ranking_weights_ = np.array(weights)
        expected = sum(w * normalised_scores(m._score(rows)) for w, m in
                       zip(blend.ranking_weights_, blend.members.values(), strict=True))
        scored_rows.clear()
        scores = blend._score(rows)
        np.testing.assert_allclose(scores, expected, atol=1e-5)
        assert scores.shape == (40, train.n_items) and scores.dtype == np.float32
        assert scored_rows == ([1] if weights[3] else [])


def test_normalised_scores_standardise_each_row() -> None:
    scores = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]], dtype=np.float32)
    z = normalised_scores(scores)
    np.testing.assert_allclose(z[0], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)], atol=1e-6)
    np.testing.assert_array_equal(z[1], [0.0, 0.0, 0.0])
    assert scores[0, 0] == 1.0  # a new array: the scores are unchanged
    same = normalised_scores(scores, in_place=True)
    assert same is scores and np.array_equal(scores, z)
    ints = np.array([[1, 2, 3]])
    assert normalised_scores(ints, in_place=True) is not ints  # not float32: a copy
    # a long constant row whose float32 mean does not come out exact is still all zeros
    constant = np.full((2, 59_047), 0.1, dtype=np.float32)
    constant[1] = 3.7
    np.testing.assert_array_equal(normalised_scores(constant), 0.0)
    rng = np.random.default_rng(0)
    wide = (rng.standard_normal((3, 59_047)) * 0.3 + 3.5).astype(np.float32)
    z = normalised_scores(wide)
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(z, (wide - wide.mean(axis=1, keepdims=True, dtype=np.float64))
                               / wide.std(axis=1, keepdims=True, dtype=np.float64), atol=1e-4)


def test_a_ranking_only_blend_does_not_predict_ratings(tiny_ratings: pd.DataFrame) -> None:
    blend = Blend({"popularity": Popularity()}).fit(Interactions.from_ratings(tiny_ratings))
    assert not blend.predicts_ratings
    with pytest.raises(TypeError, match="does not predict ratings"):
        blend.predict(np.array([1]), np.array([1]))


def test_default_members_and_specs_round_trip() -> None:
    blend = Blend()
    assert list(blend.members) == ["baseline", "svd", "knn", "user_knn", "ease"]
    again = Blend(**blend.get_params())
    assert again.get_params() == blend.get_params()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({}, "at least one"),
        ({"x": {"class": "NoSuchModel", "params": {}}}, "'NoSuchModel' is not a model"),
        ({"x": {"class": "SVD"}}, "must be a model or"),
        ({"x": {"class": "SVD", "params": {"n_components": 0}}}, "n_components"),
    ],
)
def test_bad_members_are_named(members: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Blend(members)


def test_members_fitted_on_the_same_training_data_are_used_not_refit(split) -> None:
    train = Interactions.from_ratings(split.train)
    members = _members()
    for model in members.values():
        model.fit(train)
    other = Interactions.from_ratings(split.train.iloc[: len(split.train) // 2])
    members["svd"].fit(other)  # fitted, but on other data: the blend refits it on train
    fitted = {name: _fit_count(model) for name, model in members.items()}
    blend = Blend(members).fit(train, seed=1)
    assert all(blend.members[name] is model for name, model in members.items())
    assert {name: count() for name, count in fitted.items()} == {
        "baseline": 0, "svd": 1, "knn": 0, "popularity": 0
    }
    assert all(model.train_ is train for model in members.values())
    # the same weights and predictions as a blend that fits its members itself
    fresh = Blend(_members()).fit(train, seed=1)
    np.testing.assert_array_equal(blend.ranking_weights_, fresh.ranking_weights_)
    np.testing.assert_allclose(blend.rating_weights_, fresh.rating_weights_)
    users, items = split.test["user_id"].to_numpy(), split.test["item_id"].to_numpy()
    np.testing.assert_allclose(blend.predict(users, items), fresh.predict(users, items), atol=1e-6)


def test_a_saved_blend_with_ease_holds_no_weight_matrix_and_loads_equal(split, tmp_path) -> None:
    train = Interactions.from_ratings(split.train)
    blend = Blend({"baseline": BiasBaseline(), "ease": EASE(lam=50.0)}).fit(train)
    path = blend.save(tmp_path / "blend")
    matrix = train.user_items
    matrix_bytes = matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes
    n_kept = blend.members["ease"].n_items_kept_
    assert path.stat().st_size < matrix_bytes + 32 * (train.n_users + train.n_items) + 10_000
    assert path.stat().st_size < 4 * n_kept**2 / 2  # EASE's dense B would take 4 n^2 bytes
    loaded = Recommender.load(path)
    users = split.test["user_id"].unique()
    for got, expected in zip(loaded.recommend(users, 10), blend.recommend(users, 10), strict=True):
        np.testing.assert_array_equal(got, expected)
    items = split.test["item_id"].to_numpy()
    np.testing.assert_array_equal(loaded.predict(split.test["user_id"].to_numpy(), items),
                                  blend.predict(split.test["user_id"].to_numpy(), items))


def _fit_count(model):
    """Counts the model's own `fit` calls from now on; returns the reader."""
    calls = []
    fit = model.fit
    model.fit = lambda train: (calls.append(1), fit(train))[1]
    return lambda: len(calls)


def test_above_max_inner_ratings_the_weights_come_from_a_sample_of_whole_users(split) -> None:
    train = Interactions.from_ratings(split.train)
    inner_sizes = []

    class Recording(BiasBaseline):
        def _fit(self, data: Interactions) -> None:
            inner_sizes.append((data.nnz, data.n_users))
            super()._fit(data)

    blend = Blend({"baseline": Recording(), "knn": ItemKNN(n_neighbors=10)},
                  max_inner_ratings=5_000).fit(train, seed=2)
    (inner_nnz, inner_users), (outer_nnz, _) = inner_sizes
    assert inner_nnz <= 0.8 * 5_000 + 1 and outer_nnz == train.nnz  # inner: 80% of the sample
    assert inner_users < train.n_users
    sample = whole_user_sample(train, 5_000, seed=2)
    assert len(sample) <= 5_000
    kept = split.train[split.train["user_id"].isin(sample["user_id"].unique())]
    assert len(kept) == len(sample)  # every rating of each sampled user
    assert blend.rating_weights_ is not None
    test = evaluate_ratings(blend, split.test)["rmse"]
    assert test <= evaluate_ratings(blend.members["baseline"], split.test)["rmse"]


def test_max_inner_ratings_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_inner_ratings"):
        Blend(max_inner_ratings=0)


def test_candidates_hold_the_top_k_of_any_blend_of_their_members(split, monkeypatch) -> None:
    import recsys_lib.models.blend as blend_module

    monkeypatch.setattr(blend_module, "TUNE_BATCH_USERS", 7)  # several batches
    train = Interactions.from_ratings(split.train)
    members = [model.fit(train) for model in _members().values()]
    users = np.arange(0, train.n_users, 25)
    columns, blocks, excluded = candidate_scores(members, users, train)
    width = len(members) * blend_module.TUNE_CANDIDATES
    assert columns.shape == excluded.shape == (len(users), width)
    assert blocks.shape == (len(members), len(users), width)
    assert np.all(blocks[:, excluded] == 0)
    for row in range(len(users)):  # each candidate once, never a seen item
        chosen = columns[row][~excluded[row]]
        assert len(np.unique(chosen)) == len(chosen)
        assert not np.isin(chosen, train.user_items[users[row]].indices).any()
    full = np.stack([normalised_scores(model._score(users)) for model in members])
    for weights in ([1.0, 0.0, 0.0, 0.0], [0.25, 1.0, 0.5, 2.0], [0.1, 0.0, 1.0, 0.25]):
        w = np.float32(weights)
        blended = mask_seen(np.tensordot(w, full, axes=1), train.user_items[users])
        expected, _ = top_k_numpy(blended, 10)
        scores = np.tensordot(w, blocks, axes=1)
        scores[excluded] = -np.inf
        best, _ = top_k_numpy(scores, 10)
        np.testing.assert_array_equal(np.take_along_axis(columns, best, axis=1), expected)


def test_weights_come_from_several_inner_splits_within_the_ratings_budget(split) -> None:
    train = Interactions.from_ratings(split.train)
    inner_sets = []

    class Recording(BiasBaseline):
        def _fit(self, data: Interactions) -> None:
            inner_sets.append(data)
            super()._fit(data)

    Blend({"baseline": Recording()}, holdout_splits=3, max_inner_ratings=None).fit(train)
    *inner, outer = inner_sets
    assert len(inner) == 3 and outer is train
    assert all(data.nnz == round(0.8 * train.nnz) for data in inner)
    pairs = [set(zip(*data.user_items.nonzero(), strict=True)) for data in inner]
    assert pairs[0] != pairs[1] != pairs[2] != pairs[0]  # three different held-out parts
    assert Blend(holdout_splits=3, max_inner_ratings=2_500).inner_splits(1_000) == 2
    assert Blend(holdout_splits=3, max_inner_ratings=999).inner_splits(1_000) == 1
    assert Blend(holdout_splits=3, max_inner_ratings=None).inner_splits(10**9) == 3


def test_rating_weights_are_the_ridge_fit_of_every_inner_split_held_out_ratings(split) -> None:
    train = Interactions.from_ratings(split.train)
    members = {"baseline": BiasBaseline(), "svd": SVD(n_components=4, seed=0)}
    blend = Blend(members, holdout_splits=2, ridge=3.0).fit(train, seed=5)
    features, targets = [], []
    for offset in range(2):
        inner = split_ratings(train.to_frame(), test_fraction=0.2, seed=5 + offset)
        fitted = [type(m)(**m.get_params()).fit(Interactions.from_ratings(inner.train))
                  for m in members.values()]
        users, items = inner.test["user_id"].to_numpy(), inner.test["item_id"].to_numpy()
        features.append(np.stack([m.predict(users, items) for m in fitted], axis=1))
        targets.append(inner.test["rating"].to_numpy())
    x, y = np.concatenate(features).astype(np.float64), np.concatenate(targets)
    centred = x - x.mean(axis=0)
    weights = np.linalg.solve(centred.T @ centred + 3.0 * np.eye(2), centred.T @ (y - y.mean()))
    np.testing.assert_allclose(blend.rating_weights_, weights, rtol=1e-6)
    assert blend.intercept_ == pytest.approx(y.mean() - x.mean(axis=0) @ weights)


def test_holdout_splits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="holdout_splits"):
        Blend(holdout_splits=0)


def test_tuning_batches_shrink_so_one_members_score_rows_stay_within_their_budget() -> None:
    from recsys_lib.models.blend import TUNE_BATCH_BYTES, TUNE_BATCH_USERS, tune_batch_users

    assert tune_batch_users(1_000) == TUNE_BATCH_USERS
    for n_items in (59_047, 200_000):
        users = tune_batch_users(n_items)
        assert users < TUNE_BATCH_USERS and 4 * n_items * users <= TUNE_BATCH_BYTES
        assert 4 * n_items * (users + 1) > TUNE_BATCH_BYTES
    assert tune_batch_users(10**9) == 1


def test_normalised_scores_leave_their_input_as_it_was() -> None:
    scores = np.arange(12, dtype=np.float32).reshape(3, 4) ** 2
    before = scores.copy()
    z = normalised_scores(scores)
    np.testing.assert_array_equal(scores, before)
    assert z.dtype == np.float32 and not np.shares_memory(z, scores)
    expected = (before - before.mean(axis=1, keepdims=True)) / before.std(axis=1, keepdims=True)
    np.testing.assert_allclose(z, expected, rtol=1e-5)
