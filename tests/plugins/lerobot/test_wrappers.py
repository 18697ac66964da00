"""Action wrappers: invariants on a scripted chunk policy, and ACT's own temporal ensembling reproduced."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from salt_vla_lerobot.wrappers import GripperAdjust, Smoothing, TemporalEnsemble, wrap

import salt_vla
from salt_vla.interfaces import Policy
from salt_vla.robot import SO101_ACTION_NAMES, SO101_CAMERAS

from .conftest import IMAGE_SIZE, make_observation


class ScriptedChunks:
    """A deterministic Policy whose chunk at step ``t`` is ``chunks[t]`` (a test policy, not a stand-in)."""

    action_names = SO101_ACTION_NAMES
    camera_names = SO101_CAMERAS

    def __init__(self, chunks: np.ndarray) -> None:
        self.chunks = np.asarray(chunks, dtype=np.float32)
        self.step = 0

    def reset(self) -> None:
        self.step = 0

    def predict_chunk(self, observation, *, num_samples=1, seed=None):
        return np.repeat(self.chunks[min(self.step, len(self.chunks) - 1)][None], num_samples, axis=0)

    def act(self, observation):
        action = self.chunks[self.step][0]
        self.step += 1
        return action


OBS = make_observation()


def test_wrappers_are_policies_and_forward_names():
    policy = wrap(ScriptedChunks(np.zeros((3, 4, 6))), temporal_ensemble=0.01, smoothing=0.5, gripper_offset=-5)
    assert isinstance(policy, Policy) and isinstance(policy, GripperAdjust)
    assert isinstance(policy.policy, Smoothing) and isinstance(policy.policy.policy, TemporalEnsemble)
    assert tuple(policy.action_names) == SO101_ACTION_NAMES and isinstance(policy.unwrap(), ScriptedChunks)


@settings(max_examples=60, deadline=None)
@given(offset=st.floats(-100, 100), values=st.lists(st.floats(-50, 150), min_size=4, max_size=4))
def test_gripper_offset_then_clip(offset, values):
    chunks = np.zeros((4, 4, 6), dtype=np.float32)
    chunks[:, :, 5] = np.asarray(values, dtype=np.float32)[:, None]
    chunks[:, :, 0] = 12.5
    policy = GripperAdjust(ScriptedChunks(chunks), offset=offset, low=0, high=100)
    action = policy.act(OBS)
    assert action[0] == pytest.approx(12.5) and action[5] == pytest.approx(np.clip(values[0] + offset, 0, 100), abs=1e-4)
    chunk = policy.predict_chunk(OBS, num_samples=2)
    assert chunk.shape == (2, 4, 6) and (chunk[..., 5] >= 0).all() and (chunk[..., 5] <= 100).all()
    with pytest.raises(ValueError, match="no action named 'claw.pos'"):
        GripperAdjust(ScriptedChunks(chunks), name="claw.pos")


def test_smoothing_is_an_ema_and_predicts_what_it_would_execute():
    rng = np.random.default_rng(0)
    chunks = rng.normal(0, 10, (6, 6, 6)).astype(np.float32)
    smooth = Smoothing(ScriptedChunks(chunks), alpha=0.3)
    expected = chunks[0, 0]
    np.testing.assert_allclose(smooth.act(OBS), expected, rtol=1e-6)
    for t in range(1, 4):
        predicted = smooth.predict_chunk(OBS)[0, 0]  # the script's chunk at step t starts with act()'s action
        expected = 0.3 * chunks[t, 0] + 0.7 * expected
        np.testing.assert_allclose(predicted, expected, rtol=1e-5)
        np.testing.assert_allclose(smooth.act(OBS), expected, rtol=1e-5)
    smooth.reset()
    np.testing.assert_allclose(smooth.act(OBS), chunks[0, 0], rtol=1e-6)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\]"):
        Smoothing(ScriptedChunks(chunks), alpha=0)


class Replanner(ScriptedChunks):
    """Chunk ``t`` comes out of predict_chunk at step ``t``; act() advances (like TemporalEnsemble's inner use)."""

    def predict_chunk(self, observation, *, num_samples=1, seed=None):
        return np.repeat(self.chunks[self.step][None], num_samples, axis=0)


def ensemble_run(chunks: np.ndarray, coeff: float) -> list[np.ndarray]:
    inner = Replanner(chunks)
    ensemble = TemporalEnsemble(inner, coeff=coeff)
    actions = []
    for _ in range(len(chunks)):
        actions.append(ensemble.act(OBS))
        inner.step += 1
    return actions


@settings(max_examples=40, deadline=None)
@given(start=st.floats(-50, 50), slope=st.floats(-5, 5), length=st.integers(1, 6), steps=st.integers(1, 9),
       coeff=st.floats(0, 0.5))
def test_ensembling_consistent_predictions_changes_nothing(start, slope, length, steps, coeff):
    # Chunk t predicts f(t), f(t+1), ...: every prediction for a step agrees, so the average is f(t).
    f = [start + slope * t for t in range(steps + length)]
    chunks = np.array([[[f[t + k]] * 6 for k in range(length)] for t in range(steps)], dtype=np.float32)
    for t, action in enumerate(ensemble_run(chunks, coeff)):
        np.testing.assert_allclose(action, f[t], rtol=1e-5, atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), length=st.integers(1, 5), coeff=st.floats(-0.5, 0.5))
def test_ensembled_action_is_a_convex_combination_of_the_covering_predictions(seed, length, coeff):
    chunks = np.random.default_rng(seed).normal(0, 10, (7, length, 6)).astype(np.float32)
    for t, action in enumerate(ensemble_run(chunks, coeff)):
        covering = np.stack([chunks[s, t - s] for s in range(max(0, t - length + 1), t + 1)])
        assert (action >= covering.min(0) - 1e-3).all() and (action <= covering.max(0) + 1e-3).all()


def test_temporal_ensemble_predict_chunk_is_what_act_returns_next():
    chunks = np.random.default_rng(1).normal(0, 10, (5, 4, 6)).astype(np.float32)
    inner = Replanner(chunks)
    ensemble = TemporalEnsemble(inner, coeff=0.1)
    for _ in range(4):
        predicted = ensemble.predict_chunk(OBS, num_samples=2)
        assert predicted.shape == (2, 4, 6)
        np.testing.assert_allclose(ensemble.act(OBS), predicted[0, 0], rtol=1e-6)
        inner.step += 1


def test_reproduces_lerobot_act_temporal_ensembling(tmp_path):
    pytest.importorskip("lerobot", reason="the lerobot extra is not installed")
    from salt_vla_lerobot.builders import build_act

    directory = build_act(tmp_path / "act_te", image_size=IMAGE_SIZE, chunk_size=5, n_action_steps=1,
                               temporal_ensemble_coeff=0.05)
    native = salt_vla.create_policy(f"act:{directory}")  # LeRobot's ACTTemporalEnsembler inside select_action
    ours = salt_vla.create_policy(f"act:{directory}", temporal_ensemble=0.05)  # our wrapper, over predict_chunk
    assert isinstance(ours, TemporalEnsemble)
    native.reset()
    ours.reset()
    for step in range(8):  # longer than the chunk, so old chunks drop out of the average
        observation = make_observation(seed=step)
        expected = native.act(observation)
        np.testing.assert_allclose(ours.act(observation), expected, rtol=1e-4, atol=1e-3)
