"""The task as a gymnasium environment, registered as ``salt_vla/SO101PickPlace-v0``.

Observations follow the keys LeRobot's gym environments use: ``{"agent_pos": float32 [6],
"pixels": {camera: uint8 [H, W, 3]}}`` (``pixels`` only when the config renders). Actions are joint
targets in LeRobot SO-101 units. The reward is 1.0 on the step the episode succeeds (sparse);
``terminated`` when success has settled, ``truncated`` at ``max_steps``. ``info`` carries ``is_success``
and, at the end of an episode, the classified ``outcome`` (see :mod:`salt_vla_so101.outcomes`).

``gymnasium.make("salt_vla_so101.gym_env:salt_vla/SO101PickPlace-v0", render=False)`` imports this module
and builds the environment; keyword arguments are :class:`TaskConfig` fields.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from salt_vla_so101.config import TaskConfig
from salt_vla_so101.outcomes import OutcomeThresholds, Trace, classify
from salt_vla_so101.rollout import record_step
from salt_vla_so101.task import PickPlaceTask

ENV_ID = "salt_vla/SO101PickPlace-v0"
TASK_DESCRIPTION = "pick up the block and place it in the bowl"


class SO101PickPlaceEnv(gym.Env):
    """Gymnasium wrapper of :class:`PickPlaceTask` (see the module docstring).

    Attributes:
        task: the wrapped task; privileged policies bind to it (``expert.bind(env.unwrapped.task)``).
        task_description: the instruction, which LeRobot's evaluator passes to language-conditioned policies.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 30}
    task_description = TASK_DESCRIPTION

    def __init__(self, config: TaskConfig | None = None, *, render_mode: str | None = None,
                 thresholds: OutcomeThresholds | None = None, **overrides: Any) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array'; got {render_mode!r}.")
        self.task = PickPlaceTask(config, **overrides)
        self.render_mode = render_mode
        self.thresholds = thresholds or OutcomeThresholds()
        self.metadata = {**self.metadata, "render_fps": self.task.config.control_hz}
        ranges = self.task.joint_ranges_deg.astype(np.float32)
        self.action_space = spaces.Box(low=ranges[:, 0], high=ranges[:, 1], dtype=np.float32)
        # Measured joints can pass their limits by a little under load: the state space has a margin.
        margin = np.float32(10.0)
        observation: dict[str, spaces.Space] = {
            "agent_pos": spaces.Box(ranges[:, 0] - margin, ranges[:, 1] + margin, dtype=np.float32)
        }
        if self.task.config.render:
            height, width = self.task.config.image_size
            observation["pixels"] = spaces.Dict({
                camera: spaces.Box(0, 255, (height, width, 3), np.uint8) for camera in self.task.camera_names
            })
        self.observation_space = spaces.Dict(observation)
        self._trace: Trace | None = None

    def _observation(self, observation: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"agent_pos": observation.state}
        if self.task.config.render:
            result["pixels"] = dict(observation.images)
        return result

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        episode_seed = int(seed) if seed is not None else int(self.np_random.integers(0, 2**31 - 1))
        observation = self.task.reset(episode_seed)
        self._trace = Trace(self.task.config.bowl_inner_radius, self.task.config.bowl_height)
        record_step(self.task, self._trace)
        return self._observation(observation), {"seed": episode_seed, "is_success": False}

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        if self._trace is None:
            raise RuntimeError("Call env.reset() before env.step().")
        observation = self.task.step(np.asarray(action, dtype=np.float64))
        record_step(self.task, self._trace)
        success = self._trace.settled_success(self.thresholds)
        truncated = not success and self.task.steps >= self.task.config.max_steps
        info: dict[str, Any] = {"is_success": success}
        if success or truncated:
            info["outcome"] = classify(self._trace, self.thresholds)[0].value
        return self._observation(observation), float(success), success, truncated, info

    def render(self) -> np.ndarray | None:
        return self.task.render("overhead_cam") if self.render_mode == "rgb_array" else None

    def close(self) -> None:
        self.task.close()


def register() -> None:
    """Register :data:`ENV_ID` with gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=f"{__name__}:SO101PickPlaceEnv", disable_env_checker=False)


register()
