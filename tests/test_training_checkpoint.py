"""Checkpoints: atomic writes (also under SIGKILL and a full disk), stale temporary files,
safe loading, clear errors, keep-best-N."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from recsys_lib import files
from recsys_lib.files import remove_stale_temp_files
from recsys_lib.training import atomic
from recsys_lib.training.atomic import atomic_save
from recsys_lib.training.checkpoint import (
    CheckpointError,
    CheckpointManager,
    load_checkpoint,
    load_weights,
    save_weights,
)


def net(seed: int = 0, width: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, 1))


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values(), strict=True))


def test_weights_round_trip_and_metadata(tmp_path):
    source, target = net(0), net(1)
    save_weights(source, tmp_path / "w.pt", metadata={"epoch": 3})
    assert load_weights(target, tmp_path / "w.pt") == {"epoch": 3}
    assert same_weights(source, target)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed away


def test_fp16_storage_halves_the_file_and_restores_float32(tmp_path):
    source = net(0, width=4096)
    save_weights(source, tmp_path / "full.pt")
    save_weights(source, tmp_path / "half.pt", fp16=True)
    assert (tmp_path / "half.pt").stat().st_size < 0.6 * (tmp_path / "full.pt").stat().st_size
    target = net(1, width=4096)
    load_weights(target, tmp_path / "half.pt")
    for x, y in zip(source.parameters(), target.parameters(), strict=True):
        assert y.dtype == torch.float32
        torch.testing.assert_close(x, y, atol=1e-3, rtol=1e-3)


def test_corrupt_and_truncated_files_name_the_file(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"garbage\.pt is unreadable"):
        load_checkpoint(garbage)
    save_weights(net(0, width=64), tmp_path / "whole.pt")
    data = (tmp_path / "whole.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt is unreadable \(truncated or corrupt"):
        load_weights(net(0, width=64), tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_foreign_payloads_and_pickled_objects_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a recsys_lib checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    # weights_only=True refuses arbitrary objects instead of running their pickle code
    torch.save({"format": "recsys_lib.checkpoint", "obj": Path("x")}, tmp_path / "obj.pt")
    with pytest.raises(CheckpointError, match=r"obj\.pt is unreadable"):
        load_checkpoint(tmp_path / "obj.pt")


def test_mismatched_weights_list_every_difference(tmp_path):
    save_weights(net(0, width=4), tmp_path / "w.pt")
    with pytest.raises(CheckpointError) as error:
        load_weights(net(0, width=5), tmp_path / "w.pt")
    message = str(error.value)
    assert "0.weight: file (4, 3) vs model (5, 3)" in message
    assert "2.weight: file (1, 4) vs model (1, 5)" in message
    with pytest.raises(CheckpointError, match=r"missing 1\.weight.*unexpected 2\.weight"):
        load_weights(nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1)), tmp_path / "w.pt")


def test_resuming_from_a_weights_only_file_is_refused(tmp_path):
    save_weights(net(0), tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="holds weights only"):
        load_checkpoint(tmp_path / "w.pt", kind="full")


def test_manager_keeps_the_best_n_files_and_restores_the_best(tmp_path):
    manager = CheckpointManager(tmp_path, mode="min", keep_best=2)
    snapshots = {}
    for epoch, metric in enumerate([3.0, 2.0, 2.5, 1.0], start=1):
        module = net(epoch)
        snapshots[epoch] = module
        manager.update(module, metric, epoch)
    assert sorted(p.name for p in tmp_path.glob("best-*.pt")) == [
        "best-epoch0002.pt", "best-epoch0004.pt"]
    assert (manager.best_epoch, manager.best_metric) == (4, 1.0)
    target = net(99)
    assert manager.restore_best(target)
    assert same_weights(target, snapshots[4])


def test_in_memory_best_is_a_copy_not_a_view():
    module = net(0)
    manager = CheckpointManager(None, mode="max")
    manager.update(module, 0.5, 1)
    kept = [p.detach().clone() for p in module.parameters()]
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1.0)
    manager.restore_best(module)
    assert all(torch.equal(a, b) for a, b in zip(kept, module.parameters(), strict=True))
    assert not manager.update(module, 0.4, 2)  # worse in "max" mode


_KILLED_WRITER = textwrap.dedent("""
    import sys, time, torch
    from recsys_lib.training import atomic, checkpoint

    path = sys.argv[1]
    atomic.atomic_save({"format": checkpoint.CHECKPOINT_FORMAT, "kind": "weights",
                        "state_dict": {"w": torch.zeros(1000)}, "version": 1}, path)
    real_save = torch.save

    def slow_save(obj, handle):
        real_save(obj, handle)
        handle.flush()
        print("MID-WRITE", flush=True)  # the new file is half-way: written, not renamed
        time.sleep(60)

    torch.save = slow_save
    atomic.atomic_save({"format": checkpoint.CHECKPOINT_FORMAT, "kind": "weights",
                        "state_dict": {"w": torch.ones(1000)}, "version": 1}, path)
