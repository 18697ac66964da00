"""The scripted pick-and-place expert: IK waypoints, straight-line Cartesian segments, a re-grasp check.

The expert is *privileged*: it reads the block and bowl poses from the simulator, so it must be bound to
a task (``expert.bind(task)``; the evaluator, the recorder and the gym environment do this). At the
first :meth:`ScriptedExpert.act` of an episode it plans the whole trajectory:

``approach`` (joint-space, to 4.5 cm above the block, fingers vertical, jaw aligned with a block face)
-> ``descend`` -> ``grasp`` (close) -> ``lift`` -> ``transport`` (to above the bowl) -> ``lower``
-> ``release`` (open) -> ``retreat`` (up) -> ``hold``.

Cartesian segments follow straight lines with minimum-jerk timing, solved point by point with
:class:`salt_vla_so101.ik.IKSolver` warm-started from the previous point. After ``lift`` the expert checks
that the block is between both pads and above the table; if not, it re-plans from where it is (up to
``max_attempts`` times). :meth:`ScriptedExpert.predict_chunk` returns the next ``chunk_size`` planned
actions without consuming them, for the whisker visualizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from salt_vla.robot import SO101_ACTION_NAMES, Observation
from salt_vla_so101.config import EE_ACTION_NAMES

if TYPE_CHECKING:
    from salt_vla_so101.task import PickPlaceTask


@dataclass(frozen=True)
class ExpertConfig:
    """Timing (seconds) and geometry (metres above the table, LeRobot gripper units) of the expert."""

    approach_s: float = 1.5
    descend_s: float = 1.0
    close_s: float = 0.5
    settle_s: float = 0.25
    lift_s: float = 1.0
    transport_s: float = 1.5
    lower_s: float = 0.8
    open_s: float = 0.3
    retreat_s: float = 0.8
    pregrasp_clearance: float = 0.045
    grasp_height_offset: float = 0.002
    static_finger_clearance: float = 0.003
    lift_height: float = 0.10
    release_height: float = 0.045
    gripper_open: float = 40.0
    gripper_closed: float = 0.0
    held_min_height: float = 0.02
    max_attempts: int = 3


def _min_jerk(n: int) -> np.ndarray:
    """``n`` fractions in (0, 1] following a minimum-jerk profile (the last one is exactly 1)."""
    tau = np.arange(1, n + 1) / n
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


def _quat_of(rotation: np.ndarray) -> np.ndarray:
    import mujoco

    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, rotation.reshape(9))
    return quat


class ScriptedExpert:
    """IK-based pick-and-place policy for :class:`salt_vla_so101.task.PickPlaceTask`.

    Args:
        config: timing and geometry (:class:`ExpertConfig`).
        action_space: ``"joint"`` (LeRobot SO-101 units, the default) or ``"ee"`` (:data:`EE_ACTION_NAMES`:
            the planned grasp pose, converted back to joints by the evaluator's IK, which reports the IK
            failure rate of that mode).
        chunk_size: ``L`` of :meth:`predict_chunk`.
        task: bind to this task now (same as :meth:`bind`).
    """

    def __init__(
        self,
        config: ExpertConfig | None = None,
        *,
        action_space: str = "joint",
        chunk_size: int = 50,
        task: PickPlaceTask | None = None,
    ) -> None:
        if action_space not in ("joint", "ee"):
            raise ValueError(f"ScriptedExpert action_space must be 'joint' or 'ee'; got {action_space!r}.")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1; got {chunk_size}.")
        self.config = config or ExpertConfig()
        self.action_space = action_space
        self.chunk_size = chunk_size
        self._task: PickPlaceTask | None = None
        self._ik = None
        self._plan: list[tuple[str, np.ndarray]] = []
        self._poses: list[np.ndarray] = []
        self._t = 0
        self._attempts = 0
        self._lift_checked = False
        if task is not None:
            self.bind(task)

    def __getstate__(self) -> dict:
        # Pickled for worker processes: the task (MuJoCo state, renderers) stays behind; bind() again there.
        state = dict(self.__dict__)
        state.update(_task=None, _ik=None)
        return state

    # ------------------------------------------------------------------ Policy protocol

    @property
    def action_names(self) -> Sequence[str]:
        return SO101_ACTION_NAMES if self.action_space == "joint" else EE_ACTION_NAMES

    @property
    def camera_names(self) -> Sequence[str]:
        return ()

    def bind(self, task: PickPlaceTask) -> None:
        """Read block, bowl and robot state from ``task`` (the expert is privileged)."""
        from salt_vla_so101.ik import IKSolver

        self._task = task
        self._ik = IKSolver(task.model)
        self.reset()

    def reset(self) -> None:
        """Forget the plan; the next :meth:`act` plans from the current state."""
        self._plan, self._poses, self._t, self._attempts = [], [], 0, 0
        self._lift_checked = False

    def act(self, observation: Observation) -> np.ndarray:
        """The next planned action (``[6]`` joint or ``[8]`` EE, see ``action_space``)."""
        self._ensure_plan()
        if self._phase() == "transport" and not self._lift_checked:
            self._lift_checked = True
            if not self._holding() and self._attempts < self.config.max_attempts:
                self._replan()
        action = self._action(self._t)
        self._t += 1
        return action

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        """The next ``chunk_size`` planned actions, ``[num_samples, L, A]`` (identical samples), not consumed."""
        self._ensure_plan()
        chunk = np.stack([self._action(self._t + i) for i in range(self.chunk_size)])
        return np.repeat(chunk[None], num_samples, axis=0)

    # ------------------------------------------------------------------ plan access

    @property
    def phase(self) -> str:
        """Name of the phase the next action belongs to (``"idle"`` before planning)."""
        return self._phase() if self._plan else "idle"

    def _phase(self) -> str:
        return self._plan[min(self._t, len(self._plan) - 1)][0]

    def _action(self, index: int) -> np.ndarray:
        index = min(index, len(self._plan) - 1)
        if self.action_space == "joint":
            return self._plan[index][1].copy()
        return self._poses[index].copy()

    def _require_task(self) -> PickPlaceTask:
        if self._task is None:
            raise RuntimeError(
                "ScriptedExpert reads the simulator state and is not bound to a task: call expert.bind(task) "
                "(the so101 evaluator, recorder and gym environment do it for you)."
            )
        return self._task

    def _ensure_plan(self) -> None:
        if not self._plan:
            self._replan()

    def _holding(self) -> bool:
        task = self._require_task()
        pads, _ = task.block_contacts()
        lifted = task.block_position()[2] - task.config.block_size / 2
        return pads == 2 and lifted > self.config.held_min_height

    # ------------------------------------------------------------------ planning

    def _replan(self) -> None:
        task = self._require_task()
        self._attempts += 1
        self._lift_checked = False
        segments = self._plan_segments(task)
        self._plan = segments
        self._t = 0
        self._poses = [self._ee_pose(action) for _, action in segments] if self.action_space == "ee" else []

    def _ee_pose(self, action: np.ndarray) -> np.ndarray:
        """FK of a joint action: ``[x, y, z, qw, qx, qy, qz, gripper]``."""
        q = np.radians(action[:5])
        position, rotation = self._ik.forward(q)
        return np.concatenate([position, _quat_of(rotation), action[5:6]])

    def _steps(self, seconds: float) -> int:
        return max(1, round(seconds * self._require_task().config.control_hz))

    def _plan_segments(self, task: PickPlaceTask) -> list[tuple[str, np.ndarray]]:
        from salt_vla_so101.ik import top_down_rotation

        cfg = self.config
        ik = self._ik
        state = task.joint_state().astype(np.float64)
        q_now = np.radians(state[:5])
        gripper_now = float(state[5])
        block = task.block_position()
        bowl = task.bowl_position()
        half = task.config.block_size / 2

        pan = np.arctan2(block[1], block[0])
        yaw = self._grasp_yaw(task.block_yaw(), pan)
        rot_grasp = top_down_rotation(yaw)
        opening = rot_grasp[:, 2]
        grasp = np.array([block[0], block[1], half + cfg.grasp_height_offset]) - cfg.static_finger_clearance * opening
        pregrasp = grasp + np.array([0.0, 0.0, cfg.pregrasp_clearance])
        lifted = np.array([grasp[0], grasp[1], cfg.lift_height])
        above_bowl = np.array([bowl[0], bowl[1], cfg.lift_height])
        release = np.array([bowl[0], bowl[1], cfg.release_height])
        bowl_yaw = yaw + np.arctan2(bowl[1], bowl[0]) - pan

        plan: list[tuple[str, np.ndarray]] = []

        def joints(q: np.ndarray, gripper: float) -> np.ndarray:
            return np.concatenate([np.degrees(q), [gripper]])

        # approach: joint-space interpolation to the pre-grasp pose, opening the gripper on the way
        q_pre = ik.solve(pregrasp, q_now, rotation=rot_grasp).q
        for s in _min_jerk(self._steps(cfg.approach_s)):
            plan.append(("approach", joints(q_now + s * (q_pre - q_now), gripper_now + s * (cfg.gripper_open - gripper_now))))

        def line(name: str, start: np.ndarray, end: np.ndarray, yaw_start: float, yaw_end: float, seconds: float,
                 q: np.ndarray, gripper: float) -> np.ndarray:
            for s in _min_jerk(self._steps(seconds)):
                target = start + s * (end - start)
                q = ik.solve(target, q, rotation=top_down_rotation(yaw_start + s * (yaw_end - yaw_start))).q
                plan.append((name, joints(q, gripper)))
            return q

        q = line("descend", pregrasp, grasp, yaw, yaw, cfg.descend_s, q_pre, cfg.gripper_open)
        for s in _min_jerk(self._steps(cfg.close_s)):
            plan.append(("grasp", joints(q, cfg.gripper_open + s * (cfg.gripper_closed - cfg.gripper_open))))
        plan.extend(("grasp", joints(q, cfg.gripper_closed)) for _ in range(self._steps(cfg.settle_s)))
        q = line("lift", grasp, lifted, yaw, yaw, cfg.lift_s, q, cfg.gripper_closed)
        q = line("transport", lifted, above_bowl, yaw, bowl_yaw, cfg.transport_s, q, cfg.gripper_closed)
        q = line("lower", above_bowl, release, bowl_yaw, bowl_yaw, cfg.lower_s, q, cfg.gripper_closed)
        for s in _min_jerk(self._steps(cfg.open_s)):
            plan.append(("release", joints(q, cfg.gripper_closed + s * (cfg.gripper_open - cfg.gripper_closed))))
        plan.extend(("release", joints(q, cfg.gripper_open)) for _ in range(self._steps(cfg.settle_s)))
        q = line("retreat", release, above_bowl, bowl_yaw, bowl_yaw, cfg.retreat_s, q, cfg.gripper_open)
        plan.append(("hold", joints(q, cfg.gripper_open)))
        return plan

    @staticmethod
    def _grasp_yaw(block_yaw: float, pan: float) -> float:
        """Jaw-opening direction: the block-face normal closest to the radial direction (least wrist roll)."""
        candidates = block_yaw + np.arange(-4, 5) * (np.pi / 2)
        offsets = np.angle(np.exp(1j * (candidates - pan)))
        return float(candidates[np.argmin(np.abs(offsets))])


__all__ = ["EE_ACTION_NAMES", "ExpertConfig", "ScriptedExpert"]
