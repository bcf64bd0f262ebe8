"""Checkpoints: atomic writes, weights-only or full payloads, safe loading, keep-best-N.

Files are written atomically (recsys_lib.training.atomic: a crash, a kill or a full disk
mid-write leaves the previous file intact and says what happened); temporary files left by a
killed process are removed when a `CheckpointManager` next uses the folder. Files load with
`torch.load(weights_only=True)` (no arbitrary pickle); a truncated, corrupt, foreign or
mismatched file raises `CheckpointError` naming the file and the problem.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recsys_lib.files import remove_stale_temp_files
from recsys_lib.training.atomic import atomic_save

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "CheckpointManager",
    "load_checkpoint",
    "load_weights",
    "restore_full",
    "save_full",
    "save_weights",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "recsys_lib.checkpoint"
CHECKPOINT_VERSION = 1
KINDS = ("weights", "full")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, of another kind, or does not fit the model."""


def _cpu_state(module: nn.Module, fp16: bool) -> dict[str, torch.Tensor]:
    """A CPU copy of the state dict (a copy also on the CPU: later steps must not change it)."""
    state = {}
    for key, value in module.state_dict().items():
        value = value.detach().to("cpu", copy=True)
        state[key] = value.half() if fp16 and value.is_floating_point() else value
    return state


def save_weights(module: nn.Module, path: str | Path, *, fp16: bool = False,
                 metadata: Mapping[str, Any] | None = None) -> Path:
    """Write a weights-only checkpoint (the state dict, on the CPU).

    Args:
        module: the network.
        path: target file (conventionally `.pt`).
        fp16: store floating-point tensors as float16 (half the size; restored into the
            module's own dtype on load).
        metadata: small JSON-like values stored with the weights (epoch, metric, ...).
    """
    return atomic_save(
        {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "kind": "weights",
         "state_dict": _cpu_state(module, fp16), "metadata": dict(metadata or {})},
        path,
    )


