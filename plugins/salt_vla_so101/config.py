"""Configuration of the SO-101 pick-and-place task (what the scene looks like and how it is stepped).

Units: metres, seconds, degrees for angles a user types (yaw ranges, camera field of view), the LeRobot
SO-101 convention for actions (see :mod:`salt_vla_so101.units`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from salt_vla.robot import SO101_CAMERAS

TASK_STRING = "pick up the block and place it in the bowl"
"""The language instruction of the task (LeRobot's ``task`` field)."""

EE_ACTION_NAMES: tuple[str, ...] = ("ee.x", "ee.y", "ee.z", "ee.qw", "ee.qx", "ee.qy", "ee.qz", "gripper.pos")
"""End-effector action: grasp point (metres, world), grasp-frame quaternion (w, x, y, z), gripper 0-100."""

HOME_POSE: tuple[float, ...] = (0.0, -70.0, 45.0, 90.0, 0.0, 20.0)
"""Start pose in LeRobot units: gripper 10 cm above the table in front of the base, slightly open."""


@dataclass(frozen=True)
class TaskConfig:
    """Everything that defines one SO-101 pick-and-place task instance.

    Attributes:
        image_size: ``(H, W)`` of every rendered camera image.
        cameras: cameras rendered into ``Observation.images`` (subset of ``overhead_cam``, ``wrist_cam``).
        depth: also render depth (float metres) into ``Observation.depth`` for these cameras.
        render: ``False`` = physics only: observations carry no images (fast evaluation, state-only
            policies, the scripted expert).
        control_hz: policy steps per simulated second (LeRobot datasets record at this fps).
        substeps: physics steps per control step; the timestep is ``1 / (control_hz * substeps)``.
        max_steps: control steps before an episode times out.
        randomize_yaw: draw the block's yaw from ``block_yaw_range_deg`` (else yaw 0).
        block_x_range, block_y_range: block centre placement ranges on the table (metres, robot base at
            the origin, +x in front of the robot).
        block_yaw_range_deg: yaw range (degrees) when ``randomize_yaw``.
        bowl_x_range, bowl_y_range: bowl centre placement ranges.
        min_separation: minimum distance between block and bowl centres (metres).
        block_size: block edge length (metres); block_mass in kg.
        bowl_inner_radius, bowl_height: bowl interior radius and wall height (metres).
        overhead_fovy: vertical field of view of ``overhead_cam`` in degrees; wrist_fovy overrides the
            robot file's wrist camera (``None`` keeps it: 75 degrees in TheRobotStudio's MJCF).
        asset_path: SO-101 MJCF to use; ``None`` resolves it at run time (:mod:`salt_vla_so101.assets`).
        mesh_cell: robot meshes are simplified by clustering vertices in cells of this size (metres), for
            ~5x faster CPU rendering; ``None`` keeps TheRobotStudio's full meshes (see
            :mod:`salt_vla_so101.meshes`). Collision hulls use the same meshes.
        home_pose: start pose in LeRobot units (degrees, gripper 0-100).
    """

    image_size: tuple[int, int] = (240, 320)
    cameras: tuple[str, ...] = SO101_CAMERAS
    depth: bool = False
    render: bool = True
    control_hz: float = 30.0
    substeps: int = 16
    max_steps: int = 400
    randomize_yaw: bool = True
    block_x_range: tuple[float, float] = (0.17, 0.27)
    block_y_range: tuple[float, float] = (-0.02, 0.14)
    block_yaw_range_deg: tuple[float, float] = (-45.0, 45.0)
    bowl_x_range: tuple[float, float] = (0.15, 0.25)
    bowl_y_range: tuple[float, float] = (-0.18, -0.10)
    min_separation: float = 0.12
    block_size: float = 0.025
    block_mass: float = 0.02
    bowl_inner_radius: float = 0.05
    bowl_height: float = 0.03
    overhead_fovy: float = 52.0
    wrist_fovy: float | None = None
    asset_path: str | None = None
    mesh_cell: float | None = 0.002
    home_pose: tuple[float, ...] = HOME_POSE

    def __post_init__(self) -> None:
        problems = []
        h, w = self.image_size
        if h < 8 or w < 8:
            problems.append(f"image_size must be (H, W) with both >= 8; got {self.image_size}")
        unknown = [c for c in self.cameras if c not in SO101_CAMERAS]
        if unknown:
            problems.append(f"cameras {unknown} are not task cameras; choose from {list(SO101_CAMERAS)}")
        if self.control_hz <= 0 or self.substeps < 1:
            problems.append(f"control_hz must be > 0 and substeps >= 1; got {self.control_hz}, {self.substeps}")
        if self.max_steps < 1:
            problems.append(f"max_steps must be >= 1; got {self.max_steps}")
        for name in ("block_x_range", "block_y_range", "bowl_x_range", "bowl_y_range", "block_yaw_range_deg"):
            lo, hi = getattr(self, name)
            if lo > hi:
                problems.append(f"{name} must be (low, high) with low <= high; got {(lo, hi)}")
        if len(self.home_pose) != 6:
            problems.append(f"home_pose needs 6 values (5 joints in degrees + gripper 0-100); got {len(self.home_pose)}")
        if not self._placement_feasible():
            problems.append(
                f"min_separation={self.min_separation} m cannot be met by the block and bowl ranges; "
                "widen the ranges or lower min_separation"
            )
        if problems:
            raise ValueError("Invalid TaskConfig: " + "; ".join(problems) + ".")

    def _placement_feasible(self) -> bool:
        corners_block = [(x, y) for x in self.block_x_range for y in self.block_y_range]
        corners_bowl = [(x, y) for x in self.bowl_x_range for y in self.bowl_y_range]
        far = max(math.dist(a, b) for a in corners_block for b in corners_bowl)
        return far >= self.min_separation

    @property
    def timestep(self) -> float:
        """Physics timestep in seconds."""
        return 1.0 / (self.control_hz * self.substeps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (tuples become lists); ``TaskConfig.from_dict`` inverts it."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Unknown TaskConfig fields {unknown}; valid fields: {sorted(names)}.")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
