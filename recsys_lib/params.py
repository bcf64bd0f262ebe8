"""Notebook parameters: one frozen dataclass per notebook, validated before any work starts.

Field names are the notebook's UPPER_CASE parameter names (see DESIGN.md), so papermill's
`-p NAME VALUE` and `recsys run -p NAME VALUE` set them directly. Every check names the
parameter, the value given and what was expected.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["SAMPLING_STRATEGIES", "ClassicalParams", "NotebookParams", "VAEParams"]

SAMPLING_STRATEGIES = ("ratings", "users")


@dataclass(frozen=True)
class NotebookParams:
    """Parameters every notebook shares."""

    DATA_PATH: str | None = None
    SAMPLE_SIZE: int | None = None
    SAMPLING: str = "ratings"
    SPLIT: str = "random"
    TEST_FRACTION: float = 0.2
    SEED: int = 42
    RESULTS_DIR: str | None = None

    @classmethod
    def collect(cls, namespace: dict[str, Any]) -> dict[str, Any]:
        """The values of this class's fields found in `namespace` (a notebook's globals)."""
        names = {field.name for field in dataclasses.fields(cls)}
        return {name: namespace[name] for name in names if name in namespace}

    def __post_init__(self) -> None:
        from recsys_lib.data.split import SPLIT_STRATEGIES

        _optional_positive_int(self, "SAMPLE_SIZE")
        _choice(self, "SAMPLING", SAMPLING_STRATEGIES)
        _choice(self, "SPLIT", SPLIT_STRATEGIES)
        if not isinstance(self.TEST_FRACTION, (int, float)) or not 0 < self.TEST_FRACTION < 1:
            raise ValueError(
                f"TEST_FRACTION must be a number between 0 and 1 (exclusive), "
                f"got {self.TEST_FRACTION!r}"
            )
        _integer(self, "SEED")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameter values."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ClassicalParams(NotebookParams):
    """Parameters of `classical_cf`: data, split and the four models' knobs."""

    SAMPLE_SIZE: int | None = 50_000
    SVD_COMPONENTS: int = 30
    KNN_NEIGHBORS: int = 15
    ALS_FACTORS: int = 30
    ALS_ITERATIONS: int = 5
    TOP_K: int = 10
    EVAL_USERS: int | None = None
    DEVICE: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("SVD_COMPONENTS", "KNN_NEIGHBORS", "ALS_FACTORS", "ALS_ITERATIONS", "TOP_K"):
            _positive_int(self, name)
        _optional_positive_int(self, "EVAL_USERS")


@dataclass(frozen=True)
class VAEParams(NotebookParams):
    """Parameters of `vae_training`: a YAML config (None: MODEL's default config) plus
    overrides (None keeps the config's value)."""

    CONFIG: str | None = None
    MODEL: str | None = None
    EPOCHS: int | None = None
    BATCH_SIZE: int | None = None
    MAX_MINUTES: float | None = None
    DEVICE: str = "auto"
    TOP_K: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.CONFIG is not None and (not isinstance(self.CONFIG, str) or not self.CONFIG):
            raise ValueError(
                f"CONFIG must be a config name, a YAML path or None, got {self.CONFIG!r}"
            )
        if self.MODEL is not None:
            _choice(self, "MODEL", ("rating_vae", "mult_vae"))
        _optional_positive_int(self, "EPOCHS")
        _optional_positive_int(self, "BATCH_SIZE")
        _positive_int(self, "TOP_K")
        if self.MAX_MINUTES is not None and (
            not isinstance(self.MAX_MINUTES, (int, float)) or self.MAX_MINUTES <= 0
        ):
            raise ValueError(
                f"MAX_MINUTES must be a positive number or None, got {self.MAX_MINUTES!r}"
            )


def _integer(params: Any, name: str) -> None:
    value = getattr(params, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")


def _positive_int(params: Any, name: str) -> None:
    value = getattr(params, name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _optional_positive_int(params: Any, name: str) -> None:
    value = getattr(params, name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")


def _choice(params: Any, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(params, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
