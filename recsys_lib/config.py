"""Strict frozen configs: built from dicts or YAML files, every unknown key and bad value named.

`ConfigBase` gives every config (the trainer's, the models', the notebooks' parameters) the
same `from_dict`/`from_yaml`/`to_dict`/`with_overrides`; a key that is not a field fails with
close matches suggested ("did you mean"), a value of the wrong type names the key.
Importing this module is light (no torch).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

__all__ = ["ConfigBase", "ConfigError", "check_known_keys", "read_yaml_mapping"]

ConfigT = TypeVar("ConfigT", bound="ConfigBase")


class ConfigError(ValueError):
    """A config has an unknown key or a bad value; the message names the key and the file."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(f"{loader.name}, line {line}: key {key!r} repeats line {seen[key]}")
        seen[key] = line
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file holding one mapping.

    Raises:
        ConfigError: the file is missing, is not valid YAML (line and column named), repeats
            a key, or does not hold a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from error
    try:
        loaded = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {error.problem}") from error
    except ConfigError as error:
        raise ConfigError(str(error).replace("<unicode string>", str(path))) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping of keys to values, not a "
                          f"{type(loaded).__name__}")
    return loaded


def check_known_keys(values: Mapping[str, Any], names: Sequence[str], *, what: str,
                     source: str = "") -> None:
    """Raise ConfigError naming every key of `values` not in `names` (with close matches).

    Args:
        values: the given keys.
        names: the accepted keys.
        what: what the keys configure, for the message ("TrainerConfig").
        source: the file the keys came from.
    """
    unknown = [key for key in values if key not in names]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), names, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    where = f" in {source}" if source else ""
    raise ConfigError(f"unknown {what} key(s){where}: {', '.join(hints)}; known keys: "
                      f"{', '.join(names)}")


class ConfigBase:
    """Mixin for frozen dataclasses: strict construction from mappings and YAML files."""

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of the config keys this class accepts."""
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[ConfigT], values: Mapping[str, Any], *, source: str = "") -> ConfigT:
        """Build from a mapping; every key must be a field and every value of its type.

        Args:
            values: key -> value; tuples may be given as lists; missing keys take defaults.
            source: where the values came from (a file name), quoted in errors.

        Raises:
            ConfigError: unknown key(s) (with close matches suggested) or a value of the
                wrong type or range.
        """
        where = f" in {source}" if source else ""
        check_known_keys(values, cls.field_names(), what=cls.__name__, source=source)
        hints_by_name = typing.get_type_hints(cls)
        kwargs = {key: _coerce(key, value, hints_by_name[key], where) for key, value in
                  values.items()}
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{cls.__name__}{where}: {error}") from error

    @classmethod
    def from_yaml(cls: type[ConfigT], path: str | Path) -> ConfigT:
        """Build from a YAML file holding one flat mapping of this config's keys."""
        return cls.from_dict(read_yaml_mapping(path), source=str(path))

    def check_types(self) -> None:
        """Raise ConfigError naming the first field whose value does not match its annotation
        (for configs built directly rather than through `from_dict`)."""
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            _coerce(field.name, getattr(self, field.name), hints[field.name], "")

    def to_dict(self) -> dict[str, Any]:
        """JSON- and YAML-ready values (tuples become lists)."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }

    def with_overrides(self: ConfigT, overrides: Mapping[str, Any], *, source: str = "") -> ConfigT:
        """A copy with `overrides` applied, checked like `from_dict`."""
        return type(self).from_dict({**self.to_dict(), **overrides}, source=source)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _coerce(key: str, value: Any, hint: Any, where: str) -> Any:
    """Check `value` against the annotation `hint` (int, float, bool, str, tuple[int, ...],
    dict[str, Any] (a mapping with string keys, its values unchecked), None and unions of
    these); ints are accepted for floats, lists for tuples."""
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    for option in options:
        ok, converted = _try_type(value, option)
        if ok:
            return converted
    expected = " or ".join(_type_name(option) for option in options)
    raise ConfigError(f"key {key!r}{where} must be {expected}, got {value!r}")


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


def _try_type(value: Any, option: Any) -> tuple[bool, Any]:
    if option is type(None):
        return value is None, None
    if option is bool:
        return isinstance(value, bool), value
    if option is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if option is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if option is str:
        return isinstance(value, str), value
    if option is dict or typing.get_origin(option) is dict:
        ok = isinstance(value, Mapping) and all(isinstance(key, str) for key in value)
        return ok, dict(value) if ok else value
    if typing.get_origin(option) is tuple:
        (item_type, _) = typing.get_args(option)
        if not isinstance(value, (list, tuple)):
            return False, value
        items = [_try_type(item, item_type) for item in value]
        return all(ok for ok, _ in items), tuple(item for _, item in items)
    raise TypeError(f"unsupported config annotation {option!r}")


def _type_name(option: Any) -> str:
    if option is type(None):
        return "null"
    if typing.get_origin(option) is tuple:
        return f"a list of {_type_name(typing.get_args(option)[0])}"
    if option is dict or typing.get_origin(option) is dict:
        return "a mapping of names to values"
    return option.__name__
