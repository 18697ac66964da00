"""What the training loop is built from, stage by stage independent: seeds, precision, datasets, loaders,
optimizer, schedules (from the registry) and regional compilation.

The loop (:mod:`salt_vla.train.trainer`) calls these in a fixed order; the order matters, since building
modules consumes the seeded random stream and a resumed or re-run configuration must see the same weights.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

import salt_vla
from salt_vla.interfaces import Schedule
from salt_vla.train.config import ScheduleSpec, TrainConfig
from salt_vla.train.distributed import DistInfo
from salt_vla.train.sampler import ResumableBatchSampler


def autocast_factory(precision: str, device: torch.device) -> tuple[Callable[[], Any], str]:
    """A context factory for the forward passes and the precision's name: bf16 autocast (``auto`` on CUDA) or none."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), "bf16"
    return contextlib.nullcontext, "fp32"


def base_datasets(config: TrainConfig) -> tuple[Any, Any | None, tuple[int, ...]]:
    """The training dataset, the validation dataset (``None`` without ``data.val_args``) and the clip shape."""
    data = config.data
    train_set = salt_vla.create_dataset(data.dataset, **data.args)
    val_set = None if data.val_args is None else salt_vla.create_dataset(data.dataset, **{**data.args, **data.val_args})
    return train_set, val_set, tuple(train_set.item(0, epoch=0)["video"].shape)


def compile_blocks(model: nn.Module) -> None:
    """Regional compilation: each transformer block is compiled on its own (fused norms, GELU, residuals).

    Token counts differ between mask sets and batches; compiling blocks rather than the whole model keeps the
    graphs small and the recompilations cheap (dynamic shapes after the first recompile).
    """
    from timm.models.vision_transformer import Block

    for module in model.modules():
        if isinstance(module, Block):
            module.compile()


def make_schedule(spec: ScheduleSpec | None, default: tuple[str, dict[str, Any]], total_steps: int) -> Schedule:
    """The registered schedule of ``spec`` (``default`` when ``None``); ``total_steps`` filled in when it takes one."""
    name, args = (spec.name, dict(spec.args)) if spec is not None else default
    factory = salt_vla.plugins.registry().get("schedule", name).factory
    try:
        takes_steps = "total_steps" in inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin or C callable: give what the user wrote
        takes_steps = False
    if takes_steps and "total_steps" not in args:
        args["total_steps"] = total_steps
    return salt_vla.create_schedule(name, **args)


def make_schedules(config: TrainConfig) -> tuple[Schedule, Schedule]:
    """Learning-rate and weight-decay schedules of ``schedules`` (defaults from ``optim``)."""
    optim, steps = config.optim, config.run.steps
    lr = make_schedule(config.schedules.lr, ("warmup_cosine", {
        "peak": optim.lr, "warmup_steps": optim.warmup_steps, "min_value": optim.min_lr, "start_value": optim.start_lr,
    }), steps)
    wd = make_schedule(config.schedules.weight_decay, ("cosine", {
        "start": optim.weight_decay, "end": optim.weight_decay_end}), steps)
    return lr, wd


@dataclass
class Loaders:
    """The training loader, its resumable sampler, and the validation loader (``None`` without validation data)."""

    train: Any
    sampler: ResumableBatchSampler
    val: Any | None


def _dataloader(config: TrainConfig, device: torch.device, dataset: Any, sampler: ResumableBatchSampler,
                collate: Any, persistent: bool = True) -> DataLoader:
    data = config.data
    kwargs: dict[str, Any] = {}
    if data.num_workers > 0:
        kwargs = {"persistent_workers": persistent, "prefetch_factor": data.prefetch_factor}
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=data.num_workers,
                      pin_memory=data.pin_memory and device.type == "cuda", **kwargs)


def _check_shared_memory(config: TrainConfig, train_set: Any) -> None:
    """Refuse a DataLoader setup whose in-flight batches would not fit /dev/shm (the seed runs' bus errors)."""
    from salt_vla.data import check_shared_memory, nbytes

    data = config.data
    if data.num_workers == 0:
        return
    item = train_set[0]
    per_item = nbytes(item["video"]) + (nbytes(item["latents"]) if "latents" in item else 0)
    check_shared_memory(per_item * data.batch_size, data.num_workers, data.prefetch_factor)


def make_loaders(config: TrainConfig, info: DistInfo, train_set: Any, val_set: Any | None,
                 grid: tuple[int, int, int]) -> Loaders:
    """Resumable, rank-sharded loaders with masks drawn per batch (pinned-memory threads or a DataLoader)."""
    from salt_vla.data import MaskCollate

    cfg, device = config, info.device
    masker = salt_vla.create_masker(cfg.masks.name, **cfg.masks.args)
    pinned = cfg.data.loader == "pinned_threads" or (cfg.data.loader == "auto" and bool(cfg.data.clip_cache))
    sampler = ResumableBatchSampler(len(train_set), cfg.data.batch_size, seed=cfg.run.seed, rank=info.rank,
                                    world_size=info.world_size)
    collate = MaskCollate(masker, grid, cfg.run.seed)
    if pinned:
        from salt_vla.train.pinned_loader import PinnedCacheLoader

        train = PinnedCacheLoader(train_set, sampler, collate, threads=cfg.data.loader_threads,
                                  prefetch=cfg.data.prefetch_factor * 2, pin=cfg.data.pin_memory and device.type == "cuda")
    else:
        _check_shared_memory(cfg, train_set)
        train = _dataloader(cfg, device, train_set, sampler, collate)
    val = None
    if val_set is not None:
        val_sampler = ResumableBatchSampler(len(val_set), cfg.data.batch_size, seed=cfg.run.seed, shuffle=False,
                                            rank=info.rank, world_size=info.world_size)
        val = _dataloader(cfg, device, val_set, val_sampler, MaskCollate(masker, grid, cfg.run.seed + 1),
                          persistent=False)
    return Loaders(train, sampler, val)


class FiniteCheck:
    """Finiteness of step ``k`` copied to pinned host memory, read while step ``k + 1`` is queued."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.pending: tuple[int, torch.Tensor, Any] | None = None

    def record(self, step: int, finite: torch.Tensor) -> None:
        if self.cuda:
            host = torch.empty((), dtype=torch.bool, pin_memory=True)
            host.copy_(finite, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            self.pending = (step, host, event)
        else:
            self.pending = (step, finite, None)

    def failed_step(self) -> int | None:
        """The recorded step if it was not finite (waits only for that step, not later work)."""
        if self.pending is None:
            return None
        step, flag, event = self.pending
        if event is not None:
            event.synchronize()
        self.pending = None
        return None if bool(flag) else step
