"""Tiny ACT and SmolVLA drive the real SO-101 MuJoCo task through the adapters (short rendered rollouts)."""

from __future__ import annotations

import numpy as np
import pytest

import salt_vla

from .conftest import IMAGE_SIZE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def task():
    pytest.importorskip("mujoco", reason="the sim extra is not installed (pip install 'salt-vla[sim]')")
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.task import PickPlaceTask

    task = PickPlaceTask(TaskConfig(image_size=IMAGE_SIZE, max_steps=12))
    yield task
    task.close()


@pytest.mark.parametrize("family", ["act", "smolvla"])
def test_policy_drives_the_so101_task(family, act_dir, smolvla_dir, task):
    directory = {"act": act_dir, "smolvla": smolvla_dir}[family]
    policy = salt_vla.create_policy(f"{family}:{directory}")
    assert tuple(policy.camera_names) == tuple(task.camera_names)
    assert tuple(policy.action_names) == tuple(task.action_names)
    observation = task.reset(seed=3)
    policy.reset()
    start = task.joint_state().copy()
    for _ in range(6):
        chunk = policy.predict_chunk(observation, num_samples=2, seed=0)
        action = policy.act(observation)
        assert chunk.shape == (2, 8, 6) and action.shape == (6,) and np.isfinite(action).all()
        observation = task.step(action)
    assert observation.images["overhead_cam"].shape == (*IMAGE_SIZE, 3)
    assert np.abs(task.joint_state() - start).max() > 0.1  # the policy's actions moved the arm
