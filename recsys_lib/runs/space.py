"""Search spaces for `recsys tune`: a YAML file naming notebook parameters (UPPER_CASE)
and config keys (lower case) with ranges or choices.

    notebook: vae            # or classical
    fixed:                   # the same in every trial
      CONFIG: cpu_quick
      SAMPLE_SIZE: 100000
    search:
      kl_weight: {low: 0.0001, high: 0.1, log: true}
      latent_dim: {low: 8, high: 64, step: 8}      # ints: an int range
      hidden_dims: {choices: [[64, 32], [128, 64]]}
    # classical only: the model tuned and the metric it is scored by
    model: SVD
    metric: rmse

Shipped examples: `recsys_lib/configs/spaces/*.yaml` (`space_path("rating_vae")`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys_lib.config import ConfigError, check_known_keys, read_yaml_mapping

__all__ = ["PACKAGED_SPACES", "Dimension", "SearchSpace", "space_path"]

PACKAGED_SPACES = Path(__file__).resolve().parent.parent / "configs" / "spaces"
_TOP_KEYS = ("notebook", "fixed", "search", "model", "metric", "direction")
_DIMENSION_KEYS = ("low", "high", "log", "step", "choices")
TUNE_NOTEBOOKS = ("vae", "classical")


@dataclass(frozen=True)
class Dimension:
    """One searched setting: a float or int range (`low`..`high`, optionally on a log
    scale or in steps) or a list of `choices` (any YAML values, lists included)."""

    name: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    @classmethod
    def from_spec(cls, name: str, spec: Any, source: str) -> Dimension:
        """Read `{low, high[, log][, step]}` or `{choices: [...]}`.

        Raises:
            ConfigError: an unknown key, neither a range nor choices, or low >= high.
        """
        where = f"{source}: search.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where} must be {{low: .., high: ..}} or {{choices: [..]}}, "
                              f"got {spec!r}")
        check_known_keys(spec, _DIMENSION_KEYS, what="search dimension", source=where)
        if "choices" in spec:
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices or len(spec) > 1:
                raise ConfigError(f"{where}: choices must be a non-empty list, alone")
            return cls(name, choices=tuple(choices))
        low, high = spec.get("low"), spec.get("high")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
            raise ConfigError(f"{where} needs numbers low and high, got {low!r} and {high!r}")
        if low >= high:
            raise ConfigError(f"{where}: low {low!r} must be below high {high!r}")
        if spec.get("log") and low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0, got {low!r}")
        return cls(name, low, high, bool(spec.get("log", False)), spec.get("step"))

    @property
    def is_int(self) -> bool:
        """An integer range (low, high and any step are ints)."""
        return not self.choices and all(isinstance(v, int) for v in (self.low, self.high)) and (
            self.step is None or isinstance(self.step, int))

    def suggest(self, trial: Any) -> Any:
        """This dimension's value for an Optuna trial (choices travel as JSON text, since
        Optuna's categorical values must be scalars)."""
        if self.choices:
            return json.loads(trial.suggest_categorical(self.name, self.encoded_choices()))
        if self.is_int:
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1,
                                     log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high),
                                   step=self.step, log=self.log)

    def encoded_choices(self) -> list[str]:
        """The choices as JSON text."""
        return [json.dumps(choice) for choice in self.choices]

    def decode(self, value: Any) -> Any:
        """A stored Optuna value back to the setting's value."""
        return json.loads(value) if self.choices else value

    def first(self) -> Any:
        """A value inside the dimension (for checking a space before any trial)."""
        return self.choices[0] if self.choices else self.low


@dataclass(frozen=True)
class SearchSpace:
    """A parsed space file.

    Attributes:
        notebook: "vae" or "classical".
        dimensions: the searched settings.
        fixed: settings every trial shares (parameters and config keys).
        model: classical: the model tuned (a `CLASSICAL_MODELS` name).
        metric: classical: the validation metric optimised (default ndcg@10); a VAE
            optimises its trainer's validation metric (RMSE or NDCG).
        source: the file.
    """

    notebook: str
    dimensions: tuple[Dimension, ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    metric: str | None = None
    source: str = ""

    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchSpace:
        """Read a space file (a path, or the name of a shipped one).

        Raises:
            ConfigError: a bad file (the key and the file named).
        """
        path = space_path(path)
        values = read_yaml_mapping(path)
        source = str(path)
        check_known_keys(values, _TOP_KEYS, what="search space", source=source)
        notebook = values.get("notebook")
        if notebook not in TUNE_NOTEBOOKS:
            raise ConfigError(f"{source}: notebook must be one of {', '.join(TUNE_NOTEBOOKS)}, "
                              f"got {notebook!r}")
        search = values.get("search")
        if not isinstance(search, dict) or not search:
            raise ConfigError(f"{source}: 'search' must map settings to ranges or choices")
        fixed = values.get("fixed") or {}
        if not isinstance(fixed, dict):
            raise ConfigError(f"{source}: 'fixed' must be a mapping")
        both = sorted(set(fixed) & set(search))
        if both:
            raise ConfigError(f"{source}: {', '.join(both)} both fixed and searched")
        if notebook == "classical" and not values.get("model"):
            raise ConfigError(f"{source}: a classical space names the 'model' it tunes")
        lower = [name for name in [*fixed, *search] if not name.isupper()]
        if notebook == "classical" and lower:
            raise ConfigError(f"{source}: the classical notebook has no config keys: "
                              f"{', '.join(lower)}; use its UPPER_CASE parameters")
        dimensions = tuple(Dimension.from_spec(name, spec, source)
                           for name, spec in search.items())
        return cls(notebook, dimensions, dict(fixed), values.get("model"),
                   values.get("metric"), source)

    def dimension(self, name: str) -> Dimension:
        """The dimension called `name`."""
        return next(d for d in self.dimensions if d.name == name)

    def settings(self, chosen: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The fixed settings with `chosen` over them, split into notebook parameters
        (UPPER_CASE) and config overrides (lower case)."""
        values = {**self.fixed, **chosen}
        params = {key: value for key, value in values.items() if key.isupper()}
        overrides = {key: value for key, value in values.items() if not key.isupper()}
        return params, overrides

    def first_settings(self) -> dict[str, Any]:
        """A value of every dimension (to check the space before any trial)."""
        return {d.name: d.first() for d in self.dimensions}


def space_path(name_or_path: str | Path) -> Path:
    """A space file by path, or a shipped one by name ("rating_vae").

    Raises:
        ConfigError: neither exists (the shipped ones listed).
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = PACKAGED_SPACES / f"{path.stem}.yaml"
    if shipped.is_file():
        return shipped
    names = ", ".join(p.stem for p in sorted(PACKAGED_SPACES.glob("*.yaml")))
    raise ConfigError(f"no search space {str(name_or_path)!r}: not a file, and not a shipped "
                      f"space ({names})")
