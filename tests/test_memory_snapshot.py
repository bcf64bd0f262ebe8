"""Snapshots: readings against psutil and shutil, the delta, the table and text forms,
and the promise that importing and using the memory monitor never imports torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from recsys_lib.memory import MB, GpuMemory, MemorySnapshot, snapshot


def make_snapshot(rss_mb: float, available_mb: float, *gpus: GpuMemory) -> MemorySnapshot:
    return MemorySnapshot(
        rss_mb=rss_mb,
        limit_mb=16_384.0,
        limit_source="cgroup v2",
        available_mb=available_mb,
        disk_free_mb=20_000.0,
        gpus=gpus,
        disk_path="/kaggle/working",
    )


def test_snapshot_matches_psutil_and_disk_usage(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, gpu=False)
    assert abs(snap.rss_mb - psutil.Process().memory_info().rss / MB) < 50
    assert abs(snap.disk_free_mb - shutil.disk_usage(tmp_path).free / MB) < 100
    assert 0 < snap.available_mb <= snap.limit_mb
    assert snap.limit_source in ("cgroup v2", "cgroup v1", "system")
    assert snap.disk_path == str(tmp_path.resolve())
    assert snap.gpus == ()


def test_snapshot_of_a_missing_folder_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        snapshot(tmp_path / "nowhere")


def test_subtracting_snapshots_gives_a_signed_delta() -> None:
    gpu_before = GpuMemory(0, "Tesla T4", 100.0, 200.0, 15_000.0, 150.0)
    gpu_after = GpuMemory(0, "Tesla T4", 350.0, 512.0, 15_000.0, 900.0)
    other_gpu = GpuMemory(1, "Tesla T4", 1.0, 1.0, 15_000.0, 1.0)
    delta = make_snapshot(1_500.0, 9_000.0, gpu_after, other_gpu) - make_snapshot(
        1_000.0, 10_000.0, gpu_before
    )
    assert delta.is_delta
    assert (delta.rss_mb, delta.available_mb, delta.limit_mb) == (500.0, -1_000.0, 0.0)
    assert delta.gpus == (GpuMemory(0, "Tesla T4", 250.0, 312.0, 0.0, 750.0),)
    assert ("process RSS", "+500.0 MB") in delta.rows()
    assert ("available", "-1,000.0 MB") in delta.rows()


def test_table_and_text_show_the_same_rows() -> None:
    snap = make_snapshot(1_234.5, 10_000.0, GpuMemory(0, "Tesla T4", 1.0, 2.0, 15_360.0, 3.0))
    frame = snap.to_frame()
    assert list(frame.columns) == ["what", "value"]
    assert frame["what"].tolist() == [
        "process RSS",
        "memory limit (cgroup v2)",
        "available",
        "disk free (/kaggle/working)",
        "GPU 0 (Tesla T4)",
    ]
    assert frame["value"].iloc[0] == "1,234.5 MB"
    assert frame["value"].iloc[4] == (
        "allocated 1.0 MB, reserved 2.0 MB, peak 3.0 MB, total 15,360.0 MB"
    )
    lines = snap.to_text().splitlines()
    assert len(lines) == 5
    value_column = {line.index(value) for line, value in zip(lines, frame["value"], strict=True)}
    assert value_column == {len("disk free (/kaggle/working)") + 2}


def test_memory_monitor_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from recsys_lib.memory import snapshot, track, cleanup, preflight\n"
        "with track('x'):\n"
        "    snapshot()\n"
        "cleanup(); preflight(1)\n"
        "sys.exit(3 if 'torch' in sys.modules else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr or "torch was imported"
