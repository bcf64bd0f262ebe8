"""The wheels in the Kaggle dataset: recsys_lib's own, built from the source checkout, and
those of the runtime dependencies a supported runtime does not ship, downloaded for each
runtime's Python version and platform (so the notebooks install everything offline)."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from recsys_lib.kaggle.runtimes import Runtime, normalise_name

__all__ = [
    "build_library_wheel",
    "download_command",
    "download_dependency_wheels",
    "runtime_requirements",
    "wheel_requirements",
]

logger = logging.getLogger(__name__)

# Files and folders of the checkout that never go into the wheel build.
_BUILD_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def build_library_wheel(source_dir: Path, dest: Path) -> Path:
    """Build the recsys_lib wheel with `pip wheel --no-deps --no-build-isolation`.

    The build runs on a copy of pyproject.toml, README.md and recsys_lib/ in a temporary
    folder, so the checkout gets no build/ or egg-info folders.

    Args:
        source_dir: the checkout (the folder holding pyproject.toml).
        dest: folder the wheel is written to (created if missing).

    Returns:
        Path of the wheel.

    Raises:
        FileNotFoundError: a file the build needs is missing from `source_dir`.
        RuntimeError: pip failed (the message holds the end of its output).
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recsys-wheel-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        for name in ("pyproject.toml", "README.md"):
            if not (source_dir / name).is_file():
                raise FileNotFoundError(f"{source_dir / name}: needed to build the wheel")
            shutil.copy2(source_dir / name, project / name)
        shutil.copytree(source_dir / "recsys_lib", project / "recsys_lib", ignore=_BUILD_IGNORE)
        out = Path(tmp) / "wheel"
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                   "-w", str(out), str(project)]
        _run_pip(command, what=f"building the recsys_lib wheel from {source_dir}")
        (built,) = out.glob("recsys_lib-*.whl")
        target = dest / built.name
        shutil.move(built, target)
    logger.info("built %s", target.name)
    return target


def wheel_requirements(wheel: Path) -> list[str]:
    """The wheel's unconditional requirement lines (Requires-Dist without a marker or extra).

    Reading the specifiers from the built wheel keeps one source of truth: pyproject.toml.

    Args:
        wheel: a recsys_lib wheel.

    Returns:
        Requirement strings such as "implicit>=0.7", in the wheel's order.
    """
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode("utf-8")
    found = []
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:") or ";" in line:
            continue
        requirement = line.removeprefix("Requires-Dist:").strip()
        if _REQUIREMENT_NAME.match(requirement):
            found.append(requirement.replace(" ", ""))
    return found


def runtime_requirements(wheel: Path, packages: Sequence[str]) -> list[str]:
    """The wheel's own requirement lines for `packages`.

    Args:
        wheel: a recsys_lib wheel.
        packages: distribution names to pick (any spelling: "Implicit", "scikit_learn").

    Returns:
        Requirement strings such as "implicit>=0.7", in the order of `packages`.

    Raises:
        ValueError: a package is not a runtime requirement of the wheel.
    """
    found = {normalise_name(_REQUIREMENT_NAME.match(req).group()): req
             for req in wheel_requirements(wheel)}
    missing = [name for name in packages if normalise_name(name) not in found]
    if missing:
        raise ValueError(
            f"{wheel.name}: {', '.join(missing)} not among its runtime requirements "
            f"({', '.join(sorted(found)) or 'none'})"
        )
    return [found[normalise_name(name)] for name in packages]


def download_command(requirements: Sequence[str], runtime: Runtime, dest: Path) -> list[str]:
    """The `pip download` command that fetches binary wheels of `requirements` (without
    their dependencies) for `runtime`'s CPython version and platform tags."""
    platforms = [arg for tag in runtime.platforms for arg in ("--platform", tag)]
    return [
        sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
        "--python-version", runtime.python, "--implementation", "cp", *platforms,
        "-d", str(dest), *requirements,
    ]


def download_dependency_wheels(requirements: Sequence[str], runtimes: Sequence[Runtime],
                               dest: Path) -> list[Path]:
    """Download, for each runtime, the wheels of the `requirements` it does not ship.

    Args:
        requirements: requirement strings (recsys_lib's, from `wheel_requirements`).
        runtimes: the runtimes to cover; one `pip download` per runtime that lacks any.
        dest: folder the wheels go to (created if missing).

    Returns:
        The downloaded wheel files in `dest`, sorted by name.

    Raises:
        RuntimeError: pip failed, for example without network access to the package index
            (the message names the runtime and holds the end of pip's output).
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recsys-deps-") as tmp:
        for runtime in runtimes:
            lacking = runtime.lacks(requirements)
            if not lacking:
                continue
            command = download_command(lacking, runtime, Path(tmp))
            _run_pip(command, what=f"downloading {', '.join(lacking)} for {runtime.name} "
                     f"(CPython {runtime.python}; build with --no-deps-wheels to skip this step)")
        wheels = sorted(Path(tmp).glob("*.whl"))
        for wheel in wheels:
            shutil.move(wheel, dest / wheel.name)
    logger.info("downloaded %s", ", ".join(wheel.name for wheel in wheels))
    return [dest / wheel.name for wheel in wheels]


def _run_pip(command: list[str], *, what: str) -> None:
    logger.debug("running %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{what} failed (pip exit status {done.returncode}):\n{tail}")
