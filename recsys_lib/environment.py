"""Where the code runs (Kaggle, Colab, local) and where outputs and caches go.

Every path can be overridden by an environment variable, so tests and headless runs can
simulate Kaggle or Colab on any machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = [
    "KAGGLE_INPUT_ENV",
    "KAGGLE_WORKING_ENV",
    "COLAB_DIR_ENV",
    "CACHE_DIR_ENV",
    "DATA_ENV",
    "is_kaggle",
    "is_colab",
    "platform_name",
    "kaggle_input_root",
    "kaggle_working_dir",
    "colab_data_dir",
    "cache_dir",
    "output_root",
]

DATA_ENV = "RECSYS_DATA"
KAGGLE_INPUT_ENV = "RECSYS_KAGGLE_INPUT"
KAGGLE_WORKING_ENV = "RECSYS_KAGGLE_WORKING"
COLAB_DIR_ENV = "RECSYS_COLAB_DIR"
CACHE_DIR_ENV = "RECSYS_CACHE_DIR"
OUTPUT_ENV = "RECSYS_OUTPUT_DIR"


def is_kaggle() -> bool:
    """True inside a Kaggle kernel (KAGGLE_KERNEL_RUN_TYPE is set there)."""
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE"))


def is_colab() -> bool:
    """True inside Google Colab (the google.colab module is loaded there)."""
    return "google.colab" in sys.modules


def platform_name() -> str:
    """"kaggle", "colab" or "local"."""
    if is_kaggle():
        return "kaggle"
    if is_colab():
        return "colab"
    return "local"


def kaggle_input_root() -> Path:
    """Folder holding attached Kaggle data sets (RECSYS_KAGGLE_INPUT, else /kaggle/input)."""
    return Path(os.environ.get(KAGGLE_INPUT_ENV, "/kaggle/input"))


def kaggle_working_dir() -> Path:
    """Kaggle's persistent output folder (RECSYS_KAGGLE_WORKING, else /kaggle/working)."""
    return Path(os.environ.get(KAGGLE_WORKING_ENV, "/kaggle/working"))


def colab_data_dir() -> Path:
    """Drive folder searched for MovieLens on Colab (RECSYS_COLAB_DIR, else MyDrive/movielens)."""
    return Path(os.environ.get(COLAB_DIR_ENV, "/content/drive/MyDrive/movielens"))


def cache_dir() -> Path:
    """Local download cache (RECSYS_CACHE_DIR, else ~/.cache/recsys_lib)."""
    default = Path.home() / ".cache" / "recsys_lib"
    return Path(os.environ.get(CACHE_DIR_ENV, default))


def output_root() -> Path:
    """Folder that run folders go under: RECSYS_OUTPUT_DIR, else /kaggle/working/runs on
    Kaggle (or when RECSYS_KAGGLE_WORKING is set), else ./runs."""
    if OUTPUT_ENV in os.environ:
        return Path(os.environ[OUTPUT_ENV])
    if is_kaggle() or KAGGLE_WORKING_ENV in os.environ:
        return kaggle_working_dir() / "runs"
    return Path("runs")
