"""`recsys memory` on a machine with GPUs (a faked torch.cuda: the CI machine has none): one
row per card with the driver's used, free and total memory; "no GPU" otherwise."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest

from recsys_lib.cli import main
from recsys_lib.memory import MB, machine_memory


def _fake_torch(monkeypatch: pytest.MonkeyPatch, cards: list[tuple[str, int, int]]) -> None:
    """torch with CUDA cards of (name, used MB, total MB), capability 7.5."""
    cuda = SimpleNamespace(
        is_available=lambda: bool(cards),
        device_count=lambda: len(cards),
        get_device_name=lambda index=0: cards[index][0],
        get_device_capability=lambda index=0: (7, 5),
        mem_get_info=lambda index=0: ((cards[index][2] - cards[index][1]) * MB,
                                      cards[index][2] * MB),
    )
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))


def test_one_row_per_gpu(monkeypatch, capsys):
    _fake_torch(monkeypatch, [("Tesla T4", 1_000, 15_360), ("Tesla T4", 0, 15_360)])
    assert main(["memory"]) == 0
    gpu_lines = [line for line in capsys.readouterr().out.splitlines()
                 if line.startswith("GPU")]
    assert [line.split("  ")[0] for line in gpu_lines] == ["GPU 0 (Tesla T4, sm_75)",
                                                           "GPU 1 (Tesla T4, sm_75)"]
    assert gpu_lines[0].split("  ")[-1].strip() == (
        "used 1,000.0 MB, free 14,360.0 MB, total 15,360.0 MB")
    assert "free 15,360.0 MB" in gpu_lines[1]


def test_json_lists_the_devices(monkeypatch, capsys):
    _fake_torch(monkeypatch, [("NVIDIA L4", 512, 22_528)])
    assert main(["memory", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["devices"] == [{"index": 0, "name": "NVIDIA L4", "capability": "7.5",
                                  "used_mb": 512.0, "free_mb": 22_016.0,
                                  "total_mb": 22_528.0}]
    assert report["limit_mb"] > report["rss_mb"] > 0 and report["no_gpu_reason"] == ""


def test_no_cuda_says_no_gpu(monkeypatch, capsys):
    _fake_torch(monkeypatch, [])
    assert main(["memory"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("GPU")]
    assert line.split()[1:] == ["no", "GPU", "(torch", "sees", "no", "CUDA", "device)"]
    assert machine_memory().devices == ()
