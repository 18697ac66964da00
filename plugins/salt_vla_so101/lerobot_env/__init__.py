"""The SO-101 task for LeRobot's own evaluator: ``lerobot-eval --env.type=salt_vla_so101``.

Importing this module registers :class:`SO101PickPlaceEnvConfig` as LeRobot environment type
``salt_vla_so101`` (``EnvConfig.register_subclass``) and our gymnasium environment
(:mod:`salt_vla_so101.gym_env`). LeRobot's command line imports it through its plugin option::

    lerobot-eval --env.discover_packages_path=salt_vla_so101.lerobot_env --env.type=salt_vla_so101 \\
        --policy.path=<LeRobot checkpoint> --eval.n_episodes=50 --eval.batch_size=1 --seed=0 \\
        --output_dir=runs/lerobot_eval/act

Episode seeds are LeRobot's (``--seed``, then ``+1`` each), and the layout of seed ``s`` is the one our
evaluator uses for seed ``s``; LeRobot counts an episode a success when ``info["is_success"]`` is set
(the block settled in the bowl). For the outcome taxonomy, intervals and videos grouped by outcome,
use ``salt-vla eval-policy`` with the same checkpoint (``--policy act:<dir>``).

Observations: ``agent_pos`` -> ``observation.state`` (6 joints, LeRobot SO-101 units) and
``pixels/<camera>`` -> ``observation.images.<camera>``; actions are 6 joint targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.envs.configs import EnvConfig

from salt_vla.robot import SO101_CAMERAS, SO101_JOINTS
from salt_vla_so101 import gym_env

ENV_TYPE = "salt_vla_so101"


@EnvConfig.register_subclass(ENV_TYPE)
@dataclass
class SO101PickPlaceEnvConfig(EnvConfig):
    """LeRobot environment config of SO-101 pick-and-place (fields are ``--env.<name>`` options).

    Attributes:
        cameras: comma-separated cameras rendered into the observation (``overhead_cam,wrist_cam``;
            empty for a state-only policy).
        episode_length: control steps before the episode is truncated.
        observation_height, observation_width: camera image size.
    """

    task: str | None = "SO101PickPlace-v0"
    fps: int = 30
    episode_length: int = 400
    cameras: str = ",".join(SO101_CAMERAS)
    observation_height: int = 240
    observation_width: int = 320
    render_mode: str = "rgb_array"
    features: dict[str, PolicyFeature] = field(default_factory=dict)
    features_map: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        joints = (len(SO101_JOINTS),)
        self.features = {"action": PolicyFeature(type=FeatureType.ACTION, shape=joints),
                         "agent_pos": PolicyFeature(type=FeatureType.STATE, shape=joints)}
        self.features_map = {"action": "action", "agent_pos": "observation.state"}
        for camera in self.camera_names:
            key = f"pixels/{camera}"
            self.features[key] = PolicyFeature(type=FeatureType.VISUAL,
                                               shape=(self.observation_height, self.observation_width, 3))
            self.features_map[key] = f"observation.images.{camera}"

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.cameras.split(",") if c.strip())

    @property
    def package_name(self) -> str:
        return gym_env.__name__

    @property
    def gym_id(self) -> str:
        return gym_env.ENV_ID

    @property
    def gym_kwargs(self) -> dict:
        cameras = self.camera_names
        return {
            "max_episode_steps": self.episode_length,
            "render_mode": self.render_mode,
            "max_steps": self.episode_length,
            "control_hz": float(self.fps),
            "cameras": cameras or SO101_CAMERAS,
            "render": bool(cameras),
            "image_size": (self.observation_height, self.observation_width),
        }


__all__ = ["ENV_TYPE", "SO101PickPlaceEnvConfig"]
