"""The VAE notebook's steps: epoch selection on the carve-out, then the refit on all of
the training ratings."""

from __future__ import annotations

import pandas as pd

from recsys_lib.data import Interactions, split_ratings
from recsys_lib.memory import MemoryMonitor
from recsys_lib.models.vae import load_config
from recsys_lib.runs.vae import VAEData, fit_vae, refit_epochs, refit_vae


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
