"""IK, the end-effector action converter, and the mesh simplification the scene uses."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from salt_vla_so101.ee import EEActionConverter
from salt_vla_so101.ik import IKSolver, rotation_error, top_down_rotation
from salt_vla_so101.meshes import cluster
from salt_vla_so101.task import PickPlaceTask

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def task() -> PickPlaceTask:
    task = PickPlaceTask(render=False)
    task.reset(0)
    return task


@pytest.fixture(scope="module")
def solver(task: PickPlaceTask) -> IKSolver:
    return IKSolver(task.model)


READY = np.radians([0.0, -70.0, 45.0, 90.0, 0.0])


@pytest.mark.parametrize("x", [0.17, 0.22, 0.27])
@pytest.mark.parametrize("y", [-0.02, 0.06, 0.14])
def test_top_down_grasps_are_reachable_over_the_block_area(solver: IKSolver, x: float, y: float) -> None:
    for yaw in np.radians([-45.0, 0.0, 45.0]):
        result = solver.solve(np.array([x, y, 0.0145]), READY, rotation=top_down_rotation(np.arctan2(y, x) + yaw))
        assert result.success, (x, y, yaw, result)
        position, rotation = solver.forward(result.q)
        np.testing.assert_allclose(position, [x, y, 0.0145], atol=solver.position_tolerance)
        assert rotation[2, 0] < -0.99  # fingers point down


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-0.6, 0.6), min_size=5, max_size=5))
def test_solve_recovers_reachable_poses(solver: IKSolver, offsets: list[float]) -> None:
    q_true = READY + np.asarray(offsets)
    q_true = np.clip(q_true, *solver.model.jnt_range[:5].T)
    position, rotation = solver.forward(q_true)
    result = solver.solve(position, READY, rotation=rotation)
    reached, _ = solver.forward(result.q)
    assert np.linalg.norm(reached - position) < 0.005
    assert result.position_error == pytest.approx(np.linalg.norm(reached - position))


def test_unreachable_targets_fail_with_the_remaining_error(solver: IKSolver) -> None:
    result = solver.solve(np.array([0.9, 0.0, 0.1]), READY)
    assert not result.success and result.position_error > 0.3
    assert np.all(result.q >= solver.model.jnt_range[:5, 0]) and np.all(result.q <= solver.model.jnt_range[:5, 1])


def test_rotation_error_is_the_axis_angle_between_frames() -> None:
    a = top_down_rotation(0.0)
    b = top_down_rotation(0.3)
    np.testing.assert_allclose(rotation_error(b, a), [0.0, 0.0, 0.3], atol=1e-9)
    np.testing.assert_allclose(rotation_error(a, a), 0.0, atol=1e-12)


def test_ee_converter_counts_failures_and_refuses_bad_quaternions(task: PickPlaceTask) -> None:
    converter = EEActionConverter(task)
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, top_down_rotation(0.0).ravel())
    joint = converter(np.array([0.22, 0.05, 0.03, *quat, 40.0]))
    assert joint.shape == (6,) and joint[5] == 40.0
    converter(np.array([0.9, 0.0, 0.3, *quat, 40.0]))  # out of reach
    assert (converter.attempts, converter.failures) == (2, 1)
    assert converter.mean_error_mm > 100
    with pytest.raises(ValueError, match="zero length"):
        converter(np.array([0.2, 0.0, 0.1, 0, 0, 0, 0, 50.0]))
    with pytest.raises(ValueError, match=r"\[8\]"):
        converter(np.zeros(6))


def test_mesh_clustering_keeps_shape_and_winding() -> None:
    rng = np.random.default_rng(0)
    # a finely triangulated unit-ish sphere: 40x40 lat-long grid
    theta, phi = np.meshgrid(np.linspace(0.05, np.pi - 0.05, 40), np.linspace(0, 2 * np.pi, 41)[:-1], indexing="ij")
    points = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1) * 0.05
    triangles = []
    for i in range(39):
        for j in range(40):
            a, b, c, d = points[i, j], points[i, (j + 1) % 40], points[i + 1, j], points[i + 1, (j + 1) % 40]
            triangles += [(a, c, b), (b, c, d)]
    triangles = np.asarray(triangles) + rng.normal(0, 1e-6, size=(len(triangles), 3, 3))
    vertices, faces = cluster(triangles, cell=0.01)
    assert 0 < len(faces) < len(triangles) / 4
    assert np.all(np.abs(np.linalg.norm(vertices, axis=1) - 0.05) < 0.01)
    centres = vertices[faces].mean(axis=1)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    assert np.mean(np.sum(normals * centres, axis=1) > 0) > 0.95  # still facing outwards
