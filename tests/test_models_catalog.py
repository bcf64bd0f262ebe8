"""load_model reads any saved model; Recommender.load dispatches; every model importable."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from recsys_lib.data import Interactions
from recsys_lib.models import (
    ALS,
    SVD,
    BiasBaseline,
    ItemKNN,
    Popularity,
    Recommender,
    load_model,
    model_class,
)


@pytest.fixture
def train(tiny_ratings):
    return Interactions.from_ratings(tiny_ratings)


@pytest.mark.parametrize(
    "model",
    [BiasBaseline(), Popularity(), SVD(n_components=3), ItemKNN(n_neighbors=3),
     ALS(factors=3, iterations=2)],
    ids=lambda model: type(model).__name__,
)
def test_load_model_reads_the_class_from_the_file(model, train, tmp_path):
    model.fit(train)
    path = model.save(tmp_path / "m.npz")
    users = train.user_ids[:5]
    for loaded in (load_model(path), Recommender.load(path)):
        assert type(loaded) is type(model)
        np.testing.assert_array_equal(loaded.recommend(users, 4)[0], model.recommend(users, 4)[0])


def test_a_class_other_than_the_files_is_still_refused(train, tmp_path):
    path = ItemKNN(n_neighbors=3).fit(train).save(tmp_path / "knn.npz")
    with pytest.raises(ValueError, match="holds a ItemKNN, not a SVD"):
        SVD.load(path)


def test_a_file_that_is_no_model_is_named(tmp_path):
    path = tmp_path / "junk.npz"
    np.savez(path, x=np.arange(3))
    with pytest.raises(ValueError, match=r"junk\.npz is not a readable recsys_lib model file"):
        load_model(path)


def test_an_unknown_class_lists_the_known_ones():
    with pytest.raises(KeyError, match="no model class named 'Nope'; known: ALS"):
        model_class("Nope")


def test_the_vaes_are_importable_from_models_but_only_on_use():
    code = ("import sys, recsys_lib.models as m; assert 'torch' not in sys.modules; "
            "from recsys_lib.models import RatingVAE, MultVAE; "
            "assert 'torch' in sys.modules; print(RatingVAE.__name__, MultVAE.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["RatingVAE", "MultVAE"]


def test_load_model_reads_a_saved_vae(train, tmp_path):
    from recsys_lib.models import RatingVAE
    from recsys_lib.models.vae import load_config

    model = load_config("test_tiny", overrides={"epochs": 1}).build().fit(train)
    loaded = load_model(model.save(tmp_path / "vae.npz"))
    assert isinstance(loaded, RatingVAE)
    users, items = train.user_ids[:4], train.item_ids[:4]
    np.testing.assert_allclose(loaded.predict(users, items), model.predict(users, items),
                               rtol=1e-5)
