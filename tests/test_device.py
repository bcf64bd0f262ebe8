"""Device resolution with a faked torch.cuda: a card the installed torch has no code for
(Kaggle's P100 under torch 2.10 + CUDA 12.8) falls back to the CPU with one warning."""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

import pytest

from recsys_lib import device as device_module
from recsys_lib.device import arch_list_supports, resolve_device

# torch 2.10's CUDA 12.8 wheel (no Pascal, no Volta).
CU128 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch):
    """Install a fake `torch` whose CUDA has cards of the given (name, capability)."""
    monkeypatch.delenv("RECSYS_DEVICE", raising=False)
    device_module._card_is_usable.cache_clear()

    def install(cards: list[tuple[str, tuple[int, int]]], arch_list: list[str]) -> None:
        cuda = SimpleNamespace(
            is_available=lambda: bool(cards),
            device_count=lambda: len(cards),
            get_device_capability=lambda index=0: cards[index][1],
            get_device_name=lambda index=0: cards[index][0],
            get_arch_list=lambda: list(arch_list),
        )
        monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda,
                                                                  __version__="2.10.0+cu128"))

    yield install
    device_module._card_is_usable.cache_clear()


@pytest.mark.parametrize(("capability", "arch_list", "expected"), [
    ((7, 5), CU128, True),            # T4: sm_75 cubin
    ((8, 9), CU128, True),            # L4: sm_86 cubin runs on 8.9 (same major, later minor)
    ((6, 0), CU128, False),           # P100
    ((7, 0), CU128, False),           # V100: no sm_70, no PTX at or below 7.0
    ((12, 1), CU128, True),           # sm_120 cubin and compute_120 PTX
    ((13, 0), CU128, True),           # only through compute_120 PTX
    ((13, 0), ["sm_75", "sm_120"], False),
    ((9, 0), ["sm_90a"], True),       # arch-specific cubin: exactly 9.0 ...
    ((9, 1), ["sm_90a"], False),      # ... and nothing else
    ((6, 1), ["sm_50", "compute_60"], True),
    ((6, 0), [], True),               # no list: nothing to judge by
])
def test_arch_list_supports(capability: tuple[int, int], arch_list: list[str],
                            expected: bool) -> None:
    assert arch_list_supports(capability, arch_list) is expected


def test_supported_card_is_used(fake_cuda) -> None:
    fake_cuda([("Tesla T4", (7, 5)), ("Tesla T4", (7, 5))], CU128)
    assert resolve_device() == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"


def test_unsupported_card_falls_back_with_one_warning(fake_cuda,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    fake_cuda([("Tesla P100-PCIE-16GB", (6, 0))], CU128)
    with caplog.at_level(logging.WARNING, logger="recsys_lib.device"):
        assert [resolve_device(), resolve_device("auto"), resolve_device("cuda")] == ["cpu"] * 3
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith("GPU 0 (Tesla P100-PCIE-16GB, compute capability 6.0) is not "
                              "supported by torch 2.10.0+cu128 (built for sm_75, sm_80,")
    assert "using the CPU" in message


def test_environment_variable_asks_for_an_unsupported_card(fake_cuda, monkeypatch) -> None:
    fake_cuda([("Tesla T4", (7, 5)), ("Tesla K80", (3, 7))], CU128)
    monkeypatch.setenv("RECSYS_DEVICE", "cuda:1")
    assert resolve_device() == "cpu"
    monkeypatch.setenv("RECSYS_DEVICE", "cuda:0")
    assert resolve_device() == "cuda:0"


def test_no_cuda_keeps_the_old_answers(fake_cuda) -> None:
    fake_cuda([], CU128)
    assert resolve_device() == "cpu"
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
