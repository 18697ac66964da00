"""A physics-only SO-101 task shared by the whisker tests, and helpers to drive it."""

from __future__ import annotations

import sys

import mujoco
import numpy as np
import pytest
from salt_vla_so101.expert import ScriptedExpert
from salt_vla_so101.task import PickPlaceTask

from salt_vla.robot import Observation

LINUX_ONLY = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="'no display' is detected from DISPLAY/WAYLAND_DISPLAY on Linux only")

TINY = (64, 80)
"""Frame size of rendered tests (CPU rendering is slow)."""


@pytest.fixture(scope="session")
def task() -> PickPlaceTask:
    return PickPlaceTask(render=False)


@pytest.fixture(scope="session")
def smolvla_dir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random-weight SmolVLA checkpoint (chunk 8, 48x64 cameras), built offline."""
    pytest.importorskip("lerobot", reason="the lerobot extra is not installed (pip install 'salt-vla[lerobot]')")
    from salt_vla_lerobot.builders import build_smolvla

    return build_smolvla(tmp_path_factory.mktemp("smolvla") / "ckpt", image_size=(48, 64), chunk_size=8)


def expert_after(task: PickPlaceTask, seed: int, steps: int, **kwargs) -> tuple[ScriptedExpert, Observation]:
    """A bound expert and the observation after it has driven episode ``seed`` for ``steps`` control steps."""
    observation = task.reset(seed)
    expert = ScriptedExpert(task=task, **kwargs)
    for _ in range(steps):
        observation = task.step(expert.act(observation))
    return expert, observation


def snapshot(data: mujoco.MjData) -> dict[str, bytes]:
    """Bytes of every array of ``data`` (positions, velocities, controls, warm start, contacts, ...) and time."""
    arrays = {name: getattr(data, name) for name in dir(data) if not name.startswith("_")}
    out = {name: value.tobytes() for name, value in arrays.items() if isinstance(value, np.ndarray)}
    out["time"] = np.float64(data.time).tobytes()
    return out
