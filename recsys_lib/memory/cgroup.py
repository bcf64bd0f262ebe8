"""The container's memory limit and usage, read from cgroup v2 or v1 files.

The limit that kills a Kaggle or Docker kernel is the cgroup's, not the machine's, so the
memory report starts here. The cgroup root is `/sys/fs/cgroup` unless an argument or the
RECSYS_CGROUP_ROOT environment variable names another folder (tests point it at a temp folder).

The process's own group comes from /proc/self/cgroup. Inside a container that path often does
not exist under the mounted root (the container's group is mounted as the root itself), so the
search walks from the group's folder up to the root and keeps the folders that exist. Every
unreadable or malformed file falls back to "no information", never to an error.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

__all__ = [
    "CGROUP_ROOT_ENV",
    "DEFAULT_CGROUP_ROOT",
    "SELF_CGROUP_FILE",
    "CgroupMemory",
    "cgroup_root",
    "parse_self_cgroup",
    "read_cgroup_memory",
]

logger = logging.getLogger(__name__)

CGROUP_ROOT_ENV = "RECSYS_CGROUP_ROOT"
DEFAULT_CGROUP_ROOT = "/sys/fs/cgroup"
SELF_CGROUP_FILE = "/proc/self/cgroup"
# cgroup v1 writes "no limit" as LONG_MAX rounded down to a page (9223372036854771712);
# anything this large is no limit on any machine that exists.
_UNLIMITED_BYTES = 2**62


class _Layout(NamedTuple):
    source: str
    limit_file: str
    usage_file: str
    inactive_keys: tuple[str, ...]  # memory.stat keys of reclaimable file cache, first found wins


_V2 = _Layout("cgroup v2", "memory.max", "memory.current", ("inactive_file",))
_V1 = _Layout(
    "cgroup v1",
    "memory.limit_in_bytes",
    "memory.usage_in_bytes",
    ("total_inactive_file", "inactive_file"),
)


@dataclass(frozen=True)
class CgroupMemory:
    """Memory limit and usage of the cgroup that bounds this process.

    Attributes:
        source: "cgroup v2" or "cgroup v1".
        limit_bytes: the smallest limit from the process's group up to the root, in bytes;
            None when no group on the way sets one.
        usage_bytes: usage of the group holding that limit minus its inactive file cache
            (the working set, as `docker stats` counts it), in bytes; None when unreadable.
        group: folder of the group the numbers come from.
    """

    source: str
    limit_bytes: int | None
    usage_bytes: int | None
    group: Path


def cgroup_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The cgroup mount folder: `root`, else RECSYS_CGROUP_ROOT, else /sys/fs/cgroup."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(CGROUP_ROOT_ENV) or DEFAULT_CGROUP_ROOT)


def parse_self_cgroup(text: str) -> dict[str, str]:
    """Group paths by hierarchy from the text of /proc/self/cgroup.

    Lines look like "0::/user.slice/x.scope" (cgroup v2, returned under the key "v2") or
    "4:memory:/docker/abc" (cgroup v1, one key per controller, here "memory"). Lines that do
    not have this shape are skipped.
    """
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and not controllers:
            paths["v2"] = path
        for name in filter(None, controllers.split(",")):
            paths[name] = path
    return paths


def read_cgroup_memory(
    root: str | os.PathLike[str] | None = None,
    *,
    self_cgroup: str | os.PathLike[str] = SELF_CGROUP_FILE,
) -> CgroupMemory | None:
    """The memory limit and usage of this process's cgroup, v2 first, then v1.

    Args:
        root: cgroup mount folder; None = RECSYS_CGROUP_ROOT, else /sys/fs/cgroup.
        self_cgroup: file listing the process's groups (/proc/self/cgroup); a missing file
            means the groups at the root.

    Returns:
        The numbers of the first layout found (v2: `memory.max`, "max" = no limit,
        `memory.current`; v1: `memory/memory.limit_in_bytes`, a huge value = no limit,
        `memory/memory.usage_in_bytes`), or None when neither has memory files.
    """
    base = cgroup_root(root)
    paths = parse_self_cgroup(_read_text(Path(self_cgroup)) or "")
    found = _read_layout(base, paths.get("v2", "/"), _V2)
    if found is None:
        found = _read_layout(base / "memory", paths.get("memory", "/"), _V1)
    return found


def _read_layout(base: Path, group_path: str, layout: _Layout) -> CgroupMemory | None:
    groups = [
        folder
        for folder in _folders_up(base, group_path)
        if (folder / layout.limit_file).is_file() or (folder / layout.usage_file).is_file()
    ]
    if not groups:
        return None
    bound_group, bound_limit = groups[0], None
    for folder in groups:
        limit = _read_limit(folder / layout.limit_file)
        if limit is not None and (bound_limit is None or limit < bound_limit):
            bound_group, bound_limit = folder, limit
    usage = _read_working_set(bound_group, layout)
    return CgroupMemory(layout.source, bound_limit, usage, bound_group)


def _folders_up(base: Path, group_path: str) -> list[Path]:
    """Existing folders from base/group_path up to base, deepest first."""
    parts = [part for part in PurePosixPath(group_path).parts if part not in ("/", "", "..")]
    candidates = [base.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]
    return [folder for folder in candidates if folder.is_dir()]


def _read_limit(path: Path) -> int | None:
    text = _read_text(path)
    if text is None or text == "max":
        return None
    value = _parse_int(path, text)
    return None if value is None or value >= _UNLIMITED_BYTES else value


def _read_working_set(group: Path, layout: _Layout) -> int | None:
    usage_file = group / layout.usage_file
    text = _read_text(usage_file)
    usage = None if text is None else _parse_int(usage_file, text)
    if usage is None:
        return None
    stat = _read_text(group / "memory.stat") or ""
    fields = dict(line.split(maxsplit=1) for line in stat.splitlines() if " " in line)
    for key in layout.inactive_keys:
        inactive = fields.get(key, "").strip()
        if inactive.isdigit():
            return max(usage - int(inactive), 0)
    return usage


def _parse_int(path: Path, text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        logger.warning("ignoring %s: expected an integer number of bytes, got %r", path, text)
        return None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
