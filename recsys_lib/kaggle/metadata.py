"""The metadata files the official `kaggle` CLI reads: `dataset-metadata.json` for
`kaggle datasets create -p DIR` and `kernel-metadata.json` for `kaggle kernels push -p DIR`.

The fields follow the Kaggle CLI's own checks (kaggle 1.7, `dataset_create_new` and
`kernels_push`; docs/datasets_metadata.md and docs/kernels_metadata.md in Kaggle/kaggle-api):
a dataset needs `id` ("owner/slug", slug 6-50 characters), `title` (6-50 characters) and
exactly one licence; a subtitle, when given, has 20-80 characters. A kernel needs `id`
("owner/slug", slug at least 5 characters), `code_file`, `language` (python, r or
rmarkdown) and `kernel_type` (script or notebook); its title should slugify to the slug.
Booleans may be JSON booleans; a missing `enable_internet` means *on*, so it is always set.

`machine_shape` picks the accelerator (the same field `kaggle kernels push --accelerator`
sets). Without it a GPU kernel may land on a P100, which Kaggle's torch (CUDA 12.8 build, no
sm_60 kernels) cannot use, so it is always set; the values are the GPU ones of the CLI's
documented list (Kaggle/kaggle-cli docs/kernels.md, "Accelerators available as of Sep 2026").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DATASET_SLUG",
    "DEFAULT_ACCELERATOR",
    "DEFAULT_MOVIELENS_DATASET",
    "GPU_ACCELERATORS",
    "NO_ACCELERATOR",
    "dataset_id",
    "dataset_metadata",
    "kernel_metadata",
    "kernel_slug",
    "slugify",
    "validate_accelerator",
    "validate_owner_slug",
    "validate_username",
]

#: Slug of the bundle dataset: attached on Kaggle as /kaggle/input/recsys-lib.
DATASET_SLUG = "recsys-lib"
#: Kaggle's re-upload of MovieLens 20M (rating.csv and movie.csv, datetime timestamps).
DEFAULT_MOVIELENS_DATASET = "grouplens/movielens-20m-dataset"
#: The GPU machine shapes of the Kaggle CLI's documented accelerator list, with what each
#: gives; some are offered only to competition participants or Kaggle staff.
GPU_ACCELERATORS = {
    "NvidiaTeslaT4": "GPU T4 (Turing, sm_75; the CLI's default GPU)",
    "NvidiaTeslaT4Highmem": "GPU T4 x2",
    "NvidiaL4": "NVIDIA L4 (Ada, sm_89)",
    "NvidiaL4X1": "one NVIDIA L4",
    "NvidiaTeslaA100": "NVIDIA A100 (Ampere, sm_80)",
    "NvidiaH100": "NVIDIA H100 (Hopper, sm_90)",
    "NvidiaRtxPro6000": "NVIDIA RTX PRO 6000 (Blackwell, sm_120)",
}
#: The accelerator the kernels ask for unless told otherwise.
DEFAULT_ACCELERATOR = "NvidiaTeslaT4"
#: `--accelerator none`: a CPU-only kernel (no `machine_shape`, GPU off).
NO_ACCELERATOR = "none"
# Documented values refused, with the reason.
_REFUSED_ACCELERATORS = {
    "NvidiaTeslaP100": "Kaggle's torch (CUDA 12.8 build) has no kernels for the P100 (sm_60)",
    "TpuV5E8": "the notebooks run torch on CUDA or the CPU, not on TPUs",
    "TpuV6E8": "the notebooks run torch on CUDA or the CPU, not on TPUs",
    "Tpu1VmV38": "the notebooks run torch on CUDA or the CPU, not on TPUs",
}
_DATASET_TITLE = "recsys-lib offline wheels"
_DATASET_SUBTITLE = "recsys_lib and its missing dependencies, for offline Kaggle notebooks"
# recsys_lib is MIT-licensed; Kaggle's licence list has no MIT entry, so "other" (specified
# in the description) is the documented choice.
_DATASET_LICENSE = "other"
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_OWNER_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


def slugify(text: str) -> str:
    """Kaggle's slug of a title: lower case, every run of other characters than a-z and 0-9
    turned into one "-", no "-" at either end ("RecSys classical cf" -> "recsys-classical-cf")."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def validate_username(username: str) -> str:
    """Return `username` when it can own Kaggle datasets and kernels.

    Raises:
        ValueError: empty or with characters a Kaggle user name cannot hold (the message
            says where it came from).
    """
    if not _USERNAME.fullmatch(username or ""):
        raise ValueError(
            f"username: expected a Kaggle user name (letters, digits, '-' or '_'), got "
            f"{username!r}; pass --username or set KAGGLE_USERNAME"
        )
    return username


