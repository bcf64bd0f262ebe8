"""Learning-rate and KL-weight schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest

from recsys_lib.training.schedules import KLSchedule, LRSchedule


def test_warmup_is_linear_up_to_the_peak():
    schedule = LRSchedule(lr=1e-3, min_lr=1e-5, total_steps=100, warmup_steps=4)
    assert [schedule(s) for s in range(4)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])


def test_cosine_runs_from_lr_to_min_lr_through_the_midpoint():
    # 1 warmup step, then 10 decay intervals over steps 1..11
    schedule = LRSchedule(lr=1e-3, min_lr=1e-5, total_steps=12, warmup_steps=1, kind="cosine")
    assert schedule(1) == pytest.approx(1e-3)
    assert schedule(6) == pytest.approx((1e-3 + 1e-5) / 2)
    assert schedule(11) == pytest.approx(1e-5)
    quarter = 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 0.3))
    assert schedule(4) == pytest.approx(quarter)


def test_exponential_decays_geometrically_from_5e4_to_3e5():
    schedule = LRSchedule(lr=5e-4, min_lr=3e-5, total_steps=101, kind="exponential")
    assert schedule(0) == pytest.approx(5e-4)
    assert schedule(50) == pytest.approx(math.sqrt(5e-4 * 3e-5))
    assert schedule(100) == pytest.approx(3e-5)
    assert schedule(500) == pytest.approx(3e-5)  # held after the end


def test_constant_schedule_after_warmup():
    schedule = LRSchedule(lr=0.01, min_lr=0.0, total_steps=10, warmup_steps=2, kind="constant")
    assert [schedule(s) for s in (0, 1, 2, 9)] == pytest.approx([0.005, 0.01, 0.01, 0.01])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "step"}, "lr_schedule"),
        ({"min_lr": 1.0}, "min_lr"),
        ({"min_lr": 0.0, "kind": "exponential"}, "min_lr > 0"),
        ({"warmup_steps": -1}, "warmup_steps"),
    ],
)
def test_bad_lr_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LRSchedule(**{"lr": 0.1, "min_lr": 0.01, "total_steps": 10, **kwargs})


def test_kl_constant_and_linear_anneal():
    assert KLSchedule(0.2, "constant")(0) == 0.2
    linear = KLSchedule(0.2, "linear", anneal_steps=10)
    assert [linear(s) for s in (0, 5, 10, 20)] == pytest.approx([0.0, 0.1, 0.2, 0.2])


def test_kl_cyclical_rises_over_half_a_cycle_then_holds_and_restarts():
    cyclical = KLSchedule(0.2, "cyclical", anneal_steps=10, ratio=0.5)
    values = [cyclical(s) for s in (0, 2, 5, 9, 10, 12)]
    assert values == pytest.approx([0.0, 0.08, 0.2, 0.2, 0.0, 0.08])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"kind": "sigmoid"}, "kl_schedule"), ({"weight": -1.0}, "kl_weight"),
     ({"anneal_steps": 0}, "kl_anneal_steps"), ({"ratio": 0.0}, "kl_cycle_ratio")],
)
def test_bad_kl_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KLSchedule(**{"weight": 0.1, **kwargs})
