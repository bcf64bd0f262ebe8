"""The Kaggle bundle builder: notebooks start with the bootstrap cell, the metadata files
pass the checks the official Kaggle CLI makes, the notebook copies are Kaggle-ready, and
the dependency wheels are fetched with the right `pip download` command.

The Kaggle CLI's checks encoded here come from Kaggle/kaggle-api 1.7.4
(src/kaggle/api/kaggle_api_extended.py: `dataset_create_new`, `kernels_push`,
`get_bool`, `validate_kernel_string`) and its docs/datasets_metadata.md (licence names).
"""

from __future__ import annotations

import json
import re
import socket
import zipfile
from pathlib import Path

import jupytext
import pytest

from recsys_lib.kaggle import build_bundle, main
from recsys_lib.kaggle.bundle import (
    BOOTSTRAP_CELL,
    BOOTSTRAP_PLACEHOLDER,
    BundleReport,
    default_source_dir,
    kaggle_notebook,
)
from recsys_lib.kaggle.metadata import GPU_ACCELERATORS, kernel_metadata, slugify
from recsys_lib.kaggle.runtimes import LOCAL
from recsys_lib.kaggle.wheels import (
    download_dependency_wheels,
    runtime_requirements,
    wheel_requirements,
)

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = (ROOT / BOOTSTRAP_CELL).read_text(encoding="utf-8")
USER = "tester"
# Licence names `kaggle datasets create` accepts (docs/datasets_metadata.md).
KAGGLE_LICENSES = {
    "CC0-1.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC-BY-NC-SA-4.0", "GPL-2.0", "ODbL-1.0",
    "DbCL-1.0", "copyright-authors", "other", "unknown", "CC-BY-4.0", "CC-BY-NC-4.0", "PDDL",
    "CC-BY-3.0", "CC-BY-3.0-IGO", "US-Government-Works", "CC-BY-NC-SA-3.0-IGO",
    "CDLA-Permissive-1.0", "CDLA-Sharing-1.0", "CC-BY-ND-4.0", "CC-BY-NC-ND-4.0",
    "ODC-BY-1.0", "LGPL-3.0", "AGPL-3.0", "FDL-1.3", "EU-ODP-Legal-Notice", "apache-2.0",
    "GPL-3.0",
}


def check_dataset_metadata(folder: Path) -> dict:
    """What `kaggle datasets create -p folder` checks before uploading."""
    meta = json.loads((folder / "dataset-metadata.json").read_text())
    owner, slug = meta["id"].split("/")
    assert owner and 6 <= len(slug) <= 50, "dataset slug must have 6-50 characters"
    assert 6 <= len(meta["title"]) <= 50, "dataset title must have 6-50 characters"
    assert len(meta["licenses"]) == 1, "exactly one licence"
    assert meta["licenses"][0]["name"] in KAGGLE_LICENSES
    if meta.get("subtitle"):
        assert 20 <= len(meta["subtitle"]) <= 80, "subtitle must have 20-80 characters"
    for resource in meta.get("resources", []):
        assert (folder / resource["path"]).is_file()
    # Sub-folders are skipped unless --dir-mode is given: everything must sit at the top.
    assert not [p for p in folder.iterdir() if p.is_dir()]
    return meta


