"""The training engine: typed configs, the trainer, checkpoints, distributed helpers."""

from __future__ import annotations

from salt_vla.train.config import TrainConfig
from salt_vla.train.state import TrainingState
from salt_vla.train.trainer import NonFiniteLossError, Trainer, TrainResult, train

__all__ = ["NonFiniteLossError", "TrainConfig", "TrainResult", "Trainer", "TrainingState", "train"]