def load_checkpoint(path: str | Path, *, kind: str | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by this module with `torch.load(weights_only=True)`.

    Args:
        path: the file.
        kind: "weights" or "full" to insist on one kind; a full checkpoint also serves
            where weights are asked for. None accepts both.
        map_location: where tensors are loaded.

    Raises:
        CheckpointError: the file is missing, unreadable (truncated or corrupt), not a
            recsys_lib checkpoint, of a newer version, or not of `kind`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for a damaged zip or pickle
        raise CheckpointError(
            f"checkpoint {path} is unreadable (truncated or corrupt?): "
            f"{type(error).__name__}: {error}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a recsys_lib checkpoint (no '{CHECKPOINT_FORMAT}' "
                              "format marker)")
    if payload.get("version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload['version']}; this "
                              f"recsys_lib reads up to version {CHECKPOINT_VERSION}")
    if payload.get("kind") not in KINDS:
        raise CheckpointError(f"{path} has unknown kind {payload.get('kind')!r}")
    if kind == "full" and payload["kind"] != "full":
        raise CheckpointError(f"{path} holds weights only; resuming needs a full checkpoint "
                              "(TrainerConfig.full_checkpoints=true)")
    return payload


def load_weights(module: nn.Module, source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Load the weights of a checkpoint (file or loaded payload) into `module`.

    Returns:
        The checkpoint's metadata (empty for a full checkpoint).

    Raises:
        CheckpointError: unreadable file, or keys or shapes that differ from the module's
            (all differences are listed).
    """
    payload = source if isinstance(source, Mapping) else load_checkpoint(source)
    name = "checkpoint" if isinstance(source, Mapping) else str(source)
    state = payload["state_dict"]
    expected = module.state_dict()
    problems = [f"missing {key}" for key in expected if key not in state]
    problems += [f"unexpected {key}" for key in state if key not in expected]
    problems += [
        f"{key}: file {tuple(state[key].shape)} vs model {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    if problems:
        raise CheckpointError(f"{name} does not match {type(module).__name__}: "
                              + "; ".join(problems))
    module.load_state_dict(state)  # copy_ casts fp16 storage back to the module's dtype
    return dict(payload.get("metadata", {}))


def save_full(path: str | Path, module: nn.Module, optimizer: torch.optim.Optimizer,
              scaler: torch.amp.GradScaler, extra: Mapping[str, Any]) -> Path:
    """Write a full checkpoint: weights, optimizer, GradScaler, torch RNG states (CPU and
    CUDA) and `extra` (plain values: the loop state, history, config).

    Returns:
        The path written.
    """
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return atomic_save(
        {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "kind": "full",
         "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
         "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(), "rng": rng,
         **extra},
        path,
    )


def restore_full(path: str | Path, module: nn.Module, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler) -> dict[str, Any]:
    """Load a full checkpoint into the module, optimizer and scaler and restore the RNG
    states; returns the payload (with the `extra` values `save_full` stored).

    Raises:
        CheckpointError: unreadable file, a weights-only file, or weights that do not fit.
    """
    payload = load_checkpoint(path, kind="full")
    load_weights(module, payload)
    optimizer.load_state_dict(payload["optimizer"])
    scaler.load_state_dict(payload["scaler"])
    torch.set_rng_state(payload["rng"]["torch"])
    if "cuda" in payload["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(payload["rng"]["cuda"])
    return payload


class CheckpointManager:
    """Keeps the best weights by a validation metric: on disk (the best `keep_best` files)
    or, without a folder, as a CPU copy in memory.

    Temporary files that killed writers left in `directory` are removed when the manager is
    created (see `remove_stale_temp_files`).

    Args:
        directory: folder for `best-epochNNNN.pt` and `last.pt`; None keeps the best weights
            in memory only.
        mode: "min" (lower metric is better) or "max".
        min_delta: smallest change that counts as an improvement.
        keep_best: best weights-only files kept on disk; older ones are deleted.
        fp16: store the weights-only files in float16.
    """

    def __init__(self, directory: str | Path | None, *, mode: str = "min",
                 min_delta: float = 0.0, keep_best: int = 1, fp16: bool = False) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.directory = None if directory is None else Path(directory)
        self.mode, self.min_delta, self.keep_best, self.fp16 = mode, min_delta, keep_best, fp16
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self._kept: list[str] = []
        self._memory: dict[str, torch.Tensor] | None = None
        if self.directory is not None:
            remove_stale_temp_files(self.directory)

    @property
    def last_path(self) -> Path | None:
        """Path of the full checkpoint used to resume, or None without a folder."""
        return None if self.directory is None else self.directory / "last.pt"

    @property
    def best_path(self) -> Path | None:
        """Path of the best weights-only checkpoint, or None."""
        return Path(self._kept[-1]) if self._kept else None

    def is_improvement(self, metric: float) -> bool:
        """Whether `metric` beats the best so far by more than `min_delta`."""
        if self.best_metric is None:
            return True
        if self.mode == "min":
            return metric < self.best_metric - self.min_delta
        return metric > self.best_metric + self.min_delta

    def update(self, module: nn.Module, metric: float | None, epoch: int) -> bool:
        """Keep the module's weights if `metric` is the best so far (always when `metric`
        is None: no model selection, the latest weights are kept); returns whether kept."""
        if metric is not None and not self.is_improvement(metric):
            return False
        self.best_metric = None if metric is None else float(metric)
        self.best_epoch = epoch
        if self.directory is None:
            self._memory = _cpu_state(module, fp16=False)
            return True
        path = self.directory / f"best-epoch{epoch:04d}.pt"
        save_weights(module, path, fp16=self.fp16,
                     metadata={"epoch": epoch, "metric": self.best_metric, "mode": self.mode})
        self._kept.append(str(path))
        while len(self._kept) > self.keep_best:
            Path(self._kept.pop(0)).unlink(missing_ok=True)
        logger.info("kept the weights of epoch %d (metric %s) -> %s", epoch, metric, path)
        return True

    def restore_best(self, module: nn.Module) -> bool:
        """Load the best weights into `module`; False when none were kept."""
        if self._memory is not None:
            module.load_state_dict(self._memory)
            return True
        if self.best_path is not None:
            load_weights(module, self.best_path)
            return True
        return False

    def state(self) -> dict[str, Any]:
        """What a full checkpoint stores to resume the bookkeeping (no tensors)."""
        return {"best_metric": self.best_metric, "best_epoch": self.best_epoch,
                "kept": list(self._kept)}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore bookkeeping from `state()`; files that no longer exist are dropped."""
        self.best_metric, self.best_epoch = state["best_metric"], state["best_epoch"]
        self._kept = [path for path in state["kept"] if Path(path).is_file()]
