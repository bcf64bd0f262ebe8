"""Overrides of any key of a VAE run config (`recsys run vae --set kl_weight=0.02`, the
notebook's OVERRIDES), checked against the config's keys before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from recsys_lib.config import ConfigError, check_known_keys

__all__ = ["apply_overrides", "parse_config_value", "parse_settings", "split_values"]


def apply_overrides(config: Any, overrides: Mapping[str, Any] | None) -> Any:
    """`config` (a `RunConfig`) with `overrides` applied.

    Raises:
        ConfigError: a key that is neither the model's nor the trainer's (with close
            matches: "did you mean"), the `model` key (MODEL picks the model), or a bad value.
    """
    if not overrides:
        return config
    if "model" in overrides:
        raise ConfigError("OVERRIDES cannot change 'model'; set MODEL (and CONFIG) instead")
    known = [key for key in config.to_dict() if key != "model"]
    check_known_keys(overrides, known, what=f"{config.model} config", source="OVERRIDES")
    try:
        return config.with_overrides(dict(overrides))
    except ValueError as error:
        raise ConfigError(f"OVERRIDES: {error}") from error


def parse_config_value(text: str) -> Any:
    """A config value from the command line, read as YAML: `0.02`, `true`, `null`,
    `[512,256]`, `cosine`.

    Raises:
        ConfigError: the text is not valid YAML.
    """
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"cannot read the value {text!r}: {error}") from error


def parse_settings(specs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` specs (`--set`) as a mapping, values read by `parse_config_value`.

    Raises:
        ValueError: a spec is not `KEY=VALUE`, or a key repeats.
    """
    settings: dict[str, Any] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {spec!r} must look like KEY=VALUE (e.g. kl_weight=0.02)")
        if key in settings:
            raise ValueError(f"--set {key} is given twice")
        settings[key] = parse_config_value(value.strip())
    return settings


def split_values(text: str) -> list[str]:
    """Comma-separated values, commas inside brackets kept: `[512,256],[64]` is two."""
    values, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            values.append(current)
            current = ""
        else:
            current += char
    return [*values, current]
