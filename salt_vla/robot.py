"""Robot-side data shared by the simulator, the policy adapters and the visualizers.

The SO-101 conventions follow LeRobot's ``so101_follower``: five arm joints in degrees and the
gripper opening in ``[0, 100]``, named ``<joint>.pos``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

SO101_JOINTS: tuple[str, ...] = (
    "shoulder_pan",
    "shoulder_lift",
    "elbow_flex",
    "wrist_flex",
    "wrist_roll",
    "gripper",
)
"""SO-101 joint names in LeRobot's order."""

SO101_ACTION_NAMES: tuple[str, ...] = tuple(f"{joint}.pos" for joint in SO101_JOINTS)
"""Names of the six joint-space action (and state) dimensions."""

SO101_CAMERAS: tuple[str, ...] = ("overhead_cam", "wrist_cam")
"""Cameras of the SO-101 pick-and-place task."""


@dataclass(frozen=True)
class Observation:
    """What a policy sees at one control step.

    Attributes:
        images: camera name -> ``[H, W, 3]`` ``uint8`` RGB image.
        state: ``[S]`` ``float32`` proprioception in robot units (SO-101: joint positions, degrees,
            gripper in ``[0, 100]``).
        task: the language instruction, e.g. ``"pick up the block and place it in the bowl"``.
        depth: camera name -> ``[H, W]`` ``float32`` depth in metres, only for cameras rendered with depth.
    """

    images: Mapping[str, np.ndarray]
    state: np.ndarray
    task: str
    depth: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, image in self.images.items():
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
                raise ValueError(
                    f"Observation image {name!r} must be [H, W, 3] uint8 RGB; got shape "
                    f"{tuple(image.shape)} dtype {image.dtype}. Depth maps belong in `depth=`, not `images=`."
                )
        if self.state.ndim != 1:
            raise ValueError(f"Observation state must be 1-D [S]; got shape {tuple(self.state.shape)}.")