""")


@pytest.mark.slow
def test_sigkill_while_writing_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "last.pt"
    process = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "MID-WRITE"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert list(tmp_path.glob(".last.pt.*.tmp"))  # the interrupted write's temporary file
    payload = load_checkpoint(path)
    assert torch.equal(payload["state_dict"]["w"], torch.zeros(1000))


def test_failed_write_removes_its_temporary_file(tmp_path):
    with pytest.raises((AttributeError, TypeError)):  # a lambda cannot be pickled
        atomic_save({"format": "x", "bad": lambda: None}, tmp_path / "w.pt")
    assert not list(tmp_path.iterdir())


def test_improvements_must_beat_min_delta():
    manager = CheckpointManager(None, mode="min", min_delta=0.1)
    assert manager.update(net(0), 1.0, 1)
    assert not manager.update(net(0), 0.95, 2)  # better, but by less than min_delta
    assert manager.update(net(0), 0.85, 3)
    assert manager.best_epoch == 3


class _Usage:
    def __init__(self, free: int) -> None:
        self.total, self.used, self.free = 10 * 2**30, 10 * 2**30 - free, free


def _disk_with(monkeypatch, free: int) -> None:
    monkeypatch.setattr(files.shutil, "disk_usage", lambda folder: _Usage(free))


def _real_write_failure(obj, handle):
    """torch's own error for a short write: its zip writer on /dev/full (always full)."""
    handle.write(b"partial")
    real_save(obj, "/dev/full")


def _enospc(obj, handle):
    handle.write(b"partial")
    raise OSError(errno.ENOSPC, "No space left on device")


real_save = torch.save
needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")


@pytest.mark.parametrize("failing_save", [pytest.param(_real_write_failure, marks=needs_dev_full),
                                          _enospc], ids=["torch-unexpected-pos", "errno-28"])
def test_a_full_disk_mid_checkpoint_says_disk_full_and_keeps_the_old_file(
        tmp_path, monkeypatch, failing_save):
    module = net(0, width=1024)  # 5,121 float32 weights: 20 KB
    save_weights(module, tmp_path / "last.pt")
    _disk_with(monkeypatch, free=5_000)
    monkeypatch.setattr(atomic.torch, "save", failing_save)
    with pytest.raises(OSError, match=rf"^disk full: 0 MB free on "
                                      rf"{tmp_path} \(writing last\.pt\)") as error:
        save_weights(net(1, width=1024), tmp_path / "last.pt")
    assert error.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no .tmp survives
    monkeypatch.undo()
    target = net(2, width=1024)
    load_weights(target, tmp_path / "last.pt")
    assert same_weights(target, module)


@needs_dev_full
def test_a_short_write_with_space_left_is_not_called_a_full_disk(tmp_path, monkeypatch):
    _disk_with(monkeypatch, free=50 * 2**30)  # far more than the 1 KB of weights
    monkeypatch.setattr(atomic.torch, "save", _real_write_failure)
    with pytest.raises(OSError, match=r"writing .*w\.pt failed \(51,200 MB free "
                                      r".*: RuntimeError: ") as error:
        save_weights(net(0), tmp_path / "w.pt")
    assert error.value.errno == errno.EIO and "disk full" not in str(error.value)
    assert not list(tmp_path.iterdir())


def test_stale_temp_files_of_dead_writers_are_removed_when_the_manager_starts(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)  # that process has exited
    live_pid = os.getppid()  # a process that runs (pytest's parent)
    names = {
        f".last.pt.{dead_pid}.tmp": b"x" * 4096,  # a killed write: removed
        f".best-epoch0003.pt.{dead_pid}.tmp": b"y",  # removed
        f".last.pt.{live_pid}.tmp": b"z",  # a live writer's: kept
        f".last.pt.{os.getpid()}.tmp": b"w",  # this process's own: kept
        "last.pt": b"real",  # checkpoints and other files: kept
        "best-epoch0002.pt": b"real",
        "notes.tmp": b"mine",
        f".last.pt.{dead_pid}.tmp.bak": b"other",
    }
    for name, content in names.items():
        (tmp_path / name).write_bytes(content)
    CheckpointManager(tmp_path)
    kept = {p.name for p in tmp_path.iterdir()}
    assert kept == set(names) - {f".last.pt.{dead_pid}.tmp", f".best-epoch0003.pt.{dead_pid}.tmp"}
    assert remove_stale_temp_files(tmp_path) == []  # nothing left to remove
    assert remove_stale_temp_files(tmp_path / "missing") == []
