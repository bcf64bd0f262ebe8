"""SeedEnsemble: members' predictions and scores averaged; refuses mixed members."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from recsys_lib.data import Interactions
from recsys_lib.models.vae import MultVAE, RatingVAE, SeedEnsemble, load_config
from recsys_lib.runs.vae import VAEParams, member_configs, vae_run_config

TINY = load_config("test_tiny")


@pytest.fixture
def train(tiny_ratings: pd.DataFrame) -> Interactions:
    return Interactions.from_ratings(tiny_ratings)


def _rating_vae(train: Interactions, seed: int) -> RatingVAE:
    return RatingVAE(TINY.model_config, TINY.trainer.with_overrides({"seed": seed})).fit(train)


def test_the_ensemble_predicts_the_members_mean_rating(train, tiny_ratings):
    members = [_rating_vae(train, seed) for seed in (1, 2, 3)]
    users, items = tiny_ratings["user_id"].to_numpy(), tiny_ratings["item_id"].to_numpy()
    predictions = [m.predict(users, items) for m in members]
    assert not np.allclose(predictions[0], predictions[1])  # the seeds differ
    ensemble = SeedEnsemble(members)
    assert ensemble.predict(users, items) == pytest.approx(np.mean(predictions, axis=0),
                                                           abs=1e-5)
    rows = np.arange(3)
    expected = torch.stack([m._score(rows) for m in members]).mean(dim=0)
    assert torch.allclose(ensemble._score(rows), expected, atol=1e-5)


def test_a_mult_vae_ensemble_averages_log_softmax_scores(train):
    shape = {"hidden_dims": [16], "latent_dim": 4}
    members = [MultVAE(shape, {**TINY.trainer.to_dict(), "seed": seed}).fit(train)
               for seed in (1, 2)]
    ensemble = SeedEnsemble(members)
    assert not ensemble.predicts_ratings
    rows = np.arange(4)
    expected = (F.log_softmax(members[0]._score(rows), 1)
                + F.log_softmax(members[1]._score(rows), 1)) / 2
    assert torch.allclose(ensemble._score(rows), expected, atol=1e-5)
    items, _ = ensemble.recommend(train.user_ids[:4], 5)
    seen = train.user_items[:4].toarray() > 0
    assert not any(seen[r, train.item_index(items[r])].any() for r in range(4))


def test_mixed_or_mismatched_members_are_refused(train, tiny_ratings):
    rating = _rating_vae(train, 1)
    mult = MultVAE({"hidden_dims": [16], "latent_dim": 4}, TINY.trainer).fit(train)
    with pytest.raises(ValueError, match="one kind of model"):
        SeedEnsemble([rating, mult])
    other = _rating_vae(Interactions.from_ratings(tiny_ratings.iloc[:150]), 2)
    with pytest.raises(ValueError, match="different training data"):
        SeedEnsemble([rating, other])
    with pytest.raises(ValueError, match="at least one member"):
        SeedEnsemble([])
    with pytest.raises(TypeError, match="fit each member"):
        SeedEnsemble([rating]).fit(train)


def test_model_seed_is_apart_from_the_data_seed_and_members_count_up(tmp_path):
    config = vae_run_config(VAEParams(CONFIG="test_tiny", SEED=1, MODEL_SEED=7), tmp_path)
    assert config.trainer.seed == 7
    assert vae_run_config(VAEParams(CONFIG="test_tiny", SEED=3), tmp_path).trainer.seed == 3
    members = member_configs(config, 3)
    assert list(members) == ["RatingVAE seed 7", "RatingVAE seed 8", "RatingVAE seed 9"]
    assert [m.trainer.seed for m in members.values()] == [7, 8, 9]
    assert members["RatingVAE seed 8"].trainer.checkpoint_dir == str(
        tmp_path / "checkpoints" / "seed-8")
    assert member_configs(config, 1) == {"RatingVAE": config}
    with pytest.raises(ValueError, match="ENSEMBLE_SEEDS must be positive"):
        VAEParams(ENSEMBLE_SEEDS=0)
