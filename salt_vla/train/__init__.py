"""The training engine: typed configs, the stage-independent loop, the training tasks, checkpoints, distributed helpers."""

from __future__ import annotations

from salt_vla.train.config import TrainConfig
from salt_vla.train.state import TrainingState
from salt_vla.train.tasks import TaskContext, TaskParts, TrainBatch, TrainingTask
from salt_vla.train.trainer import NonFiniteLossError, Trainer, TrainResult, train

__all__ = ["NonFiniteLossError", "TaskContext", "TaskParts", "TrainBatch", "TrainConfig", "TrainResult", "Trainer",
           "TrainingState", "TrainingTask", "train"]