def check_kernel_metadata(folder: Path) -> dict:
    """What `kaggle kernels push -p folder` checks before uploading."""
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    assert len(meta["title"]) >= 5, "title must have at least five characters"
    assert (folder / meta["code_file"]).is_file(), "code_file must exist beside the metadata"
    owner, slug = meta["id"].split("/")
    assert owner and len(slug) >= 5, "kernel slug must have at least five characters"
    # The CLI warns when the title does not resolve to the slug (python-slugify).
    assert re.sub(r"[^a-z0-9]+", "-", meta["title"].lower()).strip("-") == slug
    assert meta["language"] in ("python", "r", "rmarkdown")
    assert meta["kernel_type"] in ("script", "notebook")
    for key in ("is_private", "enable_gpu", "enable_internet"):
        assert isinstance(meta[key], bool) or meta[key] in ("true", "false")
    for source in meta["dataset_sources"]:
        assert 2 <= len(source.split("/")) <= 3 and all(source.split("/"))
    for source in meta.get("kernel_sources", []):
        assert len(source.split("/")[1]) >= 5
    return meta


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle written by the command line, without dependency downloads."""
    out = tmp_path_factory.mktemp("dist") / "kaggle"
    assert main(["build", "--out", str(out), "--username", USER, "--no-deps-wheels"]) == 0
    return out


@pytest.mark.parametrize("source", sorted((ROOT / "notebooks").glob("*.py")),
                         ids=lambda path: path.stem)
def test_first_code_cell_is_the_bootstrap_cell(source: Path) -> None:
    code = [cell.source for cell in jupytext.read(source).cells if cell.cell_type == "code"]
    assert code[0].strip() == BOOTSTRAP.strip(), f"re-paste {BOOTSTRAP_CELL} into {source.name}"


def test_bootstrap_cell_names_the_placeholder_once() -> None:
    assert BOOTSTRAP.count(f"'{BOOTSTRAP_PLACEHOLDER}'") == 1


@pytest.mark.slow
def test_dataset_folder_passes_kaggle_checks(bundle: Path) -> None:
    meta = check_dataset_metadata(bundle / "dataset")
    assert meta["id"] == f"{USER}/recsys-lib"
    (wheel,) = (bundle / "dataset").glob("*.whl")
    assert wheel.name == "recsys_lib-0.1.0-py3-none-any.whl"
    assert wheel.name in meta["description"]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "recsys_lib/kaggle/bundle.py" in names
    assert "recsys_lib/data/embedded/ml-latest-small/ratings.csv" in names
    assert not [name for name in names if "__pycache__" in name]


@pytest.mark.slow
def test_kernel_folders_pass_kaggle_checks(bundle: Path) -> None:
    folders = sorted((bundle / "kernels").iterdir())
    assert [f.name for f in folders] == sorted(p.stem for p in (ROOT / "notebooks").glob(
        "*.ipynb"))
    by_name = {folder.name: check_kernel_metadata(folder) for folder in folders}
    assert by_name["classical_cf"] == {
        "id": "tester/recsys-classical-cf",
        "title": "RecSys classical cf",
        "code_file": "classical_cf.ipynb",
        "language": "python",
        "kernel_type": "notebook",
        "is_private": True,
        "enable_gpu": True,
        "machine_shape": "NvidiaTeslaT4",
        "enable_internet": False,
        "dataset_sources": ["tester/recsys-lib", "grouplens/movielens-20m-dataset"],
        "competition_sources": [],
        "kernel_sources": [],
    }


@pytest.mark.slow
def test_notebook_copies_name_the_dataset_and_have_no_outputs(bundle: Path) -> None:
    for folder in (bundle / "kernels").iterdir():
        original = json.loads((ROOT / "notebooks" / f"{folder.name}.ipynb").read_text())
        copy = json.loads((folder / f"{folder.name}.ipynb").read_text())
        assert BOOTSTRAP_PLACEHOLDER not in json.dumps(copy)
        assert copy["metadata"] == original["metadata"]
        assert all(c["outputs"] == [] and c["execution_count"] is None
                   for c in copy["cells"] if c["cell_type"] == "code")

        def sources(notebook: dict) -> list[tuple[str, str]]:
            return [(c["cell_type"], "".join(c["source"]).strip()) for c in notebook["cells"]]

        changed = [(a, b) for a, b in zip(sources(original), sources(copy), strict=True)
                   if a != b]
        assert changed == [(("code", BOOTSTRAP.strip()), ("code", BOOTSTRAP.strip().replace(
            f"'{BOOTSTRAP_PLACEHOLDER}'", "'tester/recsys-lib'")))]


@pytest.mark.slow
def test_rebuild_replaces_old_files(bundle: Path, tmp_path: Path) -> None:
    stale = bundle / "dataset" / "old-0.0.1-py3-none-any.whl"
    stale.write_bytes(b"")
    keep = bundle / "notes.txt"
    keep.write_text("mine")
    assert main(["build", "--out", str(bundle), "--username", USER, "--no-deps-wheels"]) == 0
    assert not stale.exists() and keep.read_text() == "mine"


def test_kaggle_notebook_refuses_a_notebook_without_the_bootstrap(tmp_path: Path) -> None:
    path = tmp_path / "other.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "import os",
                                           "outputs": [], "metadata": {}}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(ValueError, match=r"other\.ipynb: the first code cell must be"):
        kaggle_notebook(path, BOOTSTRAP, "tester/recsys-lib")


def test_bad_notebook_stops_the_build_before_anything_is_replaced(tmp_path: Path) -> None:
    source = tmp_path / "checkout"
    (source / "notebooks").mkdir(parents=True)
    (source / "kaggle").mkdir()
    (source / BOOTSTRAP_CELL).write_text(BOOTSTRAP)
    (source / "notebooks" / "bad.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    old = tmp_path / "out" / "dataset" / "recsys_lib-0.0.9-py3-none-any.whl"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old")
    with pytest.raises(ValueError, match=r"bad\.ipynb: the first code cell must be"):
        build_bundle(tmp_path / "out", username=USER, source_dir=source)
    assert old.read_bytes() == b"old"


def test_kaggle_notebook_clears_outputs(tmp_path: Path) -> None:
    cells = [{"cell_type": "markdown", "source": ["# T"], "metadata": {}},
             {"cell_type": "code", "source": BOOTSTRAP.splitlines(keepends=True),
              "outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}],
              "execution_count": 3, "metadata": {}},
             {"cell_type": "code", "source": "1 + 1", "outputs": [], "execution_count": 4,
              "metadata": {"tags": ["parameters"]}}]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))
    notebook = kaggle_notebook(path, BOOTSTRAP, "me/recsys-lib")
    assert notebook["cells"][0] == cells[0]
    assert "'me/recsys-lib'" in notebook["cells"][1]["source"]
    assert [c.get("execution_count") for c in notebook["cells"][1:]] == [None, None]
    assert notebook["cells"][1]["outputs"] == [] and notebook["cells"][2]["source"] == "1 + 1"
    assert notebook["cells"][2]["metadata"] == {"tags": ["parameters"]}


def test_slugs_and_titles_agree() -> None:
    assert slugify("RecSys classical cf") == "recsys-classical-cf"
    assert slugify("  A__b  c!") == "a-b-c"
    for name in ("classical_cf", "vae_training"):
        meta = kernel_metadata(USER, name, f"{name}.ipynb", "grouplens/movielens-20m-dataset")
        assert meta["id"].split("/")[1] == slugify(meta["title"])


@pytest.mark.parametrize(("args", "message"), [
    (["--username", "bad name"], "username: expected a Kaggle user name"),
    (["--username", USER, "--movielens-dataset", "movielens"], "movielens_dataset: expected"),
    (["--username", USER, "--python", "311"], "python_versions: expected versions like"),
    (["--username", USER, "--accelerator", "NvidiaTeslaP100"],
     "accelerator: 'NvidiaTeslaP100' is not supported (Kaggle's torch (CUDA 12.8 build) has "
     "no kernels for the P100 (sm_60)); expected one of NvidiaTeslaT4, "),
    (["--username", USER, "--accelerator", "t4"], "accelerator: 't4' is not supported; "),
])
def test_bad_options_fail_with_a_clear_message(args: list[str], message: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--out", str(tmp_path), *args]) == 1
    assert message in capsys.readouterr().err


def test_username_comes_from_option_or_env(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    with pytest.raises(SystemExit) as stop:
        main(["build", "--no-deps-wheels"])
    assert stop.value.code == 2
    assert "pass --username or set KAGGLE_USERNAME" in capsys.readouterr().err


def test_report_lists_upload_commands(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    report = BundleReport(tmp_path, dataset, "me/recsys-lib", dataset / "w.whl", (), (),
                          (tmp_path / "kernels" / "a",), ("me/recsys-a",))
    assert report.upload_commands() == [
        f"kaggle datasets create -p {dataset}",
        f"kaggle kernels push -p {tmp_path / 'kernels' / 'a'}",
    ]


@pytest.mark.parametrize("accelerator", sorted(GPU_ACCELERATORS))
def test_kernels_ask_for_the_accelerator(accelerator: str) -> None:
    meta = kernel_metadata(USER, "classical_cf", "classical_cf.ipynb", "a/movielens",
                           accelerator=accelerator)
    assert (meta["enable_gpu"], meta["machine_shape"]) == (True, accelerator)


def test_accelerator_none_makes_a_cpu_kernel() -> None:
    meta = kernel_metadata(USER, "classical_cf", "classical_cf.ipynb", "a/movielens",
                           accelerator="none")
    assert meta["enable_gpu"] is False and "machine_shape" not in meta


@pytest.mark.slow
def test_accelerator_option_reaches_every_kernel(tmp_path: Path) -> None:
    assert main(["build", "--out", str(tmp_path), "--username", USER, "--no-deps-wheels",
                 "--accelerator", "NvidiaL4"]) == 0
    shapes = {json.loads(path.read_text())["machine_shape"]
              for path in (tmp_path / "kernels").glob("*/kernel-metadata.json")}
    assert shapes == {"NvidiaL4"}


@pytest.mark.slow
def test_requirements_come_from_the_wheel(bundle: Path) -> None:
    (wheel,) = (bundle / "dataset").glob("recsys_lib-*.whl")
    assert runtime_requirements(wheel, ["implicit"]) == ["implicit>=0.7"]
    assert "implicit>=0.7" in wheel_requirements(wheel)
    assert not [req for req in wheel_requirements(wheel) if "papermill" in req]
    assert runtime_requirements(wheel, ["Scikit_Learn", "torch"]) == [
        "scikit-learn>=1.3", "torch>=2.1"]
    with pytest.raises(ValueError, match="papermill not among its runtime requirements"):
        runtime_requirements(wheel, ["papermill"])  # only an extra


def test_source_dir_is_this_checkout() -> None:
    assert default_source_dir() == ROOT


def _index_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.mark.slow
def test_implicit_wheel_downloads_for_python_311(tmp_path: Path) -> None:
    if not _index_reachable():
        pytest.skip("the package index (pypi.org) is not reachable")
    wheels = download_dependency_wheels(["implicit>=0.7", "numpy>=1.24"], [LOCAL], tmp_path)
    assert [w.parent for w in wheels] == [tmp_path]
    (wheel,) = wheels
    assert re.fullmatch(r"implicit-[\d.]+-cp311-cp311-\S*manylinux\S*_x86_64\.whl", wheel.name)
    with zipfile.ZipFile(wheel) as archive:
        assert any(name.startswith("implicit/") for name in archive.namelist())
