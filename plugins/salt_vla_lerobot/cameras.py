"""Which task camera feeds which of the policy's image inputs.

A LeRobot policy names its cameras in its input features, ``observation.images.<name>``; a task names
its own (SO-101: ``overhead_cam``, ``wrist_cam``). The camera map goes **policy camera -> task camera**.
By default a policy camera reads the task camera of the same name; anything else must be mapped, and
the error suggests a mapping (wrist to wrist, the rest in order). Flow-matching policies (SmolVLA,
Pi0) may leave a camera out (map it to ``None``): LeRobot feeds them a masked blank image instead.
Depth inputs (``observation.images.<cam>_depth``) are not cameras of their own: they read the depth
map of ``<cam>``'s task camera.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from salt_vla_lerobot.checks import DEPTH_SUFFIX, IMAGE_PREFIX, CheckpointError


class CameraMappingError(CheckpointError):
    """A policy camera that no task camera feeds."""


def policy_cameras(config: Any) -> list[str]:
    """RGB camera names the policy reads, in the order of its input features."""
    return [
        key[len(IMAGE_PREFIX):] for key in config.input_features
        if key.startswith(IMAGE_PREFIX) and not key.endswith(DEPTH_SUFFIX)
    ]


def suggest_camera_map(policy_cams: Sequence[str], task_cams: Sequence[str]) -> dict[str, str]:
    """A plausible mapping: same names first, then wrist cameras to wrist cameras, then the rest in order."""
    suggestion: dict[str, str] = {cam: cam for cam in policy_cams if cam in task_cams}
    free = [cam for cam in task_cams if cam not in suggestion.values()]
    for wristy in (True, False):
        for cam in policy_cams:
            if cam in suggestion or ("wrist" in cam.lower()) != wristy:
                continue
            match = next((t for t in free if ("wrist" in t.lower()) == wristy), None)
            match = match or (free[0] if free and not wristy else None)
            if match is not None:
                suggestion[cam] = match
                free.remove(match)
    return {cam: suggestion[cam] for cam in policy_cams if cam in suggestion}


def resolve_camera_map(
    policy_cams: Sequence[str],
    task_cams: Sequence[str],
    camera_map: Mapping[str, str | None] | None = None,
    *,
    allow_missing: bool,
    where: str,
) -> dict[str, str | None]:
    """The full policy -> task camera mapping; ``None`` marks a camera left out (flow-matching only).

    Raises:
        CameraMappingError: a key that is not a policy camera, a value that is not a task camera, a camera
            left out of a policy that needs them all, or a policy camera nothing feeds. The message lists both
            sides and a suggested ``camera_map``.
    """
    given = dict(camera_map or {})
    problems: list[str] = []
    unknown = sorted(set(given) - set(policy_cams))
    if unknown:
        problems.append(f"camera_map keys {unknown} are not cameras of the policy")
    bad_values = sorted({v for v in given.values() if v is not None and v not in task_cams})
    if bad_values:
        problems.append(f"camera_map values {bad_values} are not cameras of the task")
    dropped = sorted(k for k, v in given.items() if v is None and k in policy_cams)
    if dropped and not allow_missing:
        problems.append(f"{where} needs every camera; it cannot leave out {dropped}")
    resolved: dict[str, str | None] = {}
    unfed: list[str] = []
    for cam in policy_cams:
        if cam in given:
            resolved[cam] = given[cam]
        elif cam in task_cams:
            resolved[cam] = cam
        else:
            unfed.append(cam)
    if unfed:
        problems.append(f"policy cameras {unfed} have no task camera of the same name")
    if problems:
        suggestion = suggest_camera_map(policy_cams, task_cams)
        missing = [cam for cam in policy_cams if cam not in suggestion]
        hint = f"Suggested: camera_map={suggestion!r}"
        if missing:
            hint += (f"; the task has too few cameras for {missing}"
                     + (" (map them to None to leave them out)" if allow_missing else ""))
        text = ",".join(f"{k}={v}" for k, v in suggestion.items())
        raise CameraMappingError(
            f"Camera mismatch for {where}: " + "; ".join(problems) + f". Policy cameras: {list(policy_cams)}; "
            f"task cameras: {list(task_cams)}. {hint} (as text: camera_map={text!r}; on the command line: "
            f"--camera-map {text})."
        )
    return resolved


def parse_camera_map(text: str) -> dict[str, str | None]:
    """``"base_0_rgb=overhead_cam,left_wrist_0_rgb=wrist_cam,right_wrist_0_rgb="`` -> a camera map.

    An empty right-hand side leaves the policy camera out (``None``).
    """
    mapping: dict[str, str | None] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        policy_cam, sep, task_cam = part.partition("=")
        if not sep or not policy_cam.strip():
            raise ValueError(f"Camera map entry {part!r} must be 'policy_camera=task_camera'; got {text!r}.")
        mapping[policy_cam.strip()] = task_cam.strip() or None
    return mapping
