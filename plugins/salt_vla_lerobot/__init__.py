"""LeRobot policy adapters: ACT, SmolVLA, Pi0 and Pi0.5 as salt-vla policies.

Registered policy families (SPEC prefixes for ``salt_vla.create_policy`` and ``--policy``):

- ``act:<hub id or directory>``, ``smolvla:...``, ``pi0:...``, ``pi05:...``
- ``act_salt:<hub id or directory>``: ACT on a salt-vla encoder (:mod:`salt_vla_lerobot.act_salt`; ``act:``
  loads these checkpoints too)

``create_policy("act:org/repo", device="cuda", camera_map={"front": "overhead_cam"})`` loads the
checkpoint with its saved pre/post-processors, checks it against the task (processor files,
statistics, action/state sizes, depth, cameras) and returns a :class:`~salt_vla.interfaces.Policy`
whose actions are in robot units. Options of every factory:

- ``device``: ``"cpu"`` (default), ``"cuda"``, ...
- ``camera_map``: policy camera -> task camera (dict, or ``"a=overhead_cam,b=wrist_cam"``)
- ``task_cameras``, ``action_names``, ``state_dim``, ``depth``: what the task provides (SO-101 defaults)
- ``n_action_steps``: actions executed per predicted chunk
- wrappers: ``temporal_ensemble=<coeff>``, ``smoothing=<alpha>``, ``gripper_offset=<units>``,
  ``gripper_range=(low, high)``

This module stays light: LeRobot is imported only when a factory runs, so the plugin loads without the
``lerobot`` extra and a factory call then says ``pip install "salt-vla[lerobot]"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import salt_vla
from salt_vla.extras import requires
from salt_vla.lerobot_compat import register_own_family

register_own_family("act_salt", "salt_vla_lerobot.act_salt")

REQUIRES = requires("lerobot")
"""Optional modules this plugin needs (``salt-vla plugins`` shows the missing ones and how to install them)."""

DESCRIPTIONS = {
    "act": "LeRobot ACT checkpoint: act:<hub id or directory>",
    "act_salt": "LeRobot ACT on a salt-vla encoder (act_salt checkpoint): act_salt:<hub id or directory>",
    "smolvla": "LeRobot SmolVLA checkpoint (flow matching): smolvla:<hub id or directory>",
    "pi0": "LeRobot Pi0 checkpoint (flow matching; LeRobot >= 0.5): pi0:<hub id or directory>",
    "pi05": "LeRobot Pi0.5 checkpoint (flow matching; LeRobot >= 0.5): pi05:<hub id or directory>",
}


def policy_factory(family: str) -> Callable[..., Any]:
    """The factory registered for ``family``: ``factory(source, *, device="cpu", camera_map=None, ...)``."""

    def factory(
        source: str | None = None,
        *,
        device: str = "cpu",
        camera_map: Any = None,
        temporal_ensemble: float | None = None,
        smoothing: float | None = None,
        gripper_offset: float = 0.0,
        gripper_range: tuple[float, float] | None = None,
        **options: Any,
    ) -> Any:
        if source is None:
            raise ValueError(f"Policy {family!r} needs a checkpoint: write '{family}:<hub id or directory>', "
                             f"e.g. '{family}:<org>/<repo>' or '{family}:outputs/train/checkpoints/last/pretrained_model'.")
        from salt_vla_lerobot.loading import load_lerobot_policy
        from salt_vla_lerobot.wrappers import wrap

        policy = load_lerobot_policy(family, source, device=device, camera_map=camera_map, **options)
        return wrap(policy, temporal_ensemble=temporal_ensemble, smoothing=smoothing,
                    gripper_offset=gripper_offset, gripper_range=gripper_range)

    factory.__name__ = f"create_{family}_policy"
    factory.__doc__ = f"Load a LeRobot {family} checkpoint as a salt-vla Policy (see salt_vla_lerobot)."
    return factory


@salt_vla.hookimpl
def register_policies(register: Any) -> None:
    for family, description in DESCRIPTIONS.items():
        register(family, policy_factory(family), description=description)
