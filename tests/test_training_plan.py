"""Precision policy and the memory plan, checked on the CPU."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from recsys_lib.training import plan_training, resolve_precision


@pytest.mark.parametrize(
    ("mode", "bf16", "expected"),
    [("auto", False, ("fp16", True)), ("auto", True, ("bf16", False)),
     ("fp16", True, ("fp16", True)), ("bf16", True, ("bf16", False)),
     ("off", True, ("fp32", False))],
)
def test_cuda_policy_picks_fp16_with_a_scaler_without_native_bf16(mode, bf16, expected):
    precision = resolve_precision(mode, "cuda", bf16_supported=bf16)
    assert (precision.name, precision.use_scaler) == expected
    assert precision.device_type == "cuda"


def test_bf16_asked_without_native_support_falls_back_to_fp16(caplog):
    with caplog.at_level(logging.WARNING):
        precision = resolve_precision("bf16", "cuda:1", bf16_supported=False)
    assert (precision.name, precision.dtype) == ("fp16", torch.float16)
    assert "cuda:1 has no native bf16" in caplog.text


def test_cpu_uses_bf16_autocast_and_a_pass_through_scaler():
    precision = resolve_precision("fp16", "cpu")
    assert (precision.name, precision.dtype, precision.use_scaler) == ("bf16", torch.bfloat16,
                                                                      False)
    scaler = precision.grad_scaler()
    loss = torch.tensor(2.0)
    assert scaler.scale(loss) is loss
    with precision.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with resolve_precision("off", "cpu").autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_plan_counts_parameters_state_and_activations():
    module = nn.Linear(10, 5)  # 55 parameters: 55 x 4 bytes x (weights, grads, 2 moments)
    plan = plan_training(module, batch_size=64, micro_batch_size=64,
                         activation_bytes_per_sample=100, available_bytes=20_000)
    assert plan.n_params == 55
    assert plan.state_mb * 2**20 == pytest.approx(880)
    assert plan.estimate_mb * 2**20 == pytest.approx(880 + 6400)
    with_data = plan_training(module, batch_size=64, micro_batch_size=64,
                              activation_bytes_per_sample=100, data_bytes=1000,
                              available_bytes=20_000)
    assert with_data.estimate_bytes == 880 + 6400 + 1000
    assert with_data.data_mb * 2**20 == pytest.approx(1000)
    assert (plan.verdict, plan.suggested_micro_batch) == ("fits", None)
    assert "fits" in plan.to_frame().set_index("what").loc["verdict", "value"]


@pytest.mark.parametrize(
    ("available", "verdict", "micro"),
    [(8_000, "tight", 32), (5_000, "will not fit", 16), (1_000, "will not fit", None)],
)
def test_plan_suggests_the_largest_power_of_two_micro_batch_that_fits(available, verdict, micro):
    # budget = 0.7 x available - 880 state bytes; 100 activation bytes per sample
    plan = plan_training(nn.Linear(10, 5), batch_size=64, micro_batch_size=64,
                         activation_bytes_per_sample=100, available_bytes=available)
    assert (plan.verdict, plan.suggested_micro_batch) == (verdict, micro)


def test_mixed_precision_adds_the_half_weight_copies():
    plain = plan_training(nn.Linear(10, 5), batch_size=1, micro_batch_size=1,
                          activation_bytes_per_sample=0, available_bytes=10**6)
    mixed = plan_training(nn.Linear(10, 5), batch_size=1, micro_batch_size=1,
                          activation_bytes_per_sample=0, available_bytes=10**6,
                          mixed_precision=True)
    assert (mixed.state_mb - plain.state_mb) * 2**20 == pytest.approx(55 * 2)
