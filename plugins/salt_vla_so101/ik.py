"""Inverse kinematics of the SO-101 grasp point: damped least squares on MuJoCo's site Jacobian.

The five arm joints position and orient the grasp frame (``grasp_site``); the gripper joint is not used.
A 5-joint arm cannot reach every 6-D pose, so the position task has priority and the orientation is
pursued in its null space (task-priority damped least squares); a solve is a *failure* when the
remaining position or orientation error exceeds its tolerance: that is
what :class:`salt_vla_so101.ee.EEActionConverter` counts as an IK failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from salt_vla_so101 import scene

ARM_JOINTS = scene.JOINTS[:5]


@dataclass(frozen=True)
class IKResult:
    """Outcome of one solve.

    Attributes:
        q: ``[5]`` arm joint positions, radians, within the joint ranges.
        position_error: metres between the reached and the target grasp point.
        rotation_error: radians between the reached and the target orientation (0 if none was asked).
        iterations: iterations used.
        success: both errors within tolerance.
    """

    q: np.ndarray
    position_error: float
    rotation_error: float
    iterations: int
    success: bool


def rotation_error(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Axis-angle vector ``[3]`` (world frame, radians) rotating ``current`` onto ``target`` (both ``[3, 3]``)."""
    quat_target, quat_current, quat_delta = np.empty(4), np.empty(4), np.empty(4)
    mujoco.mju_mat2Quat(quat_target, target.reshape(9))
    mujoco.mju_mat2Quat(quat_current, current.reshape(9))
    mujoco.mju_negQuat(quat_current, quat_current)
    mujoco.mju_mulQuat(quat_delta, quat_target, quat_current)
    error = np.empty(3)
    mujoco.mju_quat2Vel(error, quat_delta, 1.0)
    return error


def top_down_rotation(yaw: float) -> np.ndarray:
    """Grasp-frame orientation ``[3, 3]`` with the fingers pointing straight down and the jaw opening
    along ``(cos yaw, sin yaw, 0)``."""
    x_axis = np.array([0.0, 0.0, -1.0])
    z_axis = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    return np.column_stack([x_axis, np.cross(z_axis, x_axis), z_axis])


class IKSolver:
    """Damped-least-squares IK for the grasp point of a compiled scene.

    Args:
        model: the scene model (:func:`salt_vla_so101.scene.build_model`).
        damping: Levenberg-Marquardt damping (``lambda``, in the units of the stacked error).
        position_tolerance: metres; rotation_tolerance: radians (success thresholds).
        max_iterations: per solve.
        max_step: largest joint change per iteration (radians), keeps the linearisation honest.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        *,
        damping: float = 0.02,
        position_tolerance: float = 0.002,
        rotation_tolerance: float = 0.05,
        max_iterations: int = 100,
        max_step: float = 0.25,
    ) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.damping = damping
        self.position_tolerance = position_tolerance
        self.rotation_tolerance = rotation_tolerance
        self.max_iterations = max_iterations
        self.max_step = max_step
        self._site = model.site(scene.GRASP_SITE).id
        self._qpos = np.array([model.joint(j).qposadr[0] for j in ARM_JOINTS])
        self._dofs = np.array([model.joint(j).dofadr[0] for j in ARM_JOINTS])
        self._low, self._high = model.jnt_range[[model.joint(j).id for j in ARM_JOINTS]].T
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grasp point ``[3]`` and orientation ``[3, 3]`` for arm joints ``q`` ``[5]`` (radians)."""
        self.data.qpos[self._qpos] = q
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self._site].copy(), self.data.site_xmat[self._site].reshape(3, 3).copy()

    def _damped_pinv(self, jac: np.ndarray) -> np.ndarray:
        return jac.T @ np.linalg.inv(jac @ jac.T + self.damping**2 * np.eye(jac.shape[0]))

    def _step(self, q: np.ndarray, error_p: np.ndarray, error_r: np.ndarray | None) -> np.ndarray:
        """Joint step: position first, orientation in the null space of the position task.

        Joints at a limit that the step would push further are locked and the step recomputed, so the
        clipping to the joint ranges never undoes the position task.
        """
        free = np.ones(len(self._dofs), dtype=bool)
        for _ in range(len(self._dofs)):
            jac_p = self._jacp[:, self._dofs] * free
            pinv_p = self._damped_pinv(jac_p)
            step = pinv_p @ error_p
            if error_r is not None:
                null = np.eye(len(self._dofs)) - pinv_p @ jac_p
                jac_r = self._jacr[:, self._dofs] * free
                step = step + null @ (self._damped_pinv(jac_r @ null) @ (error_r - jac_r @ step))
            blocked = free & (((q <= self._low + 1e-9) & (step < 0)) | ((q >= self._high - 1e-9) & (step > 0)))
            if not blocked.any():
                return step
            free &= ~blocked
        return step * free

    def _orientation_error(
        self, orientation: np.ndarray, rotation: np.ndarray | None, opening_axis: np.ndarray | None
    ) -> np.ndarray | None:
        if rotation is not None:
            return rotation_error(rotation, orientation)
        if opening_axis is not None:
            current = orientation[:, 2]
            cross = np.cross(current, opening_axis)
            sin = np.linalg.norm(cross)
            angle = np.arctan2(sin, float(current @ opening_axis))
            return cross * (angle / sin) if sin > 1e-12 else np.zeros(3) if angle < 1 else np.array([0.0, 0.0, angle])
        return None

    def solve(
        self,
        position: np.ndarray,
        q_init: np.ndarray,
        *,
        rotation: np.ndarray | None = None,
        opening_axis: np.ndarray | None = None,
    ) -> IKResult:
        """Arm joints ``[5]`` (radians) putting the grasp point at ``position`` ``[3]`` (metres).

        Orientation, pursued with lower priority: the full grasp-frame ``rotation`` ``[3, 3]``, or only the
        direction ``opening_axis`` ``[3]`` of the jaw opening (the fingers may then tilt), or nothing.
        Starts from ``q_init`` ``[5]`` (radians); deterministic.
        """
        if rotation is not None and opening_axis is not None:
            raise ValueError("Give IKSolver.solve either rotation= or opening_axis=, not both.")
        if opening_axis is not None:
            opening_axis = np.asarray(opening_axis, dtype=np.float64) / np.linalg.norm(opening_axis)
        q = np.clip(np.asarray(q_init, dtype=np.float64).copy(), self._low, self._high)
        target = np.asarray(position, dtype=np.float64)
        iterations = 0
        while iterations < self.max_iterations:
            iterations += 1
            reached, orientation = self.forward(q)
            error_p = target - reached
            error_r = self._orientation_error(orientation, rotation, opening_axis)
            rot_err = 0.0 if error_r is None else float(np.linalg.norm(error_r))
            if np.linalg.norm(error_p) < self.position_tolerance / 10 and rot_err < self.rotation_tolerance / 10:
                break
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self._site)
            step = self._step(q, error_p, error_r)
            largest = np.abs(step).max()
            if largest > self.max_step:
                step *= self.max_step / largest
            q_next = np.clip(q + step, self._low, self._high)
            if np.abs(q_next - q).max() < 1e-5:  # converged as far as the limits allow
                q = q_next
                break
            q = q_next
        reached, orientation = self.forward(q)
        pos_err = float(np.linalg.norm(target - reached))
        error_r = self._orientation_error(orientation, rotation, opening_axis)
        rot_err = 0.0 if error_r is None else float(np.linalg.norm(error_r))
        success = pos_err <= self.position_tolerance and rot_err <= self.rotation_tolerance
        return IKResult(q, pos_err, rot_err, iterations, success)
