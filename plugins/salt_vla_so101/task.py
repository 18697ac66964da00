"""The SO-101 pick-and-place task: seeded resets, joint-space actions, observations, scene queries.

Units (LeRobot's ``so101_follower`` with ``use_degrees=True``):

- ``shoulder_pan`` ... ``wrist_roll``: degrees; 0 is the middle of the joint's range, exactly the MJCF's
  radians converted to degrees (TheRobotStudio's "new calibration").
- ``gripper``: opening in ``[0, 100]``; 0 = the jaw's lower limit (fully closed, -10 deg in the MJCF),
  100 = its upper limit (fully open, +100 deg), linear in between.

:meth:`PickPlaceTask.apply_action` is the one place robot units become actuator targets and
:meth:`PickPlaceTask.advance` the one place physics is stepped; the whisker visualizer and the expert
use both on copies of ``data``. :meth:`PickPlaceTask.to_robot_units` is the inverse of the unit mapping.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import mujoco
import numpy as np

from salt_vla.robot import SO101_ACTION_NAMES, Observation
from salt_vla_so101 import scene
from salt_vla_so101.config import TASK_STRING, TaskConfig

__all__ = ["TASK_STRING", "PickPlaceTask", "TaskConfig"]

ARM_JOINTS = 5


@functools.lru_cache(maxsize=8)
def _compiled(config: TaskConfig) -> mujoco.MjModel:
    # Meshes make compilation take ~1 s; tasks of one config share the (never mutated) model.
    return scene.build_model(config)


def _yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


class PickPlaceTask:
    """An SO-101 arm on a table with a block and a bowl; put the block in the bowl.

    Attributes:
        config: the :class:`TaskConfig`.
        model: the compiled ``mujoco.MjModel`` (shared between tasks of one config: do not mutate).
        data: the live ``mujoco.MjData``.
        action_names: the six action (and state) names, ``salt_vla.robot.SO101_ACTION_NAMES``.
        camera_names: the cameras rendered into observations (``config.cameras``).
        task_string: the language instruction.
        seed: the seed of the current episode (``None`` before the first :meth:`reset`).
        steps: control steps taken since the last reset.
    """

    def __init__(self, config: TaskConfig | None = None, **overrides: Any) -> None:
        config = config or TaskConfig()
        self.config = replace(config, **overrides) if overrides else config
        self.model = _compiled(self.config)
        self.data = mujoco.MjData(self.model)
        self.action_names: tuple[str, ...] = SO101_ACTION_NAMES
        self.camera_names: tuple[str, ...] = tuple(self.config.cameras)
        self.task_string = TASK_STRING
        self.seed: int | None = None
        self.steps = 0
        m = self.model
        self._qpos_adr = np.array([m.joint(j).qposadr[0] for j in scene.JOINTS])
        self._dof_adr = np.array([m.joint(j).dofadr[0] for j in scene.JOINTS])
        self._actuators = np.array([self._actuator_of(j) for j in scene.JOINTS])
        self._ranges = m.jnt_range[[m.joint(j).id for j in scene.JOINTS]].copy()
        self._ctrl_range = m.actuator_ctrlrange[self._actuators].copy()
        self._block_qpos = m.joint("block_free").qposadr[0]
        self._block_body = m.body(scene.BLOCK_BODY).id
        self._block_geom = m.geom(scene.BLOCK_GEOM).id
        self._bowl_mocap = m.body(scene.BOWL_BODY).mocapid[0]
        self._grasp_site = m.site(scene.GRASP_SITE).id
        self._pads = {int(g) for g in scene.geom_ids(m, scene.PADS)}
        robot_root = m.body("shoulder").rootid
        self._robot_geoms = {int(g) for g in np.flatnonzero(m.body_rootid[m.geom_bodyid] == robot_root)}
        self._renderers: dict[bool, Any] = {}

    def _actuator_of(self, joint: str) -> int:
        joint_id = self.model.joint(joint).id
        for a in range(self.model.nu):
            if self.model.actuator_trnid[a, 0] == joint_id:
                return a
        raise ValueError(f"No actuator drives joint {joint!r}; the robot file must have position actuators.")

    # ------------------------------------------------------------------ units, actions, physics

    def apply_action(self, data: mujoco.MjData, action: np.ndarray) -> None:
        """Set the actuator targets of ``data`` from ``action``: ``[6]`` in LeRobot SO-101 units.

        Arm joints: degrees -> radians. Gripper: ``[0, 100]`` -> the jaw's joint range, linearly.
        Targets are clipped to the actuators' control ranges.

        Raises:
            ValueError: wrong shape or non-finite values (the message shows the action).
        """
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (6,):
            raise ValueError(
                f"SO-101 actions are [6] ({', '.join(self.action_names)}); got shape {tuple(action.shape)}."
            )
        if not np.all(np.isfinite(action)):
            raise ValueError(f"SO-101 action has NaN/Inf values: {np.array2string(action, precision=3)}.")
        low, high = self._ranges[5]
        target = np.empty(6)
        target[:ARM_JOINTS] = np.radians(action[:ARM_JOINTS])
        target[5] = low + (high - low) * action[5] / 100.0
        data.ctrl[self._actuators] = np.clip(target, self._ctrl_range[:, 0], self._ctrl_range[:, 1])

    def action_excess(self, action: np.ndarray) -> float:
        """How far ``action`` (``[6]``, LeRobot units) lies outside the control ranges :meth:`apply_action` clips
        it to: the largest excess in the action's own units (degrees, or gripper percent); 0 when inside."""
        action = np.asarray(action, dtype=np.float64)
        low, high = self._ranges[5]
        bounds = np.empty((6, 2))
        bounds[:ARM_JOINTS] = np.degrees(self._ctrl_range[:ARM_JOINTS])
        bounds[5] = 100.0 * (self._ctrl_range[5] - low) / (high - low)
        excess = np.maximum(bounds[:, 0] - action, action - bounds[:, 1])
        return float(max(0.0, excess.max()))

    def to_robot_units(self, joint_radians: np.ndarray) -> np.ndarray:
        """Joint positions ``[6]`` in MJCF radians -> LeRobot units (the inverse of :meth:`apply_action`)."""
        q = np.asarray(joint_radians, dtype=np.float64)
        low, high = self._ranges[5]
        units = np.empty(6)
        units[:ARM_JOINTS] = np.degrees(q[:ARM_JOINTS])
        units[5] = 100.0 * (q[5] - low) / (high - low)
        return units

    def advance(self, data: mujoco.MjData) -> None:
        """Step the physics of ``data`` by one control period (``config.substeps`` MuJoCo steps)."""
        mujoco.mj_step(self.model, data, nstep=self.config.substeps)

    def step(self, action: np.ndarray) -> Observation:
        """Apply ``action`` ([6], LeRobot units) to the live data, advance one control step, observe."""
        self.apply_action(self.data, action)
        self.advance(self.data)
        self.steps += 1
        return self.observe()

    # ------------------------------------------------------------------ episodes

    def reset(self, seed: int) -> Observation:
        """Start episode ``seed``: robot at the home pose, block and bowl placed from ``seed`` alone."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"reset(seed) needs an int seed; got {seed!r} ({type(seed).__name__}).")
        rng = np.random.default_rng(int(seed))
        cfg = self.config
        data = self.data
        mujoco.mj_resetData(self.model, data)
        self.apply_action(data, np.asarray(cfg.home_pose, dtype=np.float64))
        data.qpos[self._qpos_adr] = data.ctrl[self._actuators]
        block_xy, bowl_xy = self._sample_layout(rng)
        yaw = np.radians(rng.uniform(*cfg.block_yaw_range_deg)) if cfg.randomize_yaw else 0.0
        adr = self._block_qpos
        data.qpos[adr:adr + 3] = [*block_xy, cfg.block_size / 2]
        data.qpos[adr + 3:adr + 7] = _yaw_quat(yaw)
        data.mocap_pos[self._bowl_mocap] = [*bowl_xy, 0.0]
        mujoco.mj_forward(self.model, data)
        self.seed = int(seed)
        self.steps = 0
        return self.observe()

    def _sample_layout(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        for _ in range(1000):
            block = np.array([rng.uniform(*cfg.block_x_range), rng.uniform(*cfg.block_y_range)])
            bowl = np.array([rng.uniform(*cfg.bowl_x_range), rng.uniform(*cfg.bowl_y_range)])
            if np.linalg.norm(block - bowl) >= cfg.min_separation:
                return block, bowl
        raise RuntimeError(
            f"Could not place block and bowl {cfg.min_separation} m apart in 1000 draws; widen the placement "
            "ranges or lower min_separation."
        )

    # ------------------------------------------------------------------ observations

    def joint_state(self, data: mujoco.MjData | None = None) -> np.ndarray:
        """Measured joint positions ``[6]`` float32 in LeRobot units (the observation state)."""
        data = self.data if data is None else data
        return self.to_robot_units(data.qpos[self._qpos_adr]).astype(np.float32)

    def observe(self) -> Observation:
        """The observation of the live data: state, and images (and depth) when ``config.render``."""
        images: dict[str, np.ndarray] = {}
        depth: dict[str, np.ndarray] = {}
        if self.config.render:
            for camera in self.camera_names:
                images[camera] = self.render(camera)
                if self.config.depth:
                    depth[camera] = self.render_depth(camera)
        return Observation(images=images, state=self.joint_state(), task=self.task_string, depth=depth)

    def _renderer(self, depth: bool) -> Any:
        if depth not in self._renderers:
            height, width = self.config.image_size
            renderer = mujoco.Renderer(self.model, height=height, width=width)
            if depth:
                renderer.enable_depth_rendering()
            self._renderers[depth] = renderer
        return self._renderers[depth]

    def _check_camera(self, camera: str) -> None:
        if camera not in scene.CAMERAS:
            raise ValueError(f"Unknown camera {camera!r}; the task's cameras are {list(scene.CAMERAS)}.")

    def render(self, camera: str, data: mujoco.MjData | None = None) -> np.ndarray:
        """RGB image ``[H, W, 3]`` uint8 of ``camera`` for ``data`` (default: the live data)."""
        self._check_camera(camera)
        renderer = self._renderer(depth=False)
        renderer.update_scene(self.data if data is None else data, camera=camera)
        return renderer.render().copy()

    def render_depth(self, camera: str, data: mujoco.MjData | None = None) -> np.ndarray:
        """Depth ``[H, W]`` float32 in metres along the optical axis of ``camera``."""
        self._check_camera(camera)
        renderer = self._renderer(depth=True)
        renderer.update_scene(self.data if data is None else data, camera=camera)
        return renderer.render().astype(np.float32)

    def close(self) -> None:
        """Free the renderers' OpenGL contexts (the task stays usable; they are rebuilt on demand)."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    # ------------------------------------------------------------------ scene queries (metres, world frame)

    def ee_position(self, data: mujoco.MjData | None = None) -> np.ndarray:
        """World position ``[3]`` of the grasp point (where a held block's centre sits)."""
        data = self.data if data is None else data
        return data.site_xpos[self._grasp_site].copy()

    def ee_rotation(self, data: mujoco.MjData | None = None) -> np.ndarray:
        """Orientation ``[3, 3]`` of the grasp frame: columns x (along the fingers), y, z (towards the moving jaw)."""
        data = self.data if data is None else data
        return data.site_xmat[self._grasp_site].reshape(3, 3).copy()

    def block_position(self, data: mujoco.MjData | None = None) -> np.ndarray:
        """World position ``[3]`` of the block's centre."""
        data = self.data if data is None else data
        return data.xpos[self._block_body].copy()

    def block_yaw(self, data: mujoco.MjData | None = None) -> float:
        """Yaw of the block about the vertical, radians (meaningful while it rests flat)."""
        data = self.data if data is None else data
        rot = data.xmat[self._block_body].reshape(3, 3)
        return float(np.arctan2(rot[1, 0], rot[0, 0]))

    def block_speed(self, data: mujoco.MjData | None = None) -> float:
        """Linear speed of the block, m/s."""
        data = self.data if data is None else data
        dof = self.model.jnt_dofadr[self.model.joint("block_free").id]
        return float(np.linalg.norm(data.qvel[dof:dof + 3]))

    def bowl_position(self, data: mujoco.MjData | None = None) -> np.ndarray:
        """World position ``[3]`` of the bowl's centre on the table (z = 0)."""
        data = self.data if data is None else data
        return data.mocap_pos[self._bowl_mocap].copy()

    def block_contacts(self, data: mujoco.MjData | None = None) -> tuple[int, bool]:
        """``(pads touching the block (0-2), whether any robot geom touches it)``."""
        data = self.data if data is None else data
        pads: set[int] = set()
        robot = False
        for i in range(data.ncon):
            contact = data.contact[i]
            g1, g2 = contact.geom1, contact.geom2
            if g1 != self._block_geom and g2 != self._block_geom:
                continue
            other = g2 if g1 == self._block_geom else g1
            if other in self._pads:
                pads.add(other)
                robot = True
            elif other in self._robot_geoms:
                robot = True
        return len(pads), robot

    def over_table(self, position: np.ndarray) -> bool:
        """Whether the world point ``position`` ``[2+]`` lies above the table top's rectangle."""
        offset = np.abs(np.asarray(position[:2]) - scene.TABLE_CENTRE_XY)
        return bool(np.all(offset <= scene.TABLE_HALF_XY))

    @property
    def joint_ranges_deg(self) -> np.ndarray:
        """``[6, 2]`` ranges in LeRobot units (arm in degrees, gripper ``[0, 100]``)."""
        ranges = np.degrees(self._ranges)
        ranges[5] = (0.0, 100.0)
        return ranges
