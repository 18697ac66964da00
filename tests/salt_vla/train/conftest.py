"""Tiny, fast training configurations shared by the engine tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

TINY: dict[str, Any] = {
    "data": {"dataset": "synthetic_physics", "args": {"num_videos": 16, "frames": 4, "size": 32},
             "batch_size": 4, "num_workers": 0},
    "student": {"name": "vit_micro_patch8_t2", "args": {"depth": 1, "embed_dim": 48, "num_heads": 3,
                                                         "num_frames": 4, "img_size": 32}},
    "predictor": {"dim": 32, "depth": 1, "num_heads": 2},
    "decoder": {"dim": 32, "depth": 1, "num_heads": 2},
    "masks": {"name": "multiblock_vjepa"},
    "optim": {"lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 2},
    "run": {"steps": 6, "log_every": 1, "val_every": 0, "checkpoint_every": 3, "progress": False},
}


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def tiny_config():
    """``tiny_config(out_dir, **sections)`` -> a TrainConfig dict for a seconds-long CPU run."""

    def make(out_dir, **changes: Any) -> dict[str, Any]:
        return merge(TINY, {**changes, "run": {**changes.get("run", {}), "out_dir": str(out_dir)}})

    return make
