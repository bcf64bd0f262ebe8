"""The Kaggle bundle: a dataset of wheels (recsys_lib and the dependencies Kaggle lacks)
and one kernel folder per notebook, for upload with the official `kaggle` CLI.

`python -m recsys_lib.kaggle build --username NAME` (or `recsys kaggle build`) writes
dist/kaggle/; kaggle/README.md gives the upload steps.
"""

from recsys_lib.kaggle.bundle import BundleReport, build_bundle, kaggle_notebook
from recsys_lib.kaggle.command import main
from recsys_lib.kaggle.metadata import (
    DATASET_SLUG,
    DEFAULT_ACCELERATOR,
    DEFAULT_MOVIELENS_DATASET,
    GPU_ACCELERATORS,
    dataset_metadata,
    kernel_metadata,
)
from recsys_lib.kaggle.runtimes import RUNTIMES, Runtime

__all__ = [
    "DATASET_SLUG",
    "DEFAULT_ACCELERATOR",
    "DEFAULT_MOVIELENS_DATASET",
    "GPU_ACCELERATORS",
    "RUNTIMES",
    "BundleReport",
    "Runtime",
    "build_bundle",
    "dataset_metadata",
    "kaggle_notebook",
    "kernel_metadata",
    "main",
]
