"""`build_bundle`: everything to upload to Kaggle, written under one folder.

```
dist/kaggle/
  dataset/                     -> kaggle datasets create -p dist/kaggle/dataset
    dataset-metadata.json
    recsys_lib-<version>-py3-none-any.whl
    implicit-<version>-cp3XX-...manylinux...whl   (one per runtime's Python version)
  kernels/<notebook>/          -> kaggle kernels push -p dist/kaggle/kernels/<notebook>
    kernel-metadata.json
    <notebook>.ipynb           (outputs cleared, the dataset id filled in)
```

The dataset folder is flat because the Kaggle CLI skips sub-folders unless told to zip
them. Nothing here needs Kaggle credentials.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import recsys_lib
from recsys_lib.kaggle.metadata import (
    DEFAULT_ACCELERATOR,
    DEFAULT_MOVIELENS_DATASET,
    dataset_id,
    dataset_metadata,
    kernel_metadata,
    validate_accelerator,
    validate_owner_slug,
    validate_username,
)
from recsys_lib.kaggle.runtimes import RUNTIMES, Runtime
from recsys_lib.kaggle.wheels import (
    build_library_wheel,
    download_dependency_wheels,
    wheel_requirements,
)

__all__ = [
    "BOOTSTRAP_CELL",
    "BOOTSTRAP_PLACEHOLDER",
    "BundleReport",
    "build_bundle",
    "default_source_dir",
    "kaggle_notebook",
]

logger = logging.getLogger(__name__)

#: The bootstrap cell every notebook starts with, relative to the checkout.
BOOTSTRAP_CELL = Path("kaggle") / "bootstrap_cell.py"
#: Stands for "<username>/recsys-lib" in the bootstrap cell's error message.
BOOTSTRAP_PLACEHOLDER = "KAGGLE_DATASET_ID"
DATASET_METADATA_FILE = "dataset-metadata.json"
KERNEL_METADATA_FILE = "kernel-metadata.json"


@dataclass(frozen=True)
class BundleReport:
    """What `build_bundle` wrote.

    Attributes:
        out_dir: the bundle folder.
        dataset_dir: the dataset folder (wheels and dataset-metadata.json).
        dataset_id: the dataset's id, "<username>/recsys-lib".
        library_wheel: the recsys_lib wheel.
        dependency_wheels: the downloaded dependency wheels (empty when skipped).
        runtimes: the runtimes the dependency wheels were fetched for.
        kernel_dirs: one folder per notebook (the .ipynb and kernel-metadata.json).
        kernel_ids: the kernels' ids, "<username>/<slug>", in the order of `kernel_dirs`.
    """

    out_dir: Path
    dataset_dir: Path
    dataset_id: str
    library_wheel: Path
    dependency_wheels: tuple[Path, ...]
    runtimes: tuple[Runtime, ...]
    kernel_dirs: tuple[Path, ...]
    kernel_ids: tuple[str, ...]

    @property
    def dataset_mb(self) -> float:
        """Size of the dataset folder's files in MB (2**20 bytes)."""
        return sum(path.stat().st_size for path in self.dataset_dir.iterdir()) / 2**20

    def upload_commands(self) -> list[str]:
        """The official `kaggle` CLI commands that upload the bundle, in order."""
        return [f"kaggle datasets create -p {self.dataset_dir}"] + [
            f"kaggle kernels push -p {folder}" for folder in self.kernel_dirs
        ]

    def to_text(self) -> str:
        """A short summary for the terminal: files, ids and the upload commands."""
        wheels = [self.library_wheel, *self.dependency_wheels]
        lines = [
            f"Kaggle bundle in {self.out_dir}",
            f"  dataset {self.dataset_id} ({self.dataset_mb:,.1f} MB): "
            + ", ".join(wheel.name for wheel in wheels),
        ]
        if self.dependency_wheels:
            lines.append("  covers " + ", ".join(f"{runtime.name} (CPython {runtime.python})"
                                                 for runtime in self.runtimes))
        else:
            lines.append("  without dependency wheels: the offline install works only where "
                         "recsys_lib's requirements are installed already")
        lines += [f"  kernel {kid}: {folder}" for kid, folder in
                  zip(self.kernel_ids, self.kernel_dirs, strict=True)]
        lines += ["Upload with:", *(f"  {command}" for command in self.upload_commands())]
        return "\n".join(lines)


def default_source_dir() -> Path:
    """The checkout this recsys_lib is imported from (the folder above the package).

    Raises:
        FileNotFoundError: recsys_lib is installed from a wheel, not run from a checkout.
    """
    source = Path(recsys_lib.__file__).resolve().parent.parent
    if not (source / "pyproject.toml").is_file():
        raise FileNotFoundError(
            f"{source}: no pyproject.toml; the bundle is built from a source checkout "
            "(install it with `pip install -e .` or pass source_dir)"
        )
    return source


