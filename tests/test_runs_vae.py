"""The VAE notebook's steps: epoch selection on the carve-out, then the refit on all of
the training ratings."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys_lib.config import ConfigError
from recsys_lib.data import Interactions, split_ratings
from recsys_lib.memory import MemoryMonitor
from recsys_lib.models.vae import load_config
from recsys_lib.runs.vae import (
    VAEData,
    VAEParams,
    fit_vae,
    refit_epochs,
    refit_vae,
    vae_run_config,
)


def test_the_refit_trains_on_all_the_data_for_the_chosen_epochs(tiny_ratings: pd.DataFrame,
                                                                tmp_path) -> None:
    config = load_config("test_tiny", {"epochs": 6, "patience": 2,
                                       "checkpoint_dir": str(tmp_path)})
    inner = split_ratings(tiny_ratings, "random", test_fraction=0.2, seed=1)
    data = VAEData(Interactions.from_ratings(inner.train), Interactions.from_ratings(inner.test))
    memory = MemoryMonitor()
    selection, _ = fit_vae(config, data, memory)
    epochs = refit_epochs(selection)
    assert epochs == selection.result_.best_epoch
    whole = Interactions.from_ratings(tiny_ratings)
    model, record = refit_vae(config, whole, epochs, memory)
    assert len(model.history_) == epochs  # no early stopping, no validation
    assert model.train_.nnz == whole.nnz > selection.train_.nnz
    assert model.trainer_config.checkpoint_dir == str(tmp_path / "refit")
    assert record.seconds > 0


def test_a_reachable_target_rmse_stops_training_and_is_recorded(tiny_ratings, tmp_path):
    params = VAEParams(CONFIG="test_tiny", EPOCHS=5, TARGET_RMSE=4.5)
    config = vae_run_config(params, tmp_path)
    assert config.model_config.target_rmse == 4.5
    inner = split_ratings(tiny_ratings, "random", test_fraction=0.2, seed=1)
    data = VAEData(Interactions.from_ratings(inner.train), Interactions.from_ratings(inner.test))
    model, _ = fit_vae(config, data, MemoryMonitor())
    summary = model.result_.summary()
    assert model.result_.stop_reason == "target_reached" and len(model.history_) == 1
    assert (summary["target"], summary["target_met"]) == (4.5, True)


@pytest.mark.parametrize(("params", "words"), [
    ({"TARGET_NDCG": 0.3}, "target_ndcg applies to mult_vae"),
    ({"MODEL": "mult_vae", "TARGET_RMSE": 0.8}, "target_rmse applies to rating_vae"),
    ({"TARGET_RMSE": -1.0}, "TARGET_RMSE must be positive"),
])
def test_a_target_for_the_other_model_is_refused(params, words, tmp_path):
    with pytest.raises((ValueError, ConfigError), match=words):
        vae_run_config(VAEParams(**params), tmp_path)
