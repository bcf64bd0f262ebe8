"""The wheels in the Kaggle dataset: recsys_lib's own, built from the source checkout, and
those of the runtime dependencies that Kaggle's image does not ship, downloaded for each
Python version Kaggle runs (so the notebooks install everything offline)."""

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

__all__ = [
    "KAGGLE_MISSING_PACKAGES",
    "MANYLINUX_PLATFORMS",
    "build_library_wheel",
    "download_command",
    "download_dependency_wheels",
    "runtime_requirements",
    "validate_python_version",
]

logger = logging.getLogger(__name__)

#: recsys_lib's runtime dependencies that Kaggle's Python image lacks. torch, numpy,
#: pandas, scipy, scikit-learn, psutil, matplotlib, pyyaml and tqdm ship with it.
KAGGLE_MISSING_PACKAGES = ("implicit",)
#: Linux x86-64 wheel tags Kaggle's image (Ubuntu 22.04, glibc 2.35) can install.
MANYLINUX_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
# Files and folders of the checkout that never go into the wheel build.
_BUILD_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
_PYTHON_VERSION = re.compile(r"3\.\d{1,2}")
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


def runtime_requirements(wheel: Path, packages: Sequence[str] = KAGGLE_MISSING_PACKAGES
                         ) -> list[str]:
    """The wheel's own requirement lines (Requires-Dist, without extras) for `packages`.

    Reading the specifiers from the built wheel keeps one source of truth: pyproject.toml.

    Args:
        wheel: a recsys_lib wheel.
        packages: distribution names to pick (any spelling: "Implicit", "scikit_learn").

    Returns:
        Requirement strings such as "implicit>=0.7", in the order of `packages`.

    Raises:
        ValueError: a package is not a runtime requirement of the wheel.
    """
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode("utf-8")
    found = {}
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:") or ";" in line:
            continue
        requirement = line.removeprefix("Requires-Dist:").strip()
        match = _REQUIREMENT_NAME.match(requirement)
        if match:
            found[_normalise(match.group())] = requirement.replace(" ", "")
    missing = [name for name in packages if _normalise(name) not in found]
    if missing:
        raise ValueError(
            f"{wheel.name}: {', '.join(missing)} not among its runtime requirements "
            f"({', '.join(sorted(found)) or 'none'})"
        )
    return [found[_normalise(name)] for name in packages]


def download_command(requirements: Sequence[str], python_version: str, dest: Path) -> list[str]:
    """The `pip download` command that fetches binary wheels of `requirements` (without
    their dependencies) for CPython `python_version` on Linux x86-64.

    Raises:
        ValueError: `python_version` is not of the form "3.11".
    """
    validate_python_version(python_version)
    platforms = [arg for tag in MANYLINUX_PLATFORMS for arg in ("--platform", tag)]
    return [
        sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
        "--python-version", python_version, "--implementation", "cp", *platforms,
        "-d", str(dest), *requirements,
    ]


def validate_python_version(version: str) -> str:
    """Return `version` when it has the form "3.11".

    Raises:
        ValueError: another form (the message names the parameter `python_versions`).
    """
    if not _PYTHON_VERSION.fullmatch(version):
        raise ValueError(f"python_versions: expected versions like '3.11', got {version!r}")
    return version


def download_dependency_wheels(requirements: Sequence[str], python_versions: Sequence[str],
                               dest: Path) -> list[Path]:
    """Download the wheels of `requirements` for each Python version into `dest`.

    Returns:
        The downloaded wheel files in `dest`, sorted by name.

    Raises:
        RuntimeError: pip failed, for example without network access to the package index
            (the message names the version and holds the end of pip's output).
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recsys-deps-") as tmp:
        for version in python_versions:
            command = download_command(requirements, version, Path(tmp))
            _run_pip(command, what=f"downloading {', '.join(requirements)} for Python "
                     f"{version} (build with --no-deps-wheels to skip this step)")
        wheels = sorted(Path(tmp).glob("*.whl"))
        for wheel in wheels:
            shutil.move(wheel, dest / wheel.name)
    logger.info("downloaded %s", ", ".join(wheel.name for wheel in wheels))
    return [dest / wheel.name for wheel in wheels]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _run_pip(command: list[str], *, what: str) -> None:
    logger.debug("running %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{what} failed (pip exit status {done.returncode}):\n{tail}")