def validate_owner_slug(value: str, parameter: str) -> str:
    """Return `value` when it has the form "owner/slug" that Kaggle data sources use.

    Raises:
        ValueError: another form (the message names `parameter`).
    """
    if not _OWNER_SLUG.fullmatch(value):
        raise ValueError(f"{parameter}: expected 'owner/dataset-slug', got {value!r}")
    return value


def validate_accelerator(accelerator: str) -> str:
    """Return `accelerator` when it is one of `GPU_ACCELERATORS` or "none".

    Raises:
        ValueError: another value, naming the parameter, the allowed values and, for a
            documented value that does not work here (P100, TPUs), why.
    """
    if accelerator in GPU_ACCELERATORS or accelerator == NO_ACCELERATOR:
        return accelerator
    allowed = ", ".join([*GPU_ACCELERATORS, NO_ACCELERATOR])
    reason = _REFUSED_ACCELERATORS.get(accelerator)
    because = f" ({reason})" if reason else ""
    raise ValueError(f"accelerator: {accelerator!r} is not supported{because}; "
                     f"expected one of {allowed}")


def dataset_id(username: str) -> str:
    """The bundle dataset's id, "<username>/recsys-lib"."""
    return f"{validate_username(username)}/{DATASET_SLUG}"


def dataset_metadata(username: str, version: str, wheel_names: list[str],
                     covers: Sequence[str] = ()) -> dict[str, Any]:
    """Contents of the bundle's `dataset-metadata.json`.

    Args:
        username: the Kaggle user who uploads the dataset.
        version: recsys_lib's version, shown in the description.
        wheel_names: file names of the wheels in the dataset, listed in the description.
        covers: the runtimes the dependency wheels are for, in words ("kaggle (CPython
            3.12)"), listed in the description.
    """
    files = "\n".join(f"- `{name}`" for name in sorted(wheel_names))
    if covers:
        files += "\n\nDependency wheels for: " + ", ".join(covers) + "."
    description = (
        f"Wheels of **recsys_lib {version}** (MIT licence) and of the runtime dependencies "
        "that Kaggle's image lacks, for notebooks that run with the internet off.\n\n"
        "Attach this dataset to a notebook; its first cell then runs\n"
        f"`pip install --no-index --find-links /kaggle/input/{DATASET_SLUG} recsys-lib`.\n\n"
        f"Files:\n{files}\n\nBuilt by `recsys kaggle build` (see kaggle/README.md)."
    )
    return {
        "title": _DATASET_TITLE,
        "subtitle": _DATASET_SUBTITLE,
        "description": description,
        "id": dataset_id(username),
        "licenses": [{"name": _DATASET_LICENSE}],
    }


def kernel_slug(notebook: str) -> str:
    """Kernel slug of a notebook: "classical_cf" -> "recsys-classical-cf"."""
    return slugify(f"recsys {notebook}")


def kernel_metadata(username: str, notebook: str, code_file: str, movielens_dataset: str,
                    *, private: bool = True, accelerator: str = DEFAULT_ACCELERATOR
                    ) -> dict[str, Any]:
    """Contents of a notebook's `kernel-metadata.json`: the GPU asked for by its machine
    shape, internet off, the bundle and a MovieLens dataset attached.

    Args:
        username: the Kaggle user who pushes the kernel.
        notebook: the notebook's name ("classical_cf").
        code_file: file name of the notebook next to the metadata file.
        movielens_dataset: "owner/slug" of the MovieLens dataset to attach.
        private: whether the kernel is private.
        accelerator: a `GPU_ACCELERATORS` key, or "none" for a CPU kernel.

    Raises:
        ValueError: a bad username, dataset or accelerator.
    """
    gpu = validate_accelerator(accelerator) != NO_ACCELERATOR
    return {
        "id": f"{validate_username(username)}/{kernel_slug(notebook)}",
        "title": "RecSys " + notebook.replace("_", " "),
        "code_file": code_file,
        "language": "python",
        "kernel_type": "notebook",
        "is_private": private,
        "enable_gpu": gpu,
        **({"machine_shape": accelerator} if gpu else {}),
        "enable_internet": False,
        "dataset_sources": [
            dataset_id(username),
            validate_owner_slug(movielens_dataset, "movielens_dataset"),
        ],
        "competition_sources": [],
        "kernel_sources": [],
    }
