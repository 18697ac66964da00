"""The SO-101 task inside LeRobot's own evaluator: EnvConfig type ``salt_vla_so101`` and ``lerobot-eval``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from .conftest import IMAGE_SIZE

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def env_config():
    pytest.importorskip("lerobot")
    pytest.importorskip("mujoco", reason="the sim extra is not installed (pip install 'salt-vla[sim]')")
    from lerobot.envs.configs import EnvConfig
    from salt_vla_so101.lerobot_env import ENV_TYPE, SO101PickPlaceEnvConfig

    assert EnvConfig.get_choice_class(ENV_TYPE) is SO101PickPlaceEnvConfig  # what --env.type=salt_vla_so101 finds
    return SO101PickPlaceEnvConfig(episode_length=6, observation_height=IMAGE_SIZE[0], observation_width=IMAGE_SIZE[1])


def test_lerobot_builds_the_env_and_maps_its_features_to_the_policy(env_config, act_dir) -> None:
    from lerobot.envs.factory import make_env
    from lerobot.envs.utils import env_to_policy_features, preprocess_observation
    from salt_vla_so101.task import PickPlaceTask

    policy_inputs = json.loads((act_dir / "config.json").read_text())["input_features"]
    features = env_to_policy_features(env_config)
    assert {k: list(v.shape) for k, v in features.items() if k != "action"} == {
        k: v["shape"] for k, v in policy_inputs.items()}  # ACT's inputs, one to one
    envs = make_env(env_config, n_envs=1)
    vector = envs[env_config.type][0]
    try:
        observation, _ = vector.reset(seed=[3])
        batch = preprocess_observation(observation)
        assert sorted(batch) == sorted(policy_inputs)
        # LeRobot's seed 3 is our evaluator's episode 3: the same block and bowl placement.
        inside = vector.envs[0].unwrapped.task
        task = PickPlaceTask(max_steps=6, render=False)
        try:
            task.reset(3)
            np.testing.assert_allclose(inside.block_position(), task.block_position(), rtol=0, atol=1e-9)
            np.testing.assert_allclose(inside.bowl_position(), task.bowl_position(), rtol=0, atol=1e-9)
        finally:
            task.close()
        assert observation["pixels"]["overhead_cam"].shape == (1, *IMAGE_SIZE, 3)
        assert list(vector.call("task_description")) == ["pick up the block and place it in the bowl"]
    finally:
        vector.close()


@pytest.mark.slow
def test_lerobot_eval_evaluates_a_lerobot_policy_on_the_task(act_dir, tmp_path) -> None:
    pytest.importorskip("lerobot")
    out = tmp_path / "eval"
    result = subprocess.run(
        [sys.executable, "-m", "lerobot.scripts.lerobot_eval", "--env.discover_packages_path=salt_vla_so101.lerobot_env",
         "--env.type=salt_vla_so101", "--env.episode_length=4", f"--env.observation_height={IMAGE_SIZE[0]}",
         f"--env.observation_width={IMAGE_SIZE[1]}", f"--policy.path={act_dir}", "--policy.device=cpu",
         "--eval.n_episodes=1", "--eval.batch_size=1", "--seed=5", f"--output_dir={out}"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads((out / "eval_info.json").read_text())
    assert info["per_task"][0]["task_group"] == "salt_vla_so101"
    assert info["overall"]["n_episodes"] == 1 and info["overall"]["pc_success"] == 0.0  # random weights, 4 steps
    (video,) = info["overall"]["video_paths"]
    assert video.endswith(".mp4") and (out / "videos").is_dir()
