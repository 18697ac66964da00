"""DART: executed actions perturbed by seeded noise, recorded actions the expert's own."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from salt_vla_so101.config import TaskConfig
from salt_vla_so101.expert import ScriptedExpert
from salt_vla_so101.noise import ARM_JOINTS, ActionNoise
from salt_vla_so101.rollout import run_episode
from salt_vla_so101.task import PickPlaceTask

pytestmark = pytest.mark.sim


def test_bad_noise_settings_are_all_named_at_once() -> None:
    with pytest.raises(ValueError, match=r"std must be a positive.*got 0.*gripper_std must be >= 0; got -1.*"
                                         r"correlation must be in \[0, 1\).*got 1.0"):
        ActionNoise(std=0, gripper_std=-1, correlation=1.0)
    with pytest.raises(ValueError, match="5 arm joints and a gripper; got actions of 3 values"):
        ActionNoise(std=1.0).process(0, 3)


@settings(max_examples=20, deadline=None)
@given(std=st.floats(0.1, 10.0), rho=st.floats(0.0, 0.95), seed=st.integers(0, 2**31))
def test_noise_is_stationary_with_the_asked_deviation_and_correlation(std: float, rho: float, seed: int) -> None:
    process = ActionNoise(std=std, correlation=rho).process(seed, 6)
    steps = 4000
    draws = np.stack([process(np.zeros(6)) for _ in range(steps)])
    assert np.all(draws[:, ARM_JOINTS:] == 0)  # the gripper is left alone by default
    arm = draws[:, :ARM_JOINTS] / std
    # The AR(1) process's sample variance has an effective sample size of n (1 - rho) / (1 + rho).
    effective = steps * ARM_JOINTS * (1 - rho) / (1 + rho)
    assert abs(arm.std() - 1) < 6 / np.sqrt(effective) + 0.02
    lag1 = np.mean([np.corrcoef(arm[:-1, j], arm[1:, j])[0, 1] for j in range(ARM_JOINTS)])
    assert abs(lag1 - rho) < 0.06


def test_the_noise_of_an_episode_is_a_function_of_its_seed() -> None:
    noise = ActionNoise(std=2.0, gripper_std=1.0, correlation=0.5)
    a, b, c = (noise.process(seed, 6) for seed in (7, 7, 8))
    action = np.arange(6.0)
    first = [a(action) for _ in range(5)]
    assert all(np.array_equal(x, b(action)) for x in first)
    assert not np.array_equal(first[0], c(action))
    assert np.all(first[0][ARM_JOINTS:] != action[ARM_JOINTS:])  # gripper_std > 0 perturbs the gripper


class Recorded:
    """A task that remembers every joint action it executed."""

    def __init__(self) -> None:
        self.task = PickPlaceTask(TaskConfig(max_steps=40), render=False)
        self.executed: list[np.ndarray] = []
        step = self.task.step

        def recording_step(action):
            self.executed.append(np.array(action, dtype=np.float64))
            return step(action)

        self.task.step = recording_step


def episode(noise: ActionNoise | None, seed: int = 3) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """``(actions the expert chose, actions executed, states observed)`` of 40 steps of episode ``seed``."""
    recorded = Recorded()
    chosen, states = [], []

    def on_step(observation, action):
        chosen.append(action.astype(np.float64))
        states.append(observation.state.copy())

    run_episode(recorded.task, ScriptedExpert(), seed, on_step=on_step, execution_noise=noise)
    return chosen, recorded.executed, states


def test_executed_actions_are_perturbed_and_the_recorded_ones_are_the_experts_plan() -> None:
    clean_chosen, clean_executed, clean_states = episode(None)
    noise = ActionNoise(std=2.0, correlation=0.9)
    chosen, executed, states = episode(noise)
    assert len(chosen) == len(executed) == 40
    np.testing.assert_allclose(clean_executed, clean_chosen, atol=1e-6)  # no noise: executed = chosen
    # The expert plans once from the reset state: with noise it still chooses the same actions...
    np.testing.assert_allclose(chosen, clean_chosen, atol=1e-5)
    # ...while the arm executes something else, by the noise's size, and so visits other states.
    offsets = np.asarray(executed) - np.asarray(chosen)
    assert 0.5 < offsets[:, :ARM_JOINTS].std() < 4.0
    np.testing.assert_allclose(offsets[:, ARM_JOINTS:], 0.0, atol=1e-5)  # float32 recording of the gripper
    assert np.abs(np.asarray(states[5:]) - np.asarray(clean_states[5:]))[:, :ARM_JOINTS].max() > 0.5
    # The same seed perturbs the same way.
    _, again_executed, _ = episode(noise)
    np.testing.assert_array_equal(again_executed, executed)
