"""Tiny ACT and SmolVLA checkpoints, built offline once per test session, and SO-101-like observations."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from salt_vla.robot import SO101_CAMERAS, Observation

NO_LEROBOT = "the lerobot extra is not installed (pip install 'salt-vla[lerobot]')"

IMAGE_SIZE = (48, 64)
TASK = "pick up the block and place it in the bowl"


@pytest.fixture(scope="session")
def act_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("lerobot", reason=NO_LEROBOT)
    from salt_vla_lerobot.builders import build_act

    return build_act(tmp_path_factory.mktemp("act") / "ckpt", image_size=IMAGE_SIZE, chunk_size=8, n_action_steps=4)


@pytest.fixture(scope="session")
def smolvla_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("lerobot", reason=NO_LEROBOT)
    from salt_vla_lerobot.builders import build_smolvla

    return build_smolvla(tmp_path_factory.mktemp("smolvla") / "ckpt", image_size=IMAGE_SIZE, chunk_size=8)


@pytest.fixture
def copy_checkpoint(tmp_path: Path) -> Callable[[Path], Path]:
    """A writable copy of a session checkpoint, to corrupt in one test."""

    def copy(directory: Path) -> Path:
        return Path(shutil.copytree(directory, tmp_path / directory.parent.name))

    return copy


def make_observation(seed: int = 0, *, size: tuple[int, int] = IMAGE_SIZE, cameras=SO101_CAMERAS,
                     state_dim: int = 6, task: str = TASK) -> Observation:
    rng = np.random.default_rng(seed)
    images = {cam: rng.integers(0, 256, (*size, 3), dtype=np.uint8) for cam in cameras}
    state = rng.normal(0, 20, state_dim).astype(np.float32)
    return Observation(images=images, state=state, task=task)


@pytest.fixture
def observation() -> Observation:
    return make_observation()
