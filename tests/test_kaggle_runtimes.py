"""Runtimes as data, and a proof per runtime, without that interpreter, that the bundle
installs offline there: pip's resolver (`--python-version`, `--platform`, `--no-index`)
takes recsys-lib and the missing dependencies from the bundle and every package the runtime
ships, at exactly the shipped version, from stand-ins of the installed packages.

The bundle with real dependency wheels is built once per session (pip downloads the
`implicit` wheels, about 23 MB); those tests skip when pypi.org is unreachable. The others
use stand-in wheels only and run offline.
"""

from __future__ import annotations

import socket
import zipfile
from pathlib import Path

import pytest

from recsys_lib.kaggle import build_bundle
from recsys_lib.kaggle.resolve import resolve_offline, write_stand_in_wheel
from recsys_lib.kaggle.runtimes import (
    COLAB,
    KAGGLE,
    LOCAL,
    RUNTIMES,
    Runtime,
    runtime_for_python,
    runtimes_for_pythons,
)
from recsys_lib.kaggle.wheels import download_command, wheel_requirements

# What must never come from the bundle where the runtime ships it.
_IMAGE_CORE = ("torch", "numpy", "pandas")


def _index_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dataset folder of a bundle built with the defaults (all runtimes)."""
    if not _index_reachable():
        pytest.skip("the package index (pypi.org) is not reachable")
    report = build_bundle(tmp_path_factory.mktemp("bundle") / "kaggle", username="tester")
    return report.dataset_dir


def test_the_table_names_the_supported_runtimes() -> None:
    assert [(r.name, r.python, r.abi) for r in RUNTIMES] == [
        ("kaggle", "3.12", "cp312"), ("colab", "3.13", "cp313"), ("local", "3.11", "cp311")]
    assert (KAGGLE.ships["torch"], KAGGLE.ships["numpy"][:2], KAGGLE.ships["pandas"][:4]) == (
        "2.10.0", "2.", "2.2.")
    assert (COLAB.ships["torch"], COLAB.ships["numpy"][:4], COLAB.ships["pandas"][:4]) == (
        "2.11.0", "2.1.", "2.2.")
    assert "papermill" in KAGGLE.ships and "papermill" not in COLAB.ships
    assert "implicit" not in KAGGLE.ships and "implicit" not in COLAB.ships
    assert all(runtime.platforms for runtime in RUNTIMES)


def test_runtime_names_its_missing_requirements() -> None:
    requirements = ["torch>=2.1", "implicit>=0.7", "Scikit_Learn>=1.3", "papermill>=2.4"]
    assert KAGGLE.lacks(requirements) == ["implicit>=0.7"]
    assert COLAB.lacks(requirements) == ["implicit>=0.7", "papermill>=2.4"]


def test_python_option_narrows_or_extends_the_list() -> None:
    assert runtimes_for_pythons(None) == RUNTIMES
    assert runtimes_for_pythons(["3.13", "3.12", "3.13"]) == (COLAB, KAGGLE)
    (extra,) = runtimes_for_pythons(["3.10"])
    assert (extra.name, extra.python, dict(extra.ships)) == ("cpython-3.10", "3.10",
                                                              dict(LOCAL.ships))
    with pytest.raises(ValueError, match=r"python_versions: expected versions like '3\.11', "
                                         r"got '312'"):
        runtime_for_python("312")
    with pytest.raises(ValueError, match="platforms must not be empty"):
        Runtime(name="bare", python="3.12", platforms=())


def test_download_command_uses_the_runtime_tags(tmp_path: Path) -> None:
    command = download_command(["implicit>=0.7"], KAGGLE, tmp_path)
    assert command[3:] == [
        "download", "--only-binary=:all:", "--no-deps", "--python-version", "3.12",
        "--implementation", "cp",
        "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
        "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_34_x86_64",
        "-d", str(tmp_path), "implicit>=0.7"]


def _fake_bundle(folder: Path, *implicit_tags: str) -> Path:
    """A dataset folder of stand-ins: recsys-lib needing torch, numpy and implicit, and an
    implicit wheel per tag needing numpy and threadpoolctl."""
    write_stand_in_wheel("recsys-lib", "0.1.0", folder,
                         requires=["torch>=2.1", "numpy>=1.24", "implicit>=0.7"])
    for tag in implicit_tags:
        write_stand_in_wheel("implicit", "0.7.3", folder, tag=tag,
                             requires=["numpy>=1.17", "threadpoolctl"])
    return folder


def test_resolution_keeps_what_the_runtime_ships(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "bundle", "cp312-cp312-manylinux2014_x86_64")
    resolution = resolve_offline(bundle, KAGGLE, tmp_path / "work")
    assert resolution.installs == {"implicit": "0.7.3", "recsys-lib": "0.1.0"}
    assert resolution.keeps == {"numpy": "2.0.2", "threadpoolctl": "3.6.0", "torch": "2.10.0"}
    assert resolution.replaces == {}


def test_a_bundle_without_a_wheel_for_the_runtime_fails(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "bundle", "cp311-cp311-manylinux2014_x86_64",
                          "cp312-cp312-manylinux2014_x86_64")
    with pytest.raises(RuntimeError, match=r"does not install offline on colab \(CPython "
                                           r"3\.13\):(.|\n)*implicit"):
        resolve_offline(bundle, COLAB, tmp_path / "work")


def test_a_bundled_numpy_is_reported_as_a_replacement(tmp_path: Path) -> None:
    bundle = _fake_bundle(tmp_path / "bundle", "cp312-cp312-manylinux2014_x86_64")
    write_stand_in_wheel("numpy", "2.9.0", bundle, tag="cp312-cp312-manylinux2014_x86_64")
    resolution = resolve_offline(bundle, KAGGLE, tmp_path / "work")
    assert resolution.replaces == {"numpy": ("2.0.2", "2.9.0")}
    assert "REPLACES numpy 2.0.2 -> 2.9.0" in resolution.to_text()


def test_a_requirement_the_shipped_version_misses_fails(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    write_stand_in_wheel("recsys-lib", "0.1.0", bundle, requires=["torch>=2.11"])
    with pytest.raises(RuntimeError, match="kaggle"):
        resolve_offline(bundle, KAGGLE, tmp_path / "work")


@pytest.mark.slow
def test_default_bundle_has_implicit_for_every_runtime(real_bundle: Path) -> None:
    implicit = sorted(p.name for p in real_bundle.glob("implicit-*.whl"))
    assert [name.split("-")[2] for name in implicit] == ["cp311", "cp312", "cp313"]
    assert all("manylinux" in name and name.endswith("_x86_64.whl") for name in implicit)
    assert {p.name.split("-")[0] for p in real_bundle.glob("*.whl")} == {"implicit",
                                                                         "recsys_lib"}


@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES, ids=lambda runtime: runtime.name)
def test_bundle_installs_offline_on_runtime(real_bundle: Path, runtime: Runtime,
                                            tmp_path: Path) -> None:
    (library,) = real_bundle.glob("recsys_lib-*.whl")
    missing = {req.split(">")[0] for req in runtime.lacks(wheel_requirements(library))}
    resolution = resolve_offline(real_bundle, runtime, tmp_path)
    assert set(resolution.installs) == {"recsys-lib", *missing} == {"recsys-lib", "implicit"}
    assert resolution.replaces == {}
    assert resolution.keeps == {name: runtime.ships[name] for name in resolution.keeps}
    for name in _IMAGE_CORE:
        assert resolution.keeps[name] == runtime.ships[name]
    with zipfile.ZipFile(next(real_bundle.glob(f"implicit-*-{runtime.abi}-*.whl"))) as wheel:
        assert any(name.startswith("implicit/") for name in wheel.namelist())


def test_runtimes_are_values() -> None:
    assert len({KAGGLE, COLAB, LOCAL, runtime_for_python("3.12")}) == 3
    with pytest.raises(TypeError):
        KAGGLE.ships["implicit"] = "0.7.3"  # read-only
