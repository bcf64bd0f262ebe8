"""Every model through the shared protocol: fit, predict, recommend, save, load, and a
learning check (a withheld item of a block-structured matrix is ranked first).

Add a model by appending to MODEL_FACTORIES; each factory takes a seed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from recsys_lib.data.interactions import Interactions
from recsys_lib.models import (
    ALS,
    EASE,
    SVD,
    BiasBaseline,
    Blend,
    ItemKNN,
    NotFittedError,
    Popularity,
    Recommender,
)
from recsys_lib.models.base import score_batch_users

_TINY_TRAINER = {"epochs": 2, "batch_size": 32, "device": "cpu", "progress": False,
                 "max_minutes": None, "mixed_precision": "off"}


def _rating_vae(seed: int, config: dict | None = None, trainer: dict | None = None
                ) -> Recommender:
    from recsys_lib.models.vae import RatingVAE  # imports torch: only when used

    tiny = {"n_factors": 4, "hidden_dims": [8], "latent_dim": 2}
    return RatingVAE({**tiny, **(config or {})}, {**_TINY_TRAINER, "seed": seed, **(trainer or {})})


def _mult_vae(seed: int, config: dict | None = None, trainer: dict | None = None
              ) -> Recommender:
    from recsys_lib.models.vae import MultVAE

    tiny = {"hidden_dims": [8], "latent_dim": 4}
    return MultVAE({**tiny, **(config or {})}, {**_TINY_TRAINER, "seed": seed, **(trainer or {})})


MODEL_FACTORIES: list[tuple[str, Callable[[int], Recommender]]] = [
    ("baseline", lambda seed: BiasBaseline()),
    ("svd", lambda seed: SVD(n_components=5, seed=seed)),
    ("svd_arpack", lambda seed: SVD(n_components=5, solver="arpack", seed=seed)),
    ("knn", lambda seed: ItemKNN(n_neighbors=5, block_size=7)),
    ("als", lambda seed: ALS(factors=4, iterations=3, seed=seed)),
    ("popularity", lambda seed: Popularity()),
    ("ease", lambda seed: EASE(lam=5.0)),
    ("blend", lambda seed: Blend({"baseline": BiasBaseline(), "popularity": Popularity(),
                                  "svd": SVD(n_components=3, seed=seed)})),
    ("rating_vae", _rating_vae),
    ("mult_vae", _mult_vae),
]
FACTORIES = [pytest.param(factory, id=name) for name, factory in MODEL_FACTORIES]
UNKNOWN_USER, UNKNOWN_ITEM = 10_000, 99_999


@pytest.fixture
def train(tiny_ratings: pd.DataFrame) -> Interactions:
    return Interactions.from_ratings(tiny_ratings)


def _all_users(train: Interactions) -> np.ndarray:
    return np.append(train.user_ids, UNKNOWN_USER)


def _pairs(train: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """Every known (user, item) cell plus pairs with an unknown user and/or item."""
    users, items = np.meshgrid(train.user_ids, train.item_ids, indexing="ij")
    users = np.concatenate([users.ravel(), [UNKNOWN_USER, UNKNOWN_USER, train.user_ids[0]]])
    items = np.concatenate([items.ravel(), [train.item_ids[0], UNKNOWN_ITEM, UNKNOWN_ITEM]])
    return users, items


@pytest.mark.parametrize("factory", FACTORIES)
def test_use_before_fit_raises(factory: Callable[[int], Recommender], tmp_path) -> None:
    model = factory(0)
    with pytest.raises(NotFittedError):
        model.recommend(np.array([1]), k=3)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "model.npz")
    expected = NotFittedError if model.predicts_ratings else TypeError
    with pytest.raises(expected):
        model.predict(np.array([1]), np.array([1]))


@pytest.mark.parametrize("factory", FACTORIES)
def test_recommend_contract(factory: Callable[[int], Recommender], train: Interactions) -> None:
    model = factory(0).fit(train)
    users = _all_users(train)
    item_ids, scores = model.recommend(users, k=5)

    assert item_ids.shape == scores.shape == (len(users), 5)
    assert item_ids.dtype == np.int32 and scores.dtype == np.float32
    assert np.isin(item_ids, train.item_ids).all()  # 30 items, at most 18 seen: no padding
    assert (np.diff(scores, axis=1) <= 0).all()
    assert all(len(set(row)) == len(row) for row in item_ids)
    seen = train.user_items.toarray() > 0
    for row, items in enumerate(item_ids[:-1]):
        assert not seen[row, train.item_index(items)].any()
    counts = np.bincount(train.user_items.indices, minlength=train.n_items)
    popular = np.argsort(-counts, kind="stable")[:5]  # unknown user: most rated items
    np.testing.assert_array_equal(item_ids[-1], train.item_ids[popular])
    assert model.fallback_counts["recommend_unknown_user"] == 1


@pytest.mark.parametrize("factory", FACTORIES)
def test_recommend_pads_when_too_few_unseen_items(
    factory: Callable[[int], Recommender], train: Interactions
) -> None:
    model = factory(0).fit(train)
    item_ids, scores = model.recommend(train.user_ids, k=train.n_items + 2)
    n_unseen = train.n_items - np.diff(train.user_items.indptr)
    for row, count in enumerate(n_unseen):
        assert (item_ids[row, :count] >= 0).all() and np.isfinite(scores[row, :count]).all()
        assert (item_ids[row, count:] == -1).all() and np.isneginf(scores[row, count:]).all()


def test_slow_scoring_shows_one_progress_line_of_the_known_users(
    train: Interactions, monkeypatch, capsys
) -> None:
    import recsys_lib.progress as progress

    monkeypatch.setenv("RECSYS_PROGRESS", "lines")
    model = Popularity().fit(train)
    users = _all_users(train)  # the last is unknown: the popularity fallback, not scored
    expected = model.recommend(users, k=3, batch_size=2)
    got = model.recommend(users, k=3, batch_size=2, progress="Popularity rankings")
    assert capsys.readouterr().err == ""  # quicker than PROGRESS_DELAY_S
    monkeypatch.setattr(progress, "PROGRESS_DELAY_S", 0.0)
    again = model.recommend(users, k=3, batch_size=2, progress="Popularity rankings")
    line = capsys.readouterr().err
    assert re.fullmatch(rf"Popularity rankings: {len(users) - 1}/{len(users) - 1} users in "
                        r"\d+\.\d s\n", line)
    for result in (got, again):
        np.testing.assert_array_equal(result[0], expected[0])


@pytest.mark.parametrize("factory", FACTORIES)
def test_numpy_and_torch_paths_and_batches_agree(
    factory: Callable[[int], Recommender], train: Interactions
) -> None:
    model = factory(0).fit(train)
    users = _all_users(train)
    numpy_items, numpy_scores = model.recommend(users, k=8, backend="numpy")
    torch_items, torch_scores = model.recommend(users, k=8, backend="torch", device="cpu")
    small_items, _ = model.recommend(users, k=8, backend="numpy", batch_size=3)
    np.testing.assert_array_equal(numpy_items, torch_items)
    np.testing.assert_array_equal(numpy_items, small_items)
    np.testing.assert_allclose(numpy_scores, torch_scores, rtol=1e-6)


def test_default_batches_bound_the_score_block(train: Interactions, monkeypatch) -> None:
    assert score_batch_users(59_047) == 135 and score_batch_users(9_724) == 500
    assert score_batch_users(10**9) == 1
    model = Popularity().fit(train)
    sizes = []
    score = model._score
    monkeypatch.setattr(model, "_score", lambda rows: sizes.append(len(rows)) or score(rows))
    monkeypatch.setattr("recsys_lib.models.base.DEFAULT_BATCH_CELLS", 2 * train.n_items)
    items, _ = model.recommend(train.user_ids, k=3)
    assert sizes[:-1] == [2] * (len(sizes) - 1) and sum(sizes) == train.n_users
    np.testing.assert_array_equal(items, model.recommend(train.user_ids, k=3, batch_size=500)[0])


@pytest.mark.parametrize("factory", FACTORIES)
def test_predict_contract(factory: Callable[[int], Recommender], train: Interactions) -> None:
    model = factory(0).fit(train)
    users, items = _pairs(train)
    if not model.predicts_ratings:
        with pytest.raises(TypeError, match="does not predict ratings"):
            model.predict(users, items)
        return
    predicted = model.predict(users, items)
    assert predicted.shape == users.shape and predicted.dtype == np.float32
    ratings = train.user_items.data
    assert (predicted >= ratings.min()).all() and (predicted <= ratings.max()).all()
    assert model.fallback_counts["predict_unknown_user"] == 2
    assert model.fallback_counts["predict_unknown_item"] == 2
    if not hasattr(model, "biases_"):
        return  # the VAEs' learned bias fallbacks are checked in test_vae.py
    # unknown user and item: the global mean; unknown user: the mean plus the item's bias
    biases = model.biases_
    assert predicted[-2] == pytest.approx(biases.mean, abs=1e-6)
    assert predicted[-3] == pytest.approx(biases.mean + biases.item[0], abs=1e-6)


@pytest.mark.parametrize("factory", FACTORIES)
def test_predict_rejects_mismatched_shapes(
    factory: Callable[[int], Recommender], train: Interactions
) -> None:
    model = factory(0).fit(train)
    if model.predicts_ratings:
        with pytest.raises(ValueError, match="differ in shape"):
            model.predict(train.user_ids[:3], train.item_ids[:2])


@pytest.mark.parametrize("factory", FACTORIES)
def test_same_seed_same_model(factory: Callable[[int], Recommender], train: Interactions) -> None:
    first, second = factory(3).fit(train), factory(3).fit(train)
    users = _all_users(train)
    np.testing.assert_array_equal(first.recommend(users, 6)[0], second.recommend(users, 6)[0])
    np.testing.assert_array_equal(first.recommend(users, 6)[1], second.recommend(users, 6)[1])
    if first.predicts_ratings:
        pairs = _pairs(train)
        np.testing.assert_array_equal(first.predict(*pairs), second.predict(*pairs))


@pytest.mark.parametrize("factory", FACTORIES)
def test_save_load_round_trip(
    factory: Callable[[int], Recommender], train: Interactions, tmp_path
) -> None:
    model = factory(0).fit(train)
    path = model.save(tmp_path / "model")
    assert path.suffix == ".npz"
    loaded = type(model).load(path)
    assert loaded.get_params() == model.get_params()
    users = _all_users(train)
    expected_items, expected_scores = model.recommend(users, k=6)
    loaded_items, loaded_scores = loaded.recommend(users, k=6)
    np.testing.assert_array_equal(loaded_items, expected_items)
    np.testing.assert_array_equal(loaded_scores, expected_scores)
    if model.predicts_ratings:
        pairs = _pairs(train)
        np.testing.assert_array_equal(loaded.predict(*pairs), model.predict(*pairs))
    other = Popularity if not isinstance(model, Popularity) else BiasBaseline
    with pytest.raises(ValueError, match=f"holds a {type(model).__name__}"):
        other.load(path)


@pytest.mark.parametrize("factory", FACTORIES)
def test_fit_memory_estimate_grows_with_data(factory: Callable[[int], Recommender]) -> None:
    model_type = type(factory(0))
    small = model_type.estimate_fit_bytes(1_000, 500, 50_000)
    large = model_type.estimate_fit_bytes(162_000, 59_000, 25_000_000)
    assert isinstance(small, int) and 0 < small < large
    assert large < 8 * 2**30  # the 25M-rating fit stays far below a dense users x items matrix


# ---- learning: the block test (implicit's checkerboard test, with stars) ---------------
_BLOCK = 8  # users per group and items per block
# Models that give every user the same ranking: on the block matrix one group's withheld
# items are the other group's unseen items, so no single ranking puts both groups' first.
GLOBAL_RANKERS = {"baseline", "popularity"}
# The VAEs learn the blocks with more optimizer steps than the contract's 2 epochs (120 and
# 80 steps); MultVAE reads the stars, as a binary input counts a 1-star dislike as an
# interaction as much as a 5-star like.
_LEARNING_OVERRIDES: dict[str, tuple[dict, dict]] = {
    "rating_vae": ({"n_factors": 8, "hidden_dims": [16], "dropout_rate": 0.0,
                    "kl_weight": 0.001}, {"epochs": 15, "batch_size": 16, "lr": 0.03}),
    "mult_vae": ({"input_values": "rating"}, {"epochs": 20, "batch_size": 4, "lr": 0.01}),
}


def _blocks() -> tuple[Interactions, np.ndarray]:
    """Two groups of 8 users x two blocks of 8 items. User j of a group gives 5 stars to
    every item of its own block except item j (withheld) and 1 star to items j+1..j+5
    (cyclically) of the other block, leaving 3 of those unseen; every item is withheld by
    one user and disliked by 5, so item popularity and mean ratings are equal.

    Returns:
        The interactions (raw user ids 1..16, item ids 10, 13, ...) and each user's withheld
        item id, in the order of `user_ids`.
    """
    rows, withheld = [], []
    for group in (0, 1):
        own = np.arange(_BLOCK) + group * _BLOCK
        other = np.arange(_BLOCK) + (1 - group) * _BLOCK
        for j in range(_BLOCK):
            user = 1 + group * _BLOCK + j
            rows += [(user, item, 5.0) for item in own if item != own[j]]
            rows += [(user, item, 1.0) for item in other[(j + 1 + np.arange(5)) % _BLOCK]]
            withheld.append(own[j])
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    frame["item_id"] = 10 + 3 * frame["item_id"]
    frame = frame.astype({"user_id": np.int32, "item_id": np.int32, "rating": np.float32})
    return Interactions.from_ratings(frame), 10 + 3 * np.array(withheld, dtype=np.int32)


LEARNERS = [pytest.param(name, factory, id=name) for name, factory in MODEL_FACTORIES
            if name not in GLOBAL_RANKERS]


@pytest.mark.parametrize(("name", "factory"), LEARNERS)
def test_the_withheld_item_of_a_block_matrix_is_ranked_first(
    name: str, factory: Callable[..., Recommender]
) -> None:
    train, withheld = _blocks()
    model = factory(0, *_LEARNING_OVERRIDES[name]) if name in _LEARNING_OVERRIDES else factory(0)
    top, _ = model.fit(train).recommend(train.user_ids, k=4)  # 4 unseen items per user
    np.testing.assert_array_equal(top[:, 0], withheld)


@pytest.mark.parametrize(("name", "factory"), [
    pytest.param(name, factory, id=name) for name, factory in MODEL_FACTORIES
    if name in GLOBAL_RANKERS])
def test_global_rankers_are_exempt_from_the_block_test(
    name: str, factory: Callable[..., Recommender]
) -> None:
    train, withheld = _blocks()
    model = factory(0).fit(train)
    ranked, _ = model.recommend(train.user_ids, k=train.n_items, exclude_seen=False)
    assert (ranked == ranked[0]).all()  # one ranking for every user: why they are exempt
    top, _ = model.recommend(train.user_ids, k=1)
    assert not (top[:, 0] == withheld).all()


def test_load_rejects_a_file_that_is_not_a_model(tmp_path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable recsys_lib model file"):
        SVD.load(path)


def test_importing_models_metrics_evaluation_does_not_import_torch() -> None:
    code = (
        "import sys, recsys_lib.models, recsys_lib.metrics, recsys_lib.evaluation; "
        "print(sorted(m for m in ('torch', 'implicit', 'sklearn') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
