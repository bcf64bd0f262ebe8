"""Notebook parameters: one strict frozen config per notebook, validated before any work.

Field names are the notebook's UPPER_CASE parameter names (papermill's `-p NAME VALUE` and
`recsys run -p NAME VALUE` set them directly). `from_namespace` reads them from a notebook's
globals, where papermill injects them, and refuses any other UPPER_CASE name with the close
matches ("did you mean"), so a misspelt parameter never silently keeps its default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from recsys_lib.config import ConfigBase
from recsys_lib.data.loading import BAD_ROW_POLICIES
from recsys_lib.data.sampling import SAMPLE_STRATEGIES
from recsys_lib.data.split import SPLIT_STRATEGIES
from recsys_lib.runs.tracking import TRACKERS

__all__ = ["NotebookParams", "check_choice", "check_experiment_id", "check_positive"]

ParamsT = TypeVar("ParamsT", bound="NotebookParams")
_PARAMETER_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_EXPERIMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class NotebookParams(ConfigBase):
    """Parameters every notebook shares.

    Attributes:
        DATA_PATH: a folder, a ratings file or a release name; None discovers the data.
        SAMPLE_SIZE: ratings to sample while streaming; None loads all.
        SAMPLING: how to sample (see `recsys_lib.data.sampling.SAMPLE_STRATEGIES`).
        SPLIT: the held-out split (see `recsys_lib.data.split.SPLIT_STRATEGIES`).
        TEST_FRACTION: share of ratings held out, between 0 and 1.
        SEED: seeds the sample, the split and the models.
        RESULTS_DIR: the run folder; None makes `runs/<timestamp>-<notebook>`.
        ON_BAD_ROWS: "error" stops at the first malformed row of the data file (naming
            its line); "skip" skips such rows and counts them.
        EXPERIMENT_ID: names and groups runs (letters, digits, ".", "_", "-"): recorded in
            results.json, and a run folder made by default goes under `runs/<id>/`.
        TRACKING: "wandb" logs the run to Weights & Biases when it ends (with wandb
            installed; see `recsys_lib.runs.tracking`); None: no tracking.

    `MACHINE_PARAMS` name the parameters about the machine rather than the run, which a
    resumed run may set anew (a run started on two GPUs goes on with one).
    """

    MACHINE_PARAMS: ClassVar[tuple[str, ...]] = ()

    DATA_PATH: str | None = None
    SAMPLE_SIZE: int | None = None
    SAMPLING: str = "ratings"
    SPLIT: str = "random"
    TEST_FRACTION: float = 0.2
    SEED: int = 42
    RESULTS_DIR: str | None = None
    ON_BAD_ROWS: str = "error"
    EXPERIMENT_ID: str | None = None
    TRACKING: str | None = None

    @classmethod
    def from_namespace(cls: type[ParamsT], namespace: Mapping[str, Any]) -> ParamsT:
        """The parameters found in `namespace` (a notebook's `globals()`).

        Raises:
            ConfigError: an UPPER_CASE name that is not a parameter (with close matches),
                or a bad value (the parameter named).
        """
        return cls.from_dict(cls.collect(namespace), source="the notebook's parameters")

    @classmethod
    def collect(cls, namespace: Mapping[str, Any]) -> dict[str, Any]:
        """Every UPPER_CASE name of `namespace` with its value, unchecked."""
        return {
            name: value
            for name, value in namespace.items()
            if _PARAMETER_NAME.match(name) and not callable(value)
        }

    def __post_init__(self) -> None:
        self.check_types()
        check_positive(self, "SAMPLE_SIZE", optional=True)
        check_choice(self, "SAMPLING", SAMPLE_STRATEGIES)
        check_choice(self, "SPLIT", SPLIT_STRATEGIES)
        check_choice(self, "ON_BAD_ROWS", BAD_ROW_POLICIES)
        check_experiment_id(self.EXPERIMENT_ID)
        if self.TRACKING is not None:
            check_choice(self, "TRACKING", TRACKERS)
        if not 0 < self.TEST_FRACTION < 1:
            raise ValueError(
                f"TEST_FRACTION must be a number between 0 and 1 (exclusive), "
                f"got {self.TEST_FRACTION!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameter values."""
        return self.to_dict()


def check_positive(params: Any, name: str, *, optional: bool = False) -> None:
    """Raise ValueError unless the field `name` is positive (or None when `optional`)."""
    value = getattr(params, name)
    if optional and value is None:
        return
    if value <= 0:
        raise ValueError(f"{name} must be positive{' or None' if optional else ''}, got {value!r}")


def check_experiment_id(value: str | None) -> None:
    """Raise ValueError unless `value` is None or a name fit for a folder (letters, digits,
    ".", "_", "-", starting with a letter or digit)."""
    if value is not None and not _EXPERIMENT_ID.match(value):
        raise ValueError(f"EXPERIMENT_ID must be letters, digits, '.', '_' or '-' (a folder "
                         f"name), got {value!r}")


def check_choice(params: Any, name: str, choices: tuple[str, ...]) -> None:
    """Raise ValueError unless the field `name` is one of `choices`."""
    value = getattr(params, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
