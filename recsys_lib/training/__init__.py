"""The memory-lean torch trainer: configs, batching, schedules, checkpoints, fault recovery.

Importing this package imports torch.
"""

from recsys_lib.config import ConfigBase, ConfigError
from recsys_lib.training.atomic import atomic_save
from recsys_lib.training.batching import (
    BatchSource,
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
from recsys_lib.training.kl_control import KLController
from recsys_lib.training.plan import (
    TrainingPlan,
    count_parameters,
    plan_training,
    training_estimate_bytes,
)
from recsys_lib.training.precision import Precision, resolve_precision
from recsys_lib.training.recovery import OutOfMemoryTrainingError, TrainingError
from recsys_lib.training.schedules import KLSchedule, LRSchedule
from recsys_lib.training.state import (
    LossFn,
    LossOutput,
    StepCallback,
    StepInfo,
    TrainResult,
    ValidateFn,
)
from recsys_lib.training.trainer import ModuleSource, Trainer, seed_everything

__all__ = [
    "BatchSource",
    "CheckpointError",
    "CheckpointManager",
    "ConfigBase",
    "ConfigError",
    "KLController",
    "KLSchedule",
    "LRSchedule",
    "LossFn",
    "LossOutput",
    "ModuleSource",
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
    "atomic_save",
    "count_parameters",
    "densify_rows",
    "load_checkpoint",
    "load_weights",
    "plan_training",
    "resolve_precision",
    "save_weights",
    "seed_everything",
    "training_estimate_bytes",
]
