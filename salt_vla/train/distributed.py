"""Process groups, model wrapping and rank-aware helpers for ``torchrun``.

Under ``torchrun`` (``WORLD_SIZE > 1``) the trainer joins a process group (NCCL on CUDA, gloo on
CPU), wraps the model in DistributedDataParallel, or fully shards it (FSDP2) block by block, and
only rank 0 writes logs and checkpoints. Without ``torchrun`` every helper is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """This process's place: ``rank`` of ``world_size``, its ``device``, and whether a group exists."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    if preference == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"run.device={preference!r} but CUDA is not available; use 'auto' or 'cpu'.")
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def init_distributed(device_preference: str = "auto") -> DistInfo:
    """Join the ``torchrun`` process group if there is one; pick this process's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_preference, local_rank)
    if world_size <= 1:
        return DistInfo(device=device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)


def wrap_model(model: nn.Module, info: DistInfo, strategy: str = "ddp") -> nn.Module:
    """DDP (``auto``/``ddp``) or FSDP2 (``fsdp``: each transformer block sharded, then the root)."""
    if not info.enabled:
        return model
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for module in model.modules():
            blocks = getattr(module, "blocks", None)
            if isinstance(blocks, nn.ModuleList):
                for block in blocks:
                    fully_shard(block)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (FSDP2 shards in place, so it is its own inner module)."""
    return getattr(model, "module", model)


def all_reduce_mean(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of ``tensor`` over ranks (in place when distributed)."""
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= info.world_size
    return tensor


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def full_state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer, *, sharded: bool) -> tuple[dict, dict]:
    """Complete (unsharded, CPU) model and optimizer state dicts; collective when ``sharded`` (FSDP)."""
    if not sharded:
        return unwrap(model).state_dict(), optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options), get_optimizer_state_dict(model, optimizer, options=options)


def _parameter_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The model's name of each parameter the optimizer holds, in the optimizer's order (its state's indices)."""
    names = {id(p): n for n, p in unwrap(model).named_parameters()}
    return [names[id(p)] for group in optimizer.param_groups for p in group["params"]]


def optimizer_state_keyed(optimizer_state: dict, names: list[str], *, by_name: bool) -> dict:
    """``optimizer_state`` with its parameters keyed by name (FSDP's full state dict) or by index (``Optimizer``'s).

    A checkpoint written by one process or DDP keys the optimizer state by index, one written under FSDP by
    parameter name; converting on load lets a run resume under another world size or strategy. A state
    already in the wanted form is returned as it is.

    Raises:
        KeyError: the state names a parameter the model does not have (another model's checkpoint).
    """
    keys = list(optimizer_state["state"]) + [p for g in optimizer_state["param_groups"] for p in g["params"]]
    if all(isinstance(k, str) for k in keys) == by_name:
        return optimizer_state
    convert = names.__getitem__ if by_name else {name: i for i, name in enumerate(names)}.__getitem__
    return {**optimizer_state,
            "state": {convert(k): v for k, v in optimizer_state["state"].items()},
            "param_groups": [{**g, "params": [convert(p) for p in g["params"]]} for g in optimizer_state["param_groups"]]}


def load_full_state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer, model_state: dict, optimizer_state: dict,
                          *, sharded: bool) -> None:
    """Inverse of :func:`full_state_dicts`: every rank loads the complete dicts (FSDP keeps its own shard).

    The optimizer state may come from either strategy (see :func:`optimizer_state_keyed`).
    """
    optimizer_state = optimizer_state_keyed(optimizer_state, _parameter_names(model, optimizer), by_name=sharded)
    if not sharded:
        unwrap(model).load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
        return
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=False)
    set_model_state_dict(model, model_state, options=options)
    set_optimizer_state_dict(model, optimizer, optimizer_state, options=options)
