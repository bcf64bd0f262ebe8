"""A Kaggle session simulated on this machine, offline: the bundle is laid out like
/kaggle/input/<dataset>/ next to a Kaggle-style MovieLens upload (rating.csv with datetime
timestamps, movie.csv); a fresh virtual environment has the runtime dependencies but not
recsys_lib; papermill runs the bundled classical_cf notebook in it. The bootstrap cell must
install the wheel offline, discovery must find the data, and results.json must land in the
simulated /kaggle/working.

The session runs on this interpreter, and again on each supported runtime's CPython
(recsys_lib.kaggle.runtimes) found on the machine (on PATH as pythonX.Y, or under
~/.pyenv/versions); it skips cleanly where that interpreter is absent. There the venv gets
the runtime's shipped versions from the package index (pip's cache keeps them for the next
run), torch as a metadata-only stand-in (its CUDA wheels are gigabytes, and the classical
notebook never imports torch on a machine without an NVIDIA driver), and the bundle the
runtime's dependency wheels; the notebook itself then runs with the index off.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from recsys_lib.data.synthetic import synthetic_ratings
from recsys_lib.data.writers import write_ratings
from recsys_lib.kaggle import build_bundle
from recsys_lib.kaggle.bundle import BOOTSTRAP_CELL, BOOTSTRAP_PLACEHOLDER
from recsys_lib.kaggle.resolve import write_stand_in_wheel
from recsys_lib.kaggle.runtimes import RUNTIMES, Runtime

ROOT = Path(__file__).resolve().parent.parent
USER = "tester"
KERNEL = "kaggle-sim"
N_RATINGS = 5000  # in the simulated MovieLens upload; the notebook samples 3000
# Entries of this environment's site-packages kept out of the simulated one: recsys_lib
# itself (and its editable-install hooks), and pip, which the new venv has its own of.
_HIDDEN = ("recsys_lib", "__editable__", "pip", "pip-")
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# The shipped packages the classical notebook needs, installed for real in a foreign venv.
_REAL_PACKAGES = ("numpy", "pandas", "scipy", "scikit-learn", "matplotlib", "psutil",
                  "pyyaml", "tqdm", "threadpoolctl")
# Runtimes on another CPython than this one: the session runs there too where one exists.
_FOREIGN = [runtime for runtime in RUNTIMES if runtime.python != HOST_PYTHON]


def write_kaggle_movielens(folder: Path) -> None:
    """rating.csv / movie.csv as in Kaggle's MovieLens 20M upload (datetime timestamps)."""
    ratings = synthetic_ratings(n_users=300, n_items=400, n_ratings=N_RATINGS, seed=7)
    write_ratings(ratings, folder, "kaggle-csv")


def make_venv_without_recsys_lib(root: Path) -> Path:
    """A new venv (with pip) that sees this environment's packages except recsys_lib,
    through a folder of symlinks named in a .pth file. Returns its python."""
    venv.create(root / "venv", with_pip=True, symlinks=True)
    python = root / "venv" / "bin" / "python"
    # ensurepip's old setuptools would shadow ours, which torch's metadata requires.
    subprocess.run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"],
                   check=True, capture_output=True, env={**os.environ, "PIP_NO_INDEX": "1"})
    deps = root / "deps"
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if not entry.name.startswith(_HIDDEN):
            (deps / entry.name).symlink_to(entry)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "_recsys_test_deps.pth").write_text(f"{deps}\n")
    return python


def find_interpreter(version: str) -> Path | None:
    """A CPython `version` interpreter on this machine (PATH, then ~/.pyenv), or None."""
    candidates = [shutil.which(f"python{version}"),
                  *sorted(str(path) for path in (Path.home() / ".pyenv" / "versions").glob(
                      f"{version}.*/bin/python{version}"))]
    for candidate in filter(None, candidates):
        done = subprocess.run([candidate, "-c", "import sys; print(*sys.version_info[:2], "
                               "sep='.')"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip() == version:
            return Path(candidate)
    return None


def make_runtime_venv(root: Path, interpreter: Path, runtime: Runtime) -> Path:
    """A venv from `interpreter` with `runtime`'s shipped versions of the packages the
    notebook needs, ipykernel, and a stand-in torch; not recsys_lib. Returns its python."""
    subprocess.run([interpreter, "-m", "venv", root / "venv"], check=True, capture_output=True)
    python = root / "venv" / "bin" / "python"
    torch = write_stand_in_wheel("torch", runtime.ships["torch"], root / "stand-ins")
    pins = [f"{name}=={runtime.ships[name]}" for name in _REAL_PACKAGES]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    done = subprocess.run([python, "-m", "pip", "install", "--quiet", "--only-binary=:all:",
                           str(torch), *pins, "ipykernel"],
                          capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        pytest.skip(f"could not install {runtime.name}'s packages for CPython "
                    f"{runtime.python}: {done.stderr.strip().splitlines()[-1:]}")
    return python


def register_kernel(jupyter_dir: Path, python: Path) -> None:
    spec = jupyter_dir / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "simulated Kaggle", "language": "python"}))


