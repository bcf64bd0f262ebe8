"""Early warnings: each kind provoked, on history rows and in real fits; each fires once."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from recsys_lib.data import Interactions, split_ratings
from recsys_lib.models.vae import RatingVAE, load_config
from recsys_lib.training import LossOutput, TensorBatches, Trainer, TrainerConfig
from recsys_lib.training.early_warnings import EarlyWarnings, gpu_memory_fraction


def warnings_for(rows, *, metric="val_rmse", mode="min", gap=0.15, plateau_before=20,
                 device="cpu"):
    checker = EarlyWarnings(metric=metric, mode=mode, gap=gap, plateau_before=plateau_before,
                            device=device)
    per_epoch = [[w.kind for w in checker.check({"epoch": i + 1, **row})]
                 for i, row in enumerate(rows)]
    return per_epoch, checker.fired


def test_posterior_collapse_fires_once_on_inactive_dimensions_or_a_vanishing_kl():
    per_epoch, fired = warnings_for([{"kl_active": 0.9, "kl": 4.0},
                                     {"kl_active": 0.4, "kl": 3.0},
                                     {"kl_active": 0.1, "kl": 0.01}], metric=None)
    assert per_epoch == [[], ["posterior_collapse"], []]  # once, at its first epoch
    assert "only 40% of the latent dimensions" in fired[0].message
    assert str(fired[0]).startswith("WARNING: epoch 2: posterior collapse")
    per_epoch, fired = warnings_for([{"kl": 5.0}, {"kl": 0.5}, {"kl": 0.04}], metric=None)
    assert per_epoch == [[], [], ["posterior_collapse"]]  # 0.04 < 1% of the peak 5
    assert "fell to 0.04 nats" in fired[0].message


@pytest.mark.parametrize(("metric", "mode", "row", "fires"), [
    ("val_rmse", "min", {"val_rmse": 1.00, "val_fit_rmse": 0.80}, True),
    ("val_rmse", "min", {"val_rmse": 0.90, "val_fit_rmse": 0.80}, False),
    ("val_ndcg@10", "max", {"val_ndcg@10": 0.10, "val_fit_ndcg@10": 0.30}, True),
    ("val_ndcg@10", "max", {"val_ndcg@10": 0.30, "val_fit_ndcg@10": 0.40}, False),
])
def test_a_train_validation_gap_above_the_threshold_fires(metric, mode, row, fires):
    per_epoch, fired = warnings_for([{**row, "improved": True}], metric=metric, mode=mode)
    assert per_epoch == [["train_val_gap"] if fires else []]
    if fires:
        assert "gap 0.200 > 0.15" in fired[0].message


def test_a_plateau_fires_only_before_the_configured_epoch():
    rows = [{"val_rmse": 1.0, "improved": epoch == 0} for epoch in range(6)]
    per_epoch, fired = warnings_for(rows)
    assert per_epoch == [[], [], [], ["plateau"], [], []]
    assert "has not improved for 3 epochs, before epoch 20" in fired[0].message
    assert warnings_for(rows, plateau_before=4)[1] == []


def test_gpu_memory_above_90_percent_of_the_card_fires(monkeypatch):
    reserved = {"bytes": 95}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device: SimpleNamespace(total_memory=100))
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device: reserved["bytes"])
    assert gpu_memory_fraction("cuda:0") == pytest.approx(0.95)
    assert gpu_memory_fraction("cpu") is None
    per_epoch, fired = warnings_for([{}, {}], device="cuda:0")
    assert per_epoch == [["gpu_memory"], []]
    assert "peak 95% of the card" in fired[0].message
    reserved["bytes"] = 80
    assert warnings_for([{}], device="cuda:0")[1] == []


def _regression(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=generator)
    return x, x @ torch.tensor([1.0, -2.0, 0.5])


def test_repeated_nan_steps_fire_in_a_real_fit():
    cfg = TrainerConfig(epochs=2, batch_size=16, device="cpu", progress=False,
                        mixed_precision="off", max_minutes=None, patience=None)

    def loss(module, batch, step):
        x, y = batch
        value = ((module(x).squeeze(1) - y) ** 2).mean()
        return LossOutput(value * math.nan if step in (1, 3, 5) else value)

    module = torch.nn.Linear(3, 1)
    result = Trainer(cfg).fit(module, loss, TensorBatches(list(_regression()), 16))
    assert [(w.kind, w.epoch) for w in result.warnings] == [("bad_steps", 2)]
    assert result.summary()["warnings"][0]["message"].startswith("3 NaN/Inf steps skipped")


@pytest.fixture
def tiny_split(tiny_ratings: pd.DataFrame) -> tuple[Interactions, Interactions]:
    inner = split_ratings(tiny_ratings, "random", test_fraction=0.2, seed=1)
    return Interactions.from_ratings(inner.train), Interactions.from_ratings(inner.test)


def test_a_heavy_kl_weight_collapses_the_posterior_and_says_so(tiny_split):
    run = load_config("test_tiny", {"kl_weight": 50.0, "kl_schedule": "constant",
                                    "epochs": 20, "patience": None, "latent_dim": 8,
                                    "lr": 0.02, "warn_gap": None})
    model = RatingVAE(run.model_config, run.trainer).fit(*tiny_split)
    kinds = [w.kind for w in model.result_.warnings]
    assert kinds[0] == "posterior_collapse"
    assert model.history_["kl_active"].iloc[-1] < 0.5
    assert "val_fit_rmse" not in model.history_  # warn_gap None: no fit-subset pass


def test_an_overfitting_rating_vae_shows_a_train_validation_gap(tiny_split):
    run = load_config("test_tiny", {"epochs": 30, "patience": None, "dropout_rate": 0.0,
                                    "n_factors": 16, "hidden_dims": [64], "lr": 0.02,
                                    "kl_weight": 0.0, "warn_gap": 0.3})
    model = RatingVAE(run.model_config, run.trainer).fit(*tiny_split)
    last = model.history_.iloc[-1]
    assert last["val_rmse"] - last["val_fit_rmse"] > 0.3  # memorised the fit ratings
    assert "train_val_gap" in [w.kind for w in model.result_.warnings]
