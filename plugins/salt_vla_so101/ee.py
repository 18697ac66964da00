"""End-effector action mode: ``[x, y, z, qw, qx, qy, qz, gripper]`` -> joint action, through IK.

A policy whose ``action_names`` are :data:`EE_ACTION_NAMES` commands the grasp point (metres, world frame)
and the grasp-frame orientation (unit quaternion, w first); the evaluator turns each such action into a
joint action with :class:`salt_vla_so101.ik.IKSolver`, warm-started from the measured joints, and counts
the solves that miss their tolerance. Those counts are the report's IK failure rate and mean IK error:
the seed experiments lost 28% of their EE-space actions this way without noticing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mujoco
import numpy as np

from salt_vla_so101.config import EE_ACTION_NAMES
from salt_vla_so101.ik import IKSolver

if TYPE_CHECKING:
    from salt_vla_so101.task import PickPlaceTask

__all__ = ["EE_ACTION_NAMES", "EEActionConverter"]


class EEActionConverter:
    """Converts end-effector actions to joint actions for ``task`` and keeps IK statistics.

    Attributes:
        attempts: actions converted since the last :meth:`reset_stats`.
        failures: conversions whose error exceeded the solver's tolerance (the action is still applied:
            the closest reachable pose is what a real robot would do too).
        error_sum_mm: sum of the remaining position errors, millimetres.
    """

    def __init__(self, task: PickPlaceTask, solver: IKSolver | None = None) -> None:
        self.task = task
        self.solver = solver or IKSolver(task.model)
        self.reset_stats()

    def reset_stats(self) -> None:
        self.attempts = 0
        self.failures = 0
        self.error_sum_mm = 0.0

    @property
    def mean_error_mm(self) -> float:
        return self.error_sum_mm / self.attempts if self.attempts else 0.0

    def __call__(self, action: np.ndarray, data: mujoco.MjData | None = None) -> np.ndarray:
        """Joint action ``[6]`` (LeRobot units) for the EE ``action`` ``[8]``, starting from ``data``'s joints.

        Raises:
            ValueError: wrong shape, non-finite values, or a zero quaternion.
        """
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (len(EE_ACTION_NAMES),):
            raise ValueError(f"End-effector actions are [8] ({', '.join(EE_ACTION_NAMES)}); got shape {action.shape}.")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"End-effector action has NaN/Inf values: {np.array2string(action, precision=3)}.")
        quat = action[3:7]
        norm = np.linalg.norm(quat)
        if norm < 1e-6:
            raise ValueError(f"End-effector quaternion (w, x, y, z) {quat} has zero length.")
        rotation = np.empty(9)
        mujoco.mju_quat2Mat(rotation, quat / norm)
        state = self.task.joint_state(data).astype(np.float64)
        result = self.solver.solve(action[:3], np.radians(state[:5]), rotation=rotation.reshape(3, 3))
        self.attempts += 1
        self.failures += int(not result.success)
        self.error_sum_mm += 1000.0 * result.position_error
        return np.concatenate([np.degrees(result.q), action[7:8]])
