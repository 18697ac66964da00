"""The whisker is faithful (it is the path the chunk really takes) and the live simulation is untouched."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from salt_vla_so101.task import PickPlaceTask
from salt_vla_whiskers.draw import WhiskerRenderer
from salt_vla_whiskers.simulate import ChunkSimulator

from .conftest import TINY, expert_after, snapshot

# MuJoCo is deterministic on one machine, and the scratch copy carries the whole state (mj_copyData), so the
# whisker and the open-loop execution perform the same floating-point operations: they agree exactly. The
# tolerance is 1 nanometre, not 0, only so that the assertion reads as a distance; anything a copy could
# miss (the bowl's mocap pose, controls, warm start, time) would move the path by micrometres or more.
FAITHFUL_M = 1e-9


def execute_open_loop(task: PickPlaceTask, chunk: np.ndarray) -> np.ndarray:
    """Gripper positions ``[L + 1, 3]`` when the live task executes ``chunk`` ``[L, 6]`` step by step."""
    positions = [task.ee_position()]
    for action in chunk:
        task.step(action)
        positions.append(task.ee_position())
    return np.asarray(positions)


@pytest.mark.parametrize("steps", [0, 45, 75, 130], ids=["approach", "descend", "grasp", "transport"])
def test_expert_whisker_is_the_path_the_chunk_takes(task: PickPlaceTask, steps: int) -> None:
    expert, observation = expert_after(task, seed=2, steps=steps)
    chunk = expert.predict_chunk(observation, num_samples=2)
    paths = ChunkSimulator(task).simulate(chunk)
    assert paths.shape == (2, expert.chunk_size + 1, 3)
    executed = execute_open_loop(task, chunk[0])
    assert np.abs(paths[0] - executed).max() <= FAITHFUL_M
    assert np.abs(paths[1] - paths[0]).max() == 0.0
    assert np.linalg.norm(executed[-1] - executed[0]) > 0.005  # the chunk does move the gripper


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 1000), warmup=st.integers(0, 6), length=st.integers(1, 6), data=st.data())
def test_any_chunk_whisker_matches_open_loop_execution(seed: int, warmup: int, length: int, data) -> None:
    task = PickPlaceTask(render=False)  # the compiled model is cached: cheap
    ranges = task.joint_ranges_deg
    actions = st.lists(st.floats(0.0, 1.0), min_size=6, max_size=6).map(
        lambda f: ranges[:, 0] + np.asarray(f) * (ranges[:, 1] - ranges[:, 0]))
    task.reset(seed)
    for _ in range(warmup):  # arbitrary velocities, contacts and warm start before the prediction
        task.step(data.draw(actions))
    chunk = np.stack([data.draw(actions) for _ in range(length)])[None]
    paths = ChunkSimulator(task).simulate(chunk)
    assert np.abs(paths[0] - execute_open_loop(task, chunk[0])).max() <= FAITHFUL_M


def test_a_whisker_step_leaves_the_live_simulation_byte_identical(task: PickPlaceTask) -> None:
    expert, observation = expert_after(task, seed=4, steps=60)
    data = task.data
    state = np.empty(mujoco.mj_stateSize(task.model, mujoco.mjtState.mjSTATE_INTEGRATION))
    mujoco.mj_getState(task.model, data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
    before = snapshot(data)
    named = {name: getattr(data, name).copy() for name in ("qpos", "qvel", "act", "ctrl", "qacc_warmstart")}
    time = data.time

    paths = ChunkSimulator(task).simulate(expert.predict_chunk(observation, num_samples=3))
    renderer = WhiskerRenderer(task.model, size=TINY)
    renderer.render(data, current=paths, ghosts=[paths + 0.01], executed=paths[0, :5])
    renderer.close()

    for name, value in named.items():
        assert getattr(data, name).tobytes() == value.tobytes(), name
    assert data.time == time
    after = np.empty_like(state)
    mujoco.mj_getState(task.model, data, after, mujoco.mjtState.mjSTATE_INTEGRATION)
    assert after.tobytes() == state.tobytes()
    changed = [name for name in before if snapshot(data)[name] != before[name]]
    assert changed == []


def test_end_effector_policies_are_simulated_through_ik(task: PickPlaceTask) -> None:
    from salt_vla_so101.ee import EEActionConverter

    expert, observation = expert_after(task, seed=1, steps=0, action_space="ee")
    chunk = expert.predict_chunk(observation)
    assert chunk.shape[-1] == 8
    converter = EEActionConverter(task)
    paths = ChunkSimulator(task, to_joint=converter).simulate(chunk)
    assert converter.attempts == expert.chunk_size
    # the evaluator's way: each EE action through IK warm-started from the measured joints, then a step
    live = EEActionConverter(task)
    positions = [task.ee_position()]
    for action in chunk[0]:
        task.step(live(action))
        positions.append(task.ee_position())
    assert np.abs(paths[0] - np.asarray(positions)).max() <= FAITHFUL_M
    # and the simulated path ends where the policy asked, up to the arm's tracking lag
    assert np.linalg.norm(paths[0, -1] - chunk[0, -1, :3]) < 0.02


def test_malformed_chunks_are_refused_with_the_shape(task: PickPlaceTask) -> None:
    task.reset(0)
    simulator = ChunkSimulator(task)
    with pytest.raises(ValueError, match=r"\[num_samples, L, A\].*\(7, 6\).*chunk\[None\]"):
        simulator.simulate(np.zeros((7, 6)))
    with pytest.raises(ValueError, match="NaN"):
        simulator.simulate(np.full((1, 2, 6), np.nan))


def test_repeated_samples_are_simulated_once_and_keep_their_order(task: PickPlaceTask) -> None:
    task.reset(5)
    ranges = task.joint_ranges_deg
    a = np.repeat(ranges.mean(axis=1)[None], 4, axis=0)
    b = a + np.array([15.0, -10.0, 10.0, 0.0, 0.0, 20.0])
    simulator = ChunkSimulator(task)
    mixed = simulator.simulate(np.stack([b, a, b]))
    np.testing.assert_array_equal(mixed[0], mixed[2])
    np.testing.assert_array_equal(mixed[1], simulator.simulate(a[None])[0])
    np.testing.assert_array_equal(mixed[0], simulator.simulate(b[None])[0])
    assert np.abs(mixed[0] - mixed[1]).max() > 0.005
