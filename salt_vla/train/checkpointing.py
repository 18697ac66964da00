"""Save and restore a run's checkpoint for the loop: the task says which modules, :mod:`salt_vla.train.state`
how they are written, :mod:`salt_vla.train.changes` whether a resume may change the configuration."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from salt_vla.config import to_dict
from salt_vla.train.changes import check_resume
from salt_vla.train.config import TrainConfig
from salt_vla.train.distributed import DistInfo, barrier, full_state_dicts, load_full_state_dicts, unwrap
from salt_vla.train.state import TrainingState, capture_rng, load_checkpoint, restore_rng
from salt_vla.train.state import save_checkpoint as write_checkpoint
from salt_vla.train.tasks import TrainingTask


def run_identity(config: TrainConfig, task: TrainingTask) -> dict[str, Any]:
    """What ``run.json`` stores: the resolved configuration and the identity of the targets."""
    return json.loads(json.dumps({"config": to_dict(config), "targets": task.targets_identity()}, default=str))


def _sharded(config: TrainConfig, info: DistInfo) -> bool:
    return config.run.distributed == "fsdp" and info.enabled


def save_checkpoint(path: Path, task: TrainingTask, model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainingState,
         config: TrainConfig, info: DistInfo) -> Path:
    """Write the checkpoint directory ``path`` (collective under distributed training; rank 0 writes)."""
    model_state, optimizer_state = full_state_dicts(model, optimizer, sharded=_sharded(config, info))
    models = task.split_state(unwrap(model), model_state)
    rng = [capture_rng()]
    if info.enabled:
        import torch.distributed as dist

        gathered: list[Any] = [None] * info.world_size
        dist.all_gather_object(gathered, rng[0])
        rng = gathered
    if info.is_main:
        metadata = {"training_config": to_dict(config), "step": state.step, "stage": task.name}
        write_checkpoint(path, models=models, optimizer_state=optimizer_state, state=state, rng=rng,
                        metadata=metadata, run=run_identity(config, task))
    barrier(info)
    return path


def restore_checkpoint(path: Path, task: TrainingTask, model: nn.Module, optimizer: torch.optim.Optimizer, config: TrainConfig,
            info: DistInfo, *, allow_config_change: bool) -> TrainingState:
    """Load ``path`` into ``model``, ``optimizer`` and this rank's generators; the run's position is returned.

    Raises:
        ConfigChangeError: the configuration or the targets changed (see :func:`salt_vla.train.changes.check_resume`).
    """
    loaded = load_checkpoint(path, list(task.module_names))
    if loaded.run is not None:
        changed = check_resume(loaded.run, run_identity(config, task), checkpoint=str(path),
                               allow_config_change=allow_config_change)
        if changed:
            warnings.warn(f"Resuming {path} with {len(changed)} changed setting(s) (--allow-config-change): "
                          + "; ".join(changed), stacklevel=3)
    from salt_vla.weights import check_state_dict

    full = task.join_state(loaded.models)
    check_state_dict(unwrap(model), full, what=f"the model of {config.run.out_dir}",
                     hint="The checkpoint was trained with another architecture; use a new run.out_dir.")
    load_full_state_dicts(model, optimizer, full, loaded.optimizer_state, sharded=_sharded(config, info))
    if len(loaded.rng) == info.world_size:
        restore_rng(loaded.rng[info.rank])
    else:
        warnings.warn(f"The checkpoint holds RNG states of {len(loaded.rng)} processes; this run has "
                      f"{info.world_size}. Data order and masks resume exactly; dropout noise does not.", stacklevel=3)
    return loaded.state
