"""Frozen config dataclasses read from dicts or YAML, with unknown keys and bad values named.

`ConfigBase` gives every config the same `from_dict`/`from_yaml`/`to_dict`; `TrainerConfig`
holds everything the `Trainer` needs. Model configs (recsys_lib.models.vae.config) reuse
`ConfigBase`.
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

from recsys_lib.training.schedules import LRSchedule

__all__ = [
    "MIXED_PRECISION",
    "ConfigBase",
    "ConfigError",
    "TrainerConfig",
    "check_known_keys",
    "read_yaml_mapping",
]

ConfigT = TypeVar("ConfigT", bound="ConfigBase")
MIXED_PRECISION = ("auto", "fp16", "bf16", "off")


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
    None and unions of these); ints are accepted for floats, lists for tuples."""
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
    return option.__name__


@dataclasses.dataclass(frozen=True)
class TrainerConfig(ConfigBase):
    """Settings of the `Trainer`; every key can be set from YAML.

    Attributes:
        epochs: passes over the training data.
        batch_size: effective batch (samples per optimizer step).
        micro_batch_size: samples per forward/backward pass; gradients of
            `ceil(batch_size / micro_batch_size)` micro-batches are accumulated. None: the
            whole batch at once. Halved automatically on a CUDA out-of-memory error.
        eval_batch_size: samples per validation pass (no gradients); None: 4 x batch_size.
        lr: peak learning rate.
        min_lr: learning rate at the last step of a cosine or exponential decay.
        lr_schedule: "cosine", "exponential" or "constant" (after warmup).
        warmup_steps: optimizer steps of linear learning-rate warmup.
        optimizer: "adam" (L2 `weight_decay` in the gradient) or "adamw" (decoupled).
        weight_decay: weight decay of the optimizer.
        gradient_clipping: max global gradient L2 norm; None or 0 turns clipping off (the
            pre-clip norm is logged either way).
        mixed_precision: "auto" (bf16 where the GPU supports it, else fp16 with a
            GradScaler; bf16 autocast on CPU), "fp16", "bf16" or "off"; true/false mean
            "auto"/"off".
        device: "auto", "cpu", "cuda" or "cuda:N" (see recsys_lib.device.resolve_device).
        seed: seeds torch, numpy and the batch order.
        patience: epochs without improvement of the validation metric before stopping;
            None: no early stopping.
        min_delta: smallest change that counts as an improvement.
        max_minutes: wall-clock budget in minutes; training ends after the step that
            crosses it, with a checkpoint. None: no budget. The default leaves an hour of
            Kaggle's 12-hour session for evaluation and saving.
        bad_steps_halve_lr: consecutive NaN/Inf steps after which the learning rate halves.
        bad_steps_stop: consecutive NaN/Inf steps after which training stops.
        checkpoint_dir: folder for checkpoints; None keeps the best weights in memory only.
        full_checkpoints: also write `last.pt` (optimizer, scaler, RNG, history) each
            epoch so the run can be resumed.
        checkpoint_fp16: store floating-point weights as fp16 in weights-only checkpoints.
        keep_best: how many best weights-only checkpoints to keep on disk.
        cleanup_every: run recsys_lib.memory.cleanup() every this many optimizer steps;
            0: never (benchmarks/vae.py measures its cost).
        progress: show a tqdm progress bar per epoch.
    """

    epochs: int = 20
    batch_size: int = 1024
    micro_batch_size: int | None = None
    eval_batch_size: int | None = None
    lr: float = 1e-3
    min_lr: float = 1e-5
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    optimizer: str = "adam"
    weight_decay: float = 0.0
    gradient_clipping: float | None = 1.0
    mixed_precision: bool | str = "auto"
    device: str = "auto"
    seed: int = 42
    patience: int | None = 5
    min_delta: float = 0.0
    max_minutes: float | None = 660.0
    bad_steps_halve_lr: int = 3
    bad_steps_stop: int = 10
    checkpoint_dir: str | None = None
    full_checkpoints: bool = False
    checkpoint_fp16: bool = False
    keep_best: int = 1
    cleanup_every: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.mixed_precision, bool):
            object.__setattr__(self, "mixed_precision", "auto" if self.mixed_precision else "off")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION} or a boolean, "
                             f"got {self.mixed_precision!r}")
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(f"optimizer must be 'adam' or 'adamw', got {self.optimizer!r}")
        positive = {"epochs": self.epochs, "batch_size": self.batch_size,
                    "bad_steps_halve_lr": self.bad_steps_halve_lr,
                    "bad_steps_stop": self.bad_steps_stop, "keep_best": self.keep_best}
        optional = {"micro_batch_size": self.micro_batch_size,
                    "eval_batch_size": self.eval_batch_size, "patience": self.patience}
        for name, value in {**positive, **optional}.items():
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name in ("weight_decay", "min_delta", "warmup_steps", "cleanup_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_minutes is not None and self.max_minutes < 0:
            raise ValueError(f"max_minutes must be >= 0, got {self.max_minutes}")
        if self.gradient_clipping is not None and self.gradient_clipping < 0:
            raise ValueError(f"gradient_clipping must be >= 0, got {self.gradient_clipping}")
        if self.full_checkpoints and self.checkpoint_dir is None:
            raise ValueError("full_checkpoints needs a checkpoint_dir to write them to")
        LRSchedule(self.lr, self.min_lr, 1, self.warmup_steps, self.lr_schedule)  # validates

    @property
    def micro_batch(self) -> int:
        """Samples per forward/backward pass (never more than the batch)."""
        return min(self.micro_batch_size or self.batch_size, self.batch_size)

    @property
    def eval_batch(self) -> int:
        """Samples per validation pass."""
        return self.eval_batch_size or 4 * self.batch_size
