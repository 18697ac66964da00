"""ExploratoryPolicy: the scripted expert with noise and excursions, deterministic per seed, picklable."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from salt_vla_so101.policies import ExploratoryPolicy
from salt_vla_so101.rollout import run_episode
from salt_vla_so101.task import PickPlaceTask

from salt_vla.interfaces import Policy

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def task() -> PickPlaceTask:
    return PickPlaceTask(render=False)


def _actions(task: PickPlaceTask, policy: ExploratoryPolicy, seed: int, steps: int = 80) -> np.ndarray:
    actions: list[np.ndarray] = []
    run_episode(task, policy, seed, max_steps=steps, stop_on_success=False,
                on_step=lambda observation, action: actions.append(action))
    return np.stack(actions)


def test_same_seed_same_episode_and_pickled_copies_agree(task: PickPlaceTask) -> None:
    policy = ExploratoryPolicy(explore_prob=0.05)
    assert isinstance(policy, Policy)
    first = _actions(task, policy, 3)
    again = _actions(task, policy, 3)
    copy = _actions(task, pickle.loads(pickle.dumps(policy)), 3)
    other = _actions(task, policy, 4)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, copy)
    assert not np.array_equal(first, other)


def test_noise_and_excursions_leave_the_expert_path(task: PickPlaceTask) -> None:
    from salt_vla_so101.expert import ScriptedExpert

    expert = _actions(task, ExploratoryPolicy(ScriptedExpert(), noise=0.0, gripper_noise=0.0, explore_prob=0.0), 5)
    np.testing.assert_allclose(expert, _actions(task, ScriptedExpert(), 5))
    noisy = _actions(task, ExploratoryPolicy(noise=2.0, gripper_noise=0.0, explore_prob=0.0), 5)
    assert 0.5 < np.abs(noisy - expert)[:, :5].std() < 5.0
    exploring = ExploratoryPolicy(noise=0.0, gripper_noise=0.0, explore_prob=1.0, explore_steps=(20, 20))
    wandering = _actions(task, exploring, 5)
    assert exploring.excursions >= 1
    assert np.abs(wandering - expert)[:, :5].max() > 10.0
    assert np.all((wandering[:, 5] >= 0.0) & (wandering[:, 5] <= 100.0))


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="explore_prob"):
        ExploratoryPolicy(explore_prob=1.5)
    with pytest.raises(ValueError, match="explore_steps"):
        ExploratoryPolicy(explore_steps=(5, 2))
