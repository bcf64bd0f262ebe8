"""The runtimes the bundle supports, as data: one frozen `Runtime` per notebook host.

Each entry names its CPython version, the wheel platform tags its pip accepts, and the
distributions its image already ships with their versions. The bundle downloads, for every
runtime, wheels of recsys_lib's requirements the runtime lacks; tests/test_kaggle_runtimes.py
proves for each one, with pip's own resolver and without that interpreter, that the bundle
installs offline there and replaces nothing the image ships.

To support another runtime, add an entry to `RUNTIMES` (kaggle/README.md says how).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

__all__ = [
    "COLAB",
    "DEFAULT_PLATFORMS",
    "KAGGLE",
    "LOCAL",
    "RUNTIMES",
    "Runtime",
    "normalise_name",
    "runtime_for_python",
    "runtimes_for_pythons",
    "validate_python_version",
]

#: Linux x86-64 wheel tags a glibc 2.35 system (Ubuntu 22.04: Kaggle's and Colab's images)
#: installs; pip matches a wheel when any of its tags is in this list.
DEFAULT_PLATFORMS = (
    "manylinux2014_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_34_x86_64",
)
_PYTHON_VERSION = re.compile(r"3\.\d{1,2}")


def normalise_name(name: str) -> str:
    """A distribution name in PEP 503 form: "Scikit_Learn" -> "scikit-learn"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def validate_python_version(version: str) -> str:
    """Return `version` when it has the form "3.11".

    Raises:
        ValueError: another form (the message names the parameter `python_versions`).
    """
    if not _PYTHON_VERSION.fullmatch(version):
        raise ValueError(f"python_versions: expected versions like '3.11', got {version!r}")
    return version


@dataclass(frozen=True)
class Runtime:
    """A place the notebooks run: its interpreter, wheel tags and preinstalled packages.

    Attributes:
        name: short name ("kaggle", "colab", "local", or "cpython-3.X" for an extra version).
        python: CPython version, "3.12".
        platforms: wheel platform tags its pip accepts, for `pip --platform`.
        ships: distributions the image has installed, name -> version ("torch" -> "2.10.0");
            empty when nothing is known to be installed.
        description: one line for people ("Kaggle notebooks (Docker image, Dec 2025)").
    """

    name: str
    python: str
    platforms: tuple[str, ...] = DEFAULT_PLATFORMS
    ships: Mapping[str, str] = field(default_factory=dict, hash=False)
    description: str = ""

    def __post_init__(self) -> None:
        validate_python_version(self.python)
        if not self.platforms:
            raise ValueError(f"runtime {self.name!r}: platforms must not be empty")
        ships = {normalise_name(name): version for name, version in self.ships.items()}
        object.__setattr__(self, "ships", MappingProxyType(ships))

    @property
    def abi(self) -> str:
        """The CPython wheel tag, "cp312"."""
        return "cp" + self.python.replace(".", "")

    def lacks(self, requirements: Iterable[str]) -> list[str]:
        """The requirement strings whose distribution this runtime does not ship.

        Args:
            requirements: requirement strings such as "implicit>=0.7".
        """
        return [req for req in requirements if _requirement_name(req) not in self.ships]


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    if not match:
        raise ValueError(f"not a requirement: {requirement!r}")
    return normalise_name(match.group())


#: Kaggle's Python image after its move to Python 3.12 (Kaggle/docker-python, Dec 2025):
#: torch 2.10 built for CUDA 12.8 (no sm_60 kernels: P100 unusable), numpy 2, pandas 2.2;
#: it ships papermill, optuna, scikit-surprise and pyarrow, and not implicit.
KAGGLE = Runtime(
    name="kaggle",
    python="3.12",
    ships={
        "torch": "2.10.0", "numpy": "2.0.2", "pandas": "2.2.3", "scipy": "1.15.3",
        "scikit-learn": "1.6.1", "matplotlib": "3.10.0", "psutil": "7.0.0",
        "pyyaml": "6.0.2", "tqdm": "4.67.1", "threadpoolctl": "3.6.0",
        "papermill": "2.6.0", "optuna": "4.4.0", "pyarrow": "19.0.1",
        "scikit-surprise": "1.1.4",
    },
    description="Kaggle notebooks (CPython 3.12, torch 2.10 + CUDA 12.8)",
)
#: Google Colab on Python 3.13: torch 2.11, numpy 2.1, pandas 2.2; no papermill, no implicit.
COLAB = Runtime(
    name="colab",
    python="3.13",
    ships={
        "torch": "2.11.0", "numpy": "2.1.3", "pandas": "2.2.3", "scipy": "1.16.1",
        "scikit-learn": "1.6.1", "matplotlib": "3.10.0", "psutil": "5.9.5",
        "pyyaml": "6.0.2", "tqdm": "4.67.1", "threadpoolctl": "3.6.0",
        "pyarrow": "18.1.0",
    },
    description="Google Colab (CPython 3.13, torch 2.11)",
)
#: A local Linux machine on CPython 3.11 with recsys_lib's requirements at their declared
#: floors (pyproject.toml), the oldest environment the bundle must not upgrade.
LOCAL = Runtime(
    name="local",
    python="3.11",
    ships={
        "torch": "2.1.0", "numpy": "1.24.0", "pandas": "2.0.0", "scipy": "1.10.0",
        "scikit-learn": "1.3.0", "matplotlib": "3.7.0", "psutil": "5.9.0",
        "pyyaml": "6.0", "tqdm": "4.60.0", "threadpoolctl": "3.1.0",
    },
    description="a local Linux machine (CPython 3.11, requirements at their floors)",
)
#: Every supported runtime; `recsys kaggle build` fetches wheels for all of them.
RUNTIMES: tuple[Runtime, ...] = (KAGGLE, COLAB, LOCAL)


def runtime_for_python(version: str) -> Runtime:
    """The runtime of `RUNTIMES` on CPython `version`; for another version, `LOCAL` on it
    (a Linux machine with recsys_lib's requirements at their floors).

    Raises:
        ValueError: `version` is not of the form "3.11".
    """
    validate_python_version(version)
    for runtime in RUNTIMES:
        if runtime.python == version:
            return runtime
    return replace(LOCAL, name=f"cpython-{version}", python=version,
                   description=f"CPython {version} on Linux, like `local`")


def runtimes_for_pythons(versions: Sequence[str] | None) -> tuple[Runtime, ...]:
    """The runtimes `--python` selects: all of `RUNTIMES` for None, else one per version.

    Raises:
        ValueError: a version is not of the form "3.11".
    """
    if versions is None:
        return RUNTIMES
    return tuple(runtime_for_python(version) for version in dict.fromkeys(versions))
