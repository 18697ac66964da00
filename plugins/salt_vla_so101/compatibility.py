"""Check, before the first episode, that a policy's actions and cameras fit the SO-101 task.

The seed evaluations lost weeks to a policy reading cameras the simulator did not provide and to RGB
images fed where depth was expected. Here a mismatch is an error listing both sides and a suggested
camera mapping. Camera names a policy may ask for: a task camera (``overhead_cam``, ``wrist_cam``: RGB in
``Observation.images``) or ``<task camera>_depth`` (float metres in ``Observation.depth``, keyed by the
task camera's name). A name is depth only if it ends in ``_depth``; nothing else is ever treated as depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from salt_vla.robot import SO101_ACTION_NAMES, SO101_CAMERAS
from salt_vla_so101.config import EE_ACTION_NAMES

DEPTH_SUFFIX = "_depth"
_WRIST_WORDS = ("wrist", "hand", "gripper", "eef", "ee_", "arm")
_OVERHEAD_WORDS = ("overhead", "top", "base", "front", "high", "scene", "global", "main", "external", "static",
                   "table", "third", "agent", "fixed", "world", "cam_high")


class PolicyMismatchError(ValueError):
    """The policy's action space or cameras do not fit the task."""


@dataclass(frozen=True)
class PolicyNeeds:
    """What the task must provide for a policy.

    Attributes:
        action_space: ``"joint"`` (LeRobot SO-101 units) or ``"ee"`` (IK-converted end-effector actions).
        cameras: task cameras to render as RGB (``Observation.images``).
        depth_cameras: task cameras to render as depth (``Observation.depth``).
    """

    action_space: str
    cameras: tuple[str, ...]
    depth_cameras: tuple[str, ...]

    @property
    def rendered(self) -> tuple[str, ...]:
        """Every task camera that must be rendered (RGB or depth), in task order."""
        wanted = set(self.cameras) | set(self.depth_cameras)
        return tuple(c for c in SO101_CAMERAS if c in wanted)


def suggest_camera_mapping(policy_cameras: Sequence[str], task_cameras: Sequence[str] = SO101_CAMERAS) -> dict[str, str]:
    """A plausible ``{policy camera: task camera}`` for names the task does not have.

    Names mentioning a wrist/hand go to ``wrist_cam``, names like top/front/base/high to
    ``overhead_cam``; the rest take the remaining task cameras in order. Depth names map to
    ``<camera>_depth``.
    """
    mapping: dict[str, str] = {}
    free = [c for c in task_cameras if c not in policy_cameras]
    for name in policy_cameras:
        if name in task_cameras or (name.endswith(DEPTH_SUFFIX) and name[: -len(DEPTH_SUFFIX)] in task_cameras):
            continue
        lowered = name.lower()
        depth = "depth" in lowered
        if any(word in lowered for word in _WRIST_WORDS) and "wrist_cam" in task_cameras:
            choice = "wrist_cam"
        elif any(word in lowered for word in _OVERHEAD_WORDS) and "overhead_cam" in task_cameras:
            choice = "overhead_cam"
        else:
            choice = free[0] if free else task_cameras[0]
        if choice in free:
            free.remove(choice)
        mapping[name] = choice + (DEPTH_SUFFIX if depth else "")
    return mapping


def check_policy(policy: object, task_cameras: Sequence[str] = SO101_CAMERAS) -> PolicyNeeds:
    """What ``policy`` needs from the task; raises :class:`PolicyMismatchError` listing every problem."""
    problems: list[str] = []
    names = tuple(getattr(policy, "action_names", ()))
    if names == SO101_ACTION_NAMES:
        action_space = "joint"
    elif names == EE_ACTION_NAMES:
        action_space = "ee"
    else:
        action_space = "?"
        hint = ""
        if len(names) == len(SO101_ACTION_NAMES) and set(names) != set(SO101_ACTION_NAMES):
            hint = " Same size as the joint actions but different names: rename them in the adapter."
        elif set(names) == set(SO101_ACTION_NAMES):
            hint = " Same names in a different order: reorder the policy's outputs."
        problems.append(
            f"The policy's actions {list(names)} ({len(names)} values) do not fit the task. The task takes joint "
            f"actions {list(SO101_ACTION_NAMES)} (degrees, gripper 0-100) or end-effector actions "
            f"{list(EE_ACTION_NAMES)}.{hint}"
        )
    cameras: list[str] = []
    depth: list[str] = []
    unknown: list[str] = []
    policy_cameras = tuple(getattr(policy, "camera_names", ()))
    for name in policy_cameras:
        if name in task_cameras:
            cameras.append(name)
        elif name.endswith(DEPTH_SUFFIX) and name[: -len(DEPTH_SUFFIX)] in task_cameras:
            depth.append(name[: -len(DEPTH_SUFFIX)])
        else:
            unknown.append(name)
    if unknown:
        mapping = suggest_camera_mapping(policy_cameras, task_cameras)
        problems.append(
            f"The policy reads cameras {list(policy_cameras)} but the task provides {list(task_cameras)} "
            f"(RGB) and {[c + DEPTH_SUFFIX for c in task_cameras]} (depth, metres); unknown: {unknown}. "
            f"Suggested camera mapping for the policy adapter: {mapping}."
        )
    if problems:
        raise PolicyMismatchError(" ".join(problems))
    return PolicyNeeds(action_space, tuple(cameras), tuple(depth))
