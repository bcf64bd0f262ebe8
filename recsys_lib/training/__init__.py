"""The memory-lean torch trainer: configs, batching, schedules, checkpoints, fault recovery.

Importing this package imports torch.
"""

from recsys_lib.config import ConfigBase, ConfigError
from recsys_lib.training.batching import (
    BatchSource,
    LoaderBatches,
    SparseRowBatches,
    TensorBatches,
    densify_rows,
)
from recsys_lib.training.checkpoint import (
    CheckpointError,
    CheckpointManager,
    load_checkpoint,
    load_weights,
    save_weights,
)
from recsys_lib.training.config import TrainerConfig
from recsys_lib.training.plan import TrainingPlan, count_parameters, plan_training
from recsys_lib.training.precision import Precision, resolve_precision
from recsys_lib.training.recovery import OutOfMemoryTrainingError, TrainingError
from recsys_lib.training.schedules import KLSchedule, LRSchedule
from recsys_lib.training.state import LossOutput, StepInfo, TrainResult
from recsys_lib.training.trainer import (
    LossFn,
    StepCallback,
    Trainer,
    ValidateFn,
    seed_everything,
)

__all__ = [
    "BatchSource",
    "CheckpointError",
    "CheckpointManager",
    "ConfigBase",
    "ConfigError",
    "KLSchedule",
    "LRSchedule",
    "LoaderBatches",
    "LossFn",
    "LossOutput",
    "OutOfMemoryTrainingError",
    "Precision",
    "SparseRowBatches",
    "StepCallback",
    "StepInfo",
    "TensorBatches",
    "TrainResult",
    "Trainer",
    "TrainerConfig",
    "TrainingError",
    "TrainingPlan",
    "ValidateFn",
    "count_parameters",
    "densify_rows",
    "load_checkpoint",
    "load_weights",
    "plan_training",
    "resolve_precision",
    "save_weights",
    "seed_everything",
]
