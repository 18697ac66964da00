"""AdamW parameter groups: weight decay only where it belongs.

Decaying LayerNorm gains, biases, position embeddings or mask tokens destabilises ViT training (the
seed runs saw a late-training loss rebound from exactly this). :func:`param_groups` splits any model's
parameters so that only weight matrices decay.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

NO_DECAY_NAMES = ("pos_embed", "position", "mask_token", "cls_token", "reg_token")
NORM_TYPES = tuple(t for t in (nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
                              getattr(nn, "RMSNorm", None)) if t is not None)


def no_decay_parameter_names(model: nn.Module, extra: Iterable[str] = ()) -> set[str]:
    """Names of parameters that must not decay: biases, anything 1-D, norm parameters, position embeddings
    and learned tokens (plus any name containing a string of ``extra``)."""
    names = set()
    patterns = (*NO_DECAY_NAMES, *extra)
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if (param.ndim <= 1 or param_name == "bias" or isinstance(module, NORM_TYPES)
                    or any(p in full for p in patterns)):
                names.add(full)
    return names


def param_groups(model: nn.Module, weight_decay: float, *, extra_no_decay: Iterable[str] = ()) -> list[dict]:
    """Two AdamW groups: ``{"name": "decay", "weight_decay": weight_decay}`` and ``{"name": "no_decay", 0.0}``.

    Frozen parameters (``requires_grad=False``) are left out. A weight-decay schedule should update only the
    group named ``"decay"``.
    """
    skip = no_decay_parameter_names(model, extra_no_decay)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if name in skip else decay).append(param)
    return [
        {"name": "decay", "params": decay, "weight_decay": weight_decay},
        {"name": "no_decay", "params": no_decay, "weight_decay": 0.0},
    ]


def make_adamw(model: nn.Module, *, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.95),
               eps: float = 1e-8, fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; fused kernels when every parameter is on CUDA (``fused=None``), always
    (``True``; PyTorch runs them on CPU too) or never (``False``)."""
    groups = param_groups(model, weight_decay)
    params = [p for g in groups for p in g["params"]]
    if fused is None:
        fused = bool(params) and all(p.is_cuda for p in params)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused)
