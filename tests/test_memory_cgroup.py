"""cgroup v1/v2 parsing from files written in a temp folder, and the limit flowing into
`memory_limit`, `snapshot` and `preflight`."""

from __future__ import annotations

import logging
from pathlib import Path

import psutil
import pytest

from recsys_lib.memory import (
    CGROUP_ROOT_ENV,
    MB,
    memory_limit,
    preflight,
    read_cgroup_memory,
    snapshot,
)
from recsys_lib.memory.cgroup import parse_self_cgroup

GIB = 1024 * MB
V1_NO_LIMIT = "9223372036854771712"


def write(folder: Path, **files: str) -> Path:
    """Write cgroup files into `folder` (dots in names spelled as underscores)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text + "\n")
    return folder


def self_cgroup(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "self_cgroup"
    path.write_text(text)
    return path


@pytest.fixture
def v2_root(tmp_path: Path) -> Path:
    """A cgroup v2 root limited to 1 GiB with 320 MiB used, 64 MiB of it inactive file cache."""
    root = write(
        tmp_path / "cg",
        memory_max=str(GIB),
        memory_current=str(320 * MB),
        cgroup_controllers="cpu memory",
    )
    (root / "memory.stat").write_text(f"anon 1000\ninactive_file {64 * MB}\nactive_file 5\n")
    return root


def test_parse_self_cgroup_reads_v2_and_each_v1_controller() -> None:
    text = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/user.slice/s.scope\njunk\n"
    paths = parse_self_cgroup(text)
    assert paths == {
        "cpu": "/docker/abc",
        "cpuacct": "/docker/abc",
        "memory": "/docker/abc",
        "v2": "/user.slice/s.scope",
    }


def test_v2_limit_and_working_set(v2_root: Path, tmp_path: Path) -> None:
    found = read_cgroup_memory(v2_root, self_cgroup=self_cgroup(tmp_path, "0::/\n"))
    assert found is not None
    assert (found.source, found.limit_bytes, found.group) == ("cgroup v2", GIB, v2_root)
    assert found.usage_bytes == (320 - 64) * MB  # current minus inactive file cache


def test_v2_max_means_no_limit(tmp_path: Path) -> None:
    root = write(tmp_path / "cg", memory_max="max", memory_current="1234")
    found = read_cgroup_memory(root, self_cgroup=self_cgroup(tmp_path, "0::/\n"))
    assert found is not None
    assert (found.limit_bytes, found.usage_bytes) == (None, 1234)


def test_v2_smallest_limit_on_the_way_up_wins(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    write(root / "kubepods", memory_max=str(2 * GIB), memory_current=str(GIB))
    write(root / "kubepods" / "pod", memory_max="max", memory_current=str(GIB // 2))
    inner = write(root / "kubepods" / "pod" / "c1", memory_max=str(3 * GIB), memory_current="7")
    own = self_cgroup(tmp_path, "0::/kubepods/pod/c1\n")
    found = read_cgroup_memory(root, self_cgroup=own)
    assert found is not None
    assert (found.limit_bytes, found.usage_bytes) == (2 * GIB, GIB)
    assert found.group == root / "kubepods"
    (inner / "memory.max").write_text(str(GIB))
    found = read_cgroup_memory(root, self_cgroup=own)
    assert found is not None
    assert (found.limit_bytes, found.usage_bytes, found.group) == (GIB, 7, inner)


def test_group_path_missing_under_root_falls_back_to_root(v2_root: Path, tmp_path: Path) -> None:
    # A container sees its own group mounted as the root, while /proc/self/cgroup still
    # names the host's path for it.
    own = self_cgroup(tmp_path, "0::/system.slice/docker-abc.scope\n")
    found = read_cgroup_memory(v2_root, self_cgroup=own)
    assert found is not None
    assert (found.limit_bytes, found.group) == (GIB, v2_root)


def test_v1_limit_usage_and_own_group(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    write(root / "memory", memory_limit_in_bytes=V1_NO_LIMIT, memory_usage_in_bytes="1")
    group = write(
        root / "memory" / "process_api" / "abc",
        memory_limit_in_bytes=str(512 * MB),
        memory_usage_in_bytes=str(100 * MB),
    )
    (group / "memory.stat").write_text(f"cache 9\ninactive_file 1\ntotal_inactive_file {10 * MB}\n")
    own = self_cgroup(tmp_path, "4:memory:/process_api/abc\n0::/\n")
    found = read_cgroup_memory(root, self_cgroup=own)
    assert found is not None
    assert (found.source, found.limit_bytes, found.usage_bytes) == ("cgroup v1", 512 * MB, 90 * MB)
    assert found.group == group


def test_v1_huge_limit_means_no_limit(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    write(root / "memory", memory_limit_in_bytes=V1_NO_LIMIT, memory_usage_in_bytes=str(5 * MB))
    found = read_cgroup_memory(root, self_cgroup=self_cgroup(tmp_path, "4:memory:/\n"))
    assert found is not None
    assert (found.source, found.limit_bytes, found.usage_bytes) == ("cgroup v1", None, 5 * MB)


def test_hybrid_layout_without_v2_memory_uses_v1(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    write(root / "unified", cgroup_controllers="")
    write(root / "memory", memory_limit_in_bytes=str(GIB), memory_usage_in_bytes="0")
    found = read_cgroup_memory(root, self_cgroup=self_cgroup(tmp_path, "0::/\n4:memory:/\n"))
    assert found is not None
    assert (found.source, found.limit_bytes) == ("cgroup v1", GIB)


def test_no_cgroup_files_gives_none(tmp_path: Path) -> None:
    assert read_cgroup_memory(tmp_path, self_cgroup=tmp_path / "missing") is None


def test_malformed_limit_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = write(tmp_path / "cg", memory_max="lots", memory_current="10")
    with caplog.at_level(logging.WARNING, logger="recsys_lib.memory.cgroup"):
        found = read_cgroup_memory(root, self_cgroup=tmp_path / "missing")
    assert found is not None
    assert (found.limit_bytes, found.usage_bytes) == (None, 10)
    assert "memory.max" in caplog.text and "'lots'" in caplog.text


def test_env_var_names_the_root(v2_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CGROUP_ROOT_ENV, str(v2_root))
    found = read_cgroup_memory(self_cgroup=v2_root / "missing")
    assert found is not None and found.limit_bytes == GIB


def test_memory_limit_uses_the_container_limit(v2_root: Path) -> None:
    limit = memory_limit(v2_root)
    assert (limit.limit_bytes, limit.source) == (GIB, "cgroup v2")
    # 1 GiB limit - 256 MiB working set, unless the machine itself has less available.
    assert limit.available_bytes == min(768 * MB, psutil.virtual_memory().available)


def test_limit_above_the_machine_is_reported_as_system(tmp_path: Path) -> None:
    total = psutil.virtual_memory().total
    root = write(tmp_path / "cg", memory_max=str(total * 4), memory_current="0")
    limit = memory_limit(root)
    assert (limit.limit_bytes, limit.source) == (total, "system")


def test_snapshot_and_preflight_see_the_container_limit(
    v2_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = snapshot(v2_root, cgroup_root=v2_root)
    assert (snap.limit_mb, snap.limit_source, snap.available_mb) == (1024.0, "cgroup v2", 768.0)
    assert ("memory limit (cgroup v2)", "1,024.0 MB") in snap.rows()
    monkeypatch.setenv(CGROUP_ROOT_ENV, str(v2_root))
    check = preflight(600 * MB, label="ALS fit")
    assert check.verdict == "tight"
    assert check.message.startswith("ALS fit: needs ~600.0 MB of 768.0 MB available -> tight")
    assert preflight(800 * MB).verdict == "will not fit"