def build_bundle(
    out_dir: Path,
    *,
    username: str,
    movielens_dataset: str = DEFAULT_MOVIELENS_DATASET,
    runtimes: Sequence[Runtime] = RUNTIMES,
    download_dependencies: bool = True,
    private: bool = True,
    accelerator: str = DEFAULT_ACCELERATOR,
    source_dir: Path | None = None,
) -> BundleReport:
    """Write the Kaggle dataset folder and one kernel folder per notebook.

    The dataset and kernels folders under `out_dir` are replaced; nothing else there is
    touched.

    Args:
        out_dir: the bundle folder (for example dist/kaggle).
        username: the Kaggle user who uploads (owner of the dataset and the kernels).
        movielens_dataset: "owner/slug" of the MovieLens dataset the kernels attach.
        runtimes: the runtimes to download dependency wheels for (default: all supported,
            `recsys_lib.kaggle.runtimes.RUNTIMES`).
        download_dependencies: fetch, with `pip download` (needs the package index), the
            wheels of the requirements each runtime lacks; False leaves them out.
        private: whether the kernels are private.
        accelerator: the kernels' machine shape (`metadata.GPU_ACCELERATORS`) or "none".
        source_dir: the checkout to build from; None = `default_source_dir()`.

    Returns:
        What was written, with the upload commands.

    Raises:
        ValueError: a bad username, dataset slug or accelerator, no runtimes, or a notebook
            whose first code cell is not the bootstrap cell (the message names the file).
        FileNotFoundError: no notebooks, or files the build needs are missing.
        RuntimeError: building the wheel or downloading a dependency failed.
    """
    validate_username(username)
    validate_owner_slug(movielens_dataset, "movielens_dataset")
    validate_accelerator(accelerator)
    if download_dependencies and not runtimes:
        raise ValueError("runtimes: expected at least one runtime to fetch wheels for")
    source = default_source_dir() if source_dir is None else Path(source_dir)
    notebooks = sorted((source / "notebooks").glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"{source / 'notebooks'}: no .ipynb notebooks to bundle")
    bootstrap = (source / BOOTSTRAP_CELL).read_text(encoding="utf-8")
    # Check every notebook before anything is built or deleted.
    copies = {path: kaggle_notebook(path, bootstrap, dataset_id(username)) for path in notebooks}

    out_dir = Path(out_dir)
    dataset_dir, kernels_dir = out_dir / "dataset", out_dir / "kernels"
    for folder in (dataset_dir, kernels_dir):
        if folder.exists():
            shutil.rmtree(folder)
    wheel = build_library_wheel(source, dataset_dir)
    dependencies: list[Path] = []
    if download_dependencies:
        dependencies = download_dependency_wheels(wheel_requirements(wheel), runtimes,
                                                  dataset_dir)
    version = wheel.name.split("-")[1]  # recsys_lib-<version>-py3-none-any.whl
    names = [path.name for path in (wheel, *dependencies)]
    covers = [f"{runtime.name} (CPython {runtime.python})" for runtime in runtimes
              ] if dependencies else []
    _write_json(dataset_dir / DATASET_METADATA_FILE,
                dataset_metadata(username, version, names, covers))

    kernel_dirs, kernel_ids = [], []
    for path, notebook in copies.items():
        folder = kernels_dir / path.stem
        folder.mkdir(parents=True)
        _write_json(folder / path.name, notebook, indent=1)
        meta = kernel_metadata(username, path.stem, path.name, movielens_dataset,
                               private=private, accelerator=accelerator)
        _write_json(folder / KERNEL_METADATA_FILE, meta)
        kernel_dirs.append(folder)
        kernel_ids.append(meta["id"])
    report = BundleReport(out_dir, dataset_dir, dataset_id(username), wheel,
                          tuple(dependencies), tuple(runtimes) if dependencies else (),
                          tuple(kernel_dirs), tuple(kernel_ids))
    logger.info("%s", report.to_text())
    return report


def kaggle_notebook(path: Path, bootstrap: str, dataset: str) -> dict[str, Any]:
    """The notebook at `path` as Kaggle gets it: outputs and execution counts cleared and
    `BOOTSTRAP_PLACEHOLDER` in the bootstrap cell replaced by `dataset`.

    Args:
        path: an .ipynb file (nbformat 4).
        bootstrap: the text of kaggle/bootstrap_cell.py.
        dataset: the bundle's dataset id, "<username>/recsys-lib".

    Raises:
        ValueError: the first code cell is not `bootstrap` (notebooks embed it verbatim).
    """
    notebook = json.loads(path.read_text(encoding="utf-8"))
    code_cells = [cell for cell in notebook.get("cells", []) if cell["cell_type"] == "code"]
    if not code_cells or _source(code_cells[0]).strip() != bootstrap.strip():
        raise ValueError(
            f"{path}: the first code cell must be {BOOTSTRAP_CELL} verbatim (re-paste it into "
            f"{path.with_suffix('.py').name} and sync the pair with jupytext)"
        )
    code_cells[0]["source"] = _source(code_cells[0]).replace(BOOTSTRAP_PLACEHOLDER, dataset)
    for cell in code_cells:
        cell["outputs"] = []
        cell["execution_count"] = None
    return notebook


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _write_json(path: Path, payload: dict[str, Any], indent: int = 2) -> None:
    path.write_text(json.dumps(payload, indent=indent, ensure_ascii=False) + "\n",
                    encoding="utf-8")
