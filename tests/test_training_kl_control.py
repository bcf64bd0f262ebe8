"""The adaptive KL weight: the PI controller by hand, on a simulated VAE, and in a fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recsys_lib.data import Interactions
from recsys_lib.models.vae import MultVAE, MultVAEConfig, load_config
from recsys_lib.training import KLController


def test_the_first_weights_by_hand():
    controller = KLController(target=10.0, max_weight=0.2, kp=0.5, ki=0.1)
    # KL 30: e = 2, I = 0.2, weight = 0.2 * (0.5 * sigmoid(2) + 0.2)
    first = controller(torch.tensor(30.0)).item()
    assert first == pytest.approx(0.2 * (0.5 / (1 + math.exp(-2)) + 0.2))
    # KL 5: e = -0.5, I = 0.2 - 0.05 = 0.15
    second = controller(torch.tensor(5.0)).item()
    assert second == pytest.approx(0.2 * (0.5 / (1 + math.exp(0.5)) + 0.15))
    # far below the target for long: the integral falls to -kp, the weight to 0
    weights = [controller(torch.tensor(0.0)).item() for _ in range(50)]
    assert weights[-1] == 0.0
    # far above it: the weight is capped at max_weight
    assert max(controller(torch.tensor(1e6)).item() for _ in range(50)) == pytest.approx(0.2)


def test_the_controller_holds_a_simulated_kl_near_its_target():
    # A VAE's KL falls as its weight grows: kl = 100 / (1 + 50 w). Holding 20 nats takes
    # w = 0.08, which no fixed schedule to the cap of 0.5 gives (100 / 26 = 3.8 nats).
    controller = KLController(target=20.0, max_weight=0.5, kp=0.5, ki=0.02)
    weight, kls = torch.tensor(0.0), []
    for _ in range(2000):
        kl = 100.0 / (1.0 + 50.0 * weight)
        kls.append(float(kl))
        weight = controller(kl)
    assert np.mean(kls[-200:]) == pytest.approx(20.0, rel=0.05)
    assert float(weight) == pytest.approx(0.08, rel=0.1)


def test_bad_controller_settings_are_refused():
    with pytest.raises(ValueError, match="kl_target must be > 0"):
        MultVAEConfig(kl_schedule="adaptive", kl_target=0.0)
    with pytest.raises(ValueError, match="kl_kp and kl_ki must be >= 0"):
        MultVAEConfig(kl_ki=-1.0)
    assert MultVAEConfig().kl_controller() is None


def test_an_adaptive_mult_vae_holds_its_kl_nearer_the_target(tiny_ratings):
    train = Interactions.from_ratings(tiny_ratings)
    trainer = load_config("test_tiny", {"epochs": 30, "batch_size": 4, "lr": 0.01}).trainer
    shape = {"hidden_dims": [16], "latent_dim": 4, "kl_weight": 1.0, "dropout_rate": 0.0}
    free = MultVAE({**shape, "kl_schedule": "constant", "kl_weight": 0.0}, trainer).fit(train)
    target = 0.2 * free.history_["kl"].iloc[-1]  # far below what the KL drifts to unchecked
    held = MultVAE({**shape, "kl_schedule": "adaptive", "kl_target": target, "kl_ki": 0.05},
                   trainer).fit(train)
    last = held.history_.tail(5)
    assert abs(last["kl"].mean() - target) < 0.5 * target
    assert last["kl"].mean() < 0.5 * free.history_["kl"].iloc[-1]
    assert 0 < last["kl_weight"].mean() < 1.0  # controlled, not pinned at a bound
