"""The gymnasium environment: registration, spaces, the checker, and an expert episode through it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from salt_vla_so101.expert import ScriptedExpert
from salt_vla_so101.gym_env import ENV_ID, SO101PickPlaceEnv

pytestmark = pytest.mark.sim


def test_registered_and_passes_gymnasiums_checker() -> None:
    env = gym.make(ENV_ID, image_size=(16, 16), max_steps=20)
    try:
        assert isinstance(env.unwrapped, SO101PickPlaceEnv)
        observation, info = env.reset(seed=3)
        assert set(observation) == {"agent_pos", "pixels"}
        assert observation["pixels"]["wrist_cam"].shape == (16, 16, 3)
        assert info["seed"] == 3
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def test_expert_episode_through_the_env_succeeds() -> None:
    env = gym.make(f"salt_vla_so101.gym_env:{ENV_ID}", render=False, render_mode="rgb_array",
                   image_size=(16, 16))
    try:
        task = env.unwrapped.task
        expert = ScriptedExpert(task=task)
        observation, _ = env.reset(seed=1)
        assert set(observation) == {"agent_pos"}
        np.testing.assert_allclose(observation["agent_pos"], task.config.home_pose, atol=1e-3)
        expert.reset()
        total, info, terminated, truncated = 0.0, {}, False, False
        while not (terminated or truncated):
            observation, reward, terminated, truncated, info = env.step(expert.act(observation))
            total += reward
        assert terminated and not truncated
        assert info["is_success"] and info["outcome"] == "success" and total == 1.0
        assert env.render().shape == (16, 16, 3)
    finally:
        env.close()


def test_hold_times_out_with_the_outcome() -> None:
    env = SO101PickPlaceEnv(render=False, max_steps=5)
    observation, _ = env.reset(seed=0)
    for _ in range(5):
        observation, reward, terminated, truncated, info = env.step(observation["agent_pos"])
    assert truncated and not terminated and reward == 0.0
    assert info["outcome"] == "never_picked_up"
