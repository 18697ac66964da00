"""Helpers for driving the real tools into faults: tiny runs, the real CLI in a subprocess, signals."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

TINY_RUN: dict[str, Any] = {
    "data": {"dataset": "synthetic_physics", "args": {"num_videos": 8, "frames": 4, "size": 32},
             "batch_size": 4, "num_workers": 0},
    "student": {"name": "vit_micro_patch8_t2", "args": {"depth": 1, "embed_dim": 48, "num_heads": 3,
                                                         "num_frames": 4, "img_size": 32}},
    "predictor": {"dim": 32, "depth": 1, "num_heads": 2},
    "decoder": {"dim": 32, "depth": 1, "num_heads": 2},
    "masks": {"name": "multiblock_vjepa"},
    "optim": {"lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 1},
    "run": {"steps": 4, "log_every": 1, "val_every": 0, "checkpoint_every": 2, "progress": False},
}
"""A training run of a few CPU seconds (stage ``teacher`` needs no teacher; stage ``salt`` a cache)."""


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@pytest.fixture
def run_config(tmp_path: Path) -> Callable[..., Path]:
    """``run_config(name, **sections)`` -> path of a YAML config of a tiny run writing to ``tmp_path/name``."""

    def make(name: str, **changes: Any) -> Path:
        config = merge(TINY_RUN, {**changes, "run": {**changes.get("run", {}), "out_dir": str(tmp_path / name)}})
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return make


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m salt_vla ARGS`` (the real program) and capture its output."""
    return subprocess.run([sys.executable, "-m", "salt_vla", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def script(code: str, *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run Python ``code`` in a fresh interpreter (to kill it at a chosen point)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


def interrupt_when(args: list[str], ready: Callable[[], bool], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Start ``python -m salt_vla ARGS``, press Ctrl-C (SIGINT) as soon as ``ready()`` holds, wait for it to exit."""
    process = subprocess.Popen([sys.executable, "-m", "salt_vla", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"finished before the interrupt point (exit {process.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the interrupt point was never reached")
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture(scope="session")
def latent_caches(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """``latent_caches(teacher_seed)`` -> a latent cache of :data:`TINY_RUN`'s videos by a tiny real teacher
    (one per seed: another seed is another teacher, with another fingerprint)."""
    import torch

    import salt_vla
    from salt_vla.cache import build_latent_cache
    from salt_vla.models import EncoderTeacher, VideoViT, VideoViTConfig

    built: dict[int, Path] = {}

    def make(seed: int = 0) -> Path:
        if seed not in built:
            torch.manual_seed(seed)
            teacher = EncoderTeacher(VideoViT(VideoViTConfig(embed_dim=32, depth=1, num_heads=2, patch_size=8,
                                                             tubelet_size=2, num_frames=4, img_size=32)))
            dataset = salt_vla.create_dataset("synthetic_physics", **TINY_RUN["data"]["args"])
            out = tmp_path_factory.mktemp(f"cache{seed}") / "cache"
            build_latent_cache(teacher, dataset, out, batch_size=8, progress=False)
            built[seed] = out
        return built[seed]

    return make