def kaggle_env(root: Path) -> dict[str, str]:
    """The environment of the simulated session: Kaggle's variables, no package index,
    nothing that points back at this checkout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "RECSYS_", "KAGGLE_", "PYTHON", "JUPYTER"))}
    env.update({
        "KAGGLE_KERNEL_RUN_TYPE": "Interactive",
        "RECSYS_KAGGLE_INPUT": str(root / "input"),
        "RECSYS_KAGGLE_WORKING": str(root / "working"),
        "RECSYS_COLAB_DIR": str(root / "no-drive"),
        "RECSYS_CACHE_DIR": str(root / "cache"),
        "JUPYTER_PATH": str(root / "jupyter"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "MPLBACKEND": "Agg",
    })
    return env


def _index_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module", params=[None, *_FOREIGN],
                ids=lambda runtime: "host" if runtime is None else runtime.name)
def session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Build, lay out and set up the simulated session once per interpreter; run the
    bootstrap without the dataset attached, then the notebook with it."""
    runtime = request.param
    root = tmp_path_factory.mktemp("kaggle")
    if runtime is None:
        report = build_bundle(root / "dist", username=USER, download_dependencies=False)
        python = make_venv_without_recsys_lib(root)
    else:
        interpreter = find_interpreter(runtime.python)
        if interpreter is None:
            pytest.skip(f"no CPython {runtime.python} interpreter on this machine")
        if not _index_reachable():
            pytest.skip("the package index (pypi.org) is not reachable")
        report = build_bundle(root / "dist", username=USER, runtimes=(runtime,))
        python = make_runtime_venv(root, interpreter, runtime)
    register_kernel(root / "jupyter", python)
    env = kaggle_env(root)
    (root / "working").mkdir()
    bootstrap = (ROOT / BOOTSTRAP_CELL).read_text().replace(BOOTSTRAP_PLACEHOLDER,
                                                            report.dataset_id)

    (root / "input").mkdir()
    detached = subprocess.run([python, "-c", bootstrap], cwd=root / "working", env=env,
                              capture_output=True, text=True, timeout=60)

    shutil.copytree(report.dataset_dir, root / "input" / "recsys-lib")
    write_kaggle_movielens(root / "input" / "movielens-20m-dataset")
    notebook = report.kernel_dirs[report.kernel_ids.index(f"{USER}/recsys-classical-cf")]
    executed = root / "executed.ipynb"
    run = subprocess.run(
        [sys.executable, "-m", "papermill", str(notebook / "classical_cf.ipynb"),
         str(executed), "-k", KERNEL, "--cwd", str(root / "working"),
         "-p", "SAMPLE_SIZE", "3000", "-p", "EVAL_USERS", "200", "-p", "ALS_ITERATIONS", "2"],
        cwd=root, env=env, capture_output=True, text=True, timeout=240)
    again = subprocess.run([python, "-c", bootstrap], cwd=root / "working", env=env,
                           capture_output=True, text=True, timeout=60)
    return {"root": root, "python": python, "env": env, "detached": detached, "run": run,
            "executed": executed, "again": again,
            "version": HOST_PYTHON if runtime is None else runtime.python}


@pytest.mark.slow
def test_bootstrap_without_the_dataset_names_it(session: dict) -> None:
    detached = session["detached"]
    assert detached.returncode != 0
    assert "ModuleNotFoundError" in detached.stderr
    assert "Add Input -> Datasets -> 'tester/recsys-lib'" in detached.stderr


@pytest.mark.slow
def test_notebook_runs_offline_from_the_bundled_wheel(session: dict) -> None:
    run = session["run"]
    assert run.returncode == 0, run.stderr[-3000:]
    cells = json.loads(session["executed"].read_text())["cells"]
    first = next(cell for cell in cells if cell["cell_type"] == "code")
    printed = "".join("".join(out.get("text", "")) for out in first["outputs"])
    venv_lib = session["root"] / "venv" / "lib"
    assert printed.startswith("recsys_lib 0.1.0 from ")
    location = Path(printed.removeprefix("recsys_lib 0.1.0 from ").strip())
    assert location.name == "recsys_lib" and location.parent.name == "site-packages"
    assert location.is_relative_to(venv_lib), location


@pytest.mark.slow
def test_results_land_in_kaggle_working_with_kaggle_data(session: dict) -> None:
    (results_file,) = (session["root"] / "working" / "runs").glob("*/results.json")
    results = json.loads(results_file.read_text())
    assert results["status"] == "ok", results.get("error")
    source = results["data"]["source"]
    assert source["origin"] == "kaggle" and source["layout"] == "kaggle-csv"
    assert Path(source["path"]) == session["root"] / "input" / "movielens-20m-dataset"
    assert results["data"]["n_ratings"] == 3000
    assert results["environment"]["platform"] == "kaggle"
    assert results["environment"]["python"].rsplit(".", 1)[0] == session["version"]
    assert results["environment"]["recsys_lib"] == "0.1.0"
    assert {"BiasBaseline", "Popularity", "SVD", "ItemKNN", "ALS"} <= set(results["metrics"])


@pytest.mark.slow
def test_installed_library_is_found_without_reinstalling(session: dict) -> None:
    again = session["again"]
    assert again.returncode == 0, again.stderr
    site = subprocess.run(
        [session["python"], "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert again.stdout.strip() == f"recsys_lib 0.1.0 from {Path(site) / 'recsys_lib'}"
    assert list(Path(site).glob("recsys_lib-0.1.0.dist-info"))
