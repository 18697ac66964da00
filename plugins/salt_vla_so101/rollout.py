"""Run one seeded episode of a policy on the task, and classify it: ``rollout`` in LeRobot's terms.

:func:`run_episode` is the loop every consumer shares (the evaluator, the recorder, benchmarks):

1. seed Python's, NumPy's and (if imported) torch's global generators with the episode seed, so stochastic
   policies are reproducible and serial and parallel evaluations agree;
2. ``task.reset(seed)``; a privileged policy is bound to the task (``policy.bind(task)``); then
   ``policy.reset()``, always, before the first action;
3. each step: ``policy.act(obs)``; a raised exception, a wrong shape or a NaN/Inf action ends the episode
   as ``POLICY_ERROR`` with the message; end-effector actions go through IK; with ``execution_noise`` the
   executed joint action is perturbed (the policy's own action is what ``on_step`` sees: DART); ``task.step``; the block's
   height, contacts and speed are recorded; actions outside the joints' control ranges are clipped, and
   counted (``clipped_actions``, ``max_clip_excess``); NaN state, MuJoCo warnings, a launched or tunnelling block end
   the episode flagged ``unstable`` with the reason;
4. the episode stops early once success has held for ``settle_steps`` steps, else at ``max_steps``;
5. :func:`salt_vla_so101.outcomes.classify` names the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from salt_vla.evaluation import EpisodeResult, Outcome
from salt_vla.interfaces import Policy
from salt_vla.robot import Observation
from salt_vla.seeding import seed_everything
from salt_vla_so101.config import EE_ACTION_NAMES
from salt_vla_so101.ee import EEActionConverter
from salt_vla_so101.noise import ActionNoise
from salt_vla_so101.outcomes import OutcomeThresholds, Trace, classify
from salt_vla_so101.task import PickPlaceTask

CLIP_TOLERANCE = 1e-3
"""Excess (degrees, gripper percent) below which an action counts as inside the control ranges (float round-off)."""

StepCallback = Callable[[Observation, np.ndarray], None]
"""``on_step(observation, action)``: the observation a policy saw and the action it returned (as float32)."""


@dataclass
class EpisodeRecord:
    """What one episode produced: the report row, the per-step trace and the video frames (if asked)."""

    result: EpisodeResult
    trace: Trace
    frames: list[np.ndarray] = field(default_factory=list)


def warning_counts(data: mujoco.MjData) -> np.ndarray:
    """How often each MuJoCo warning (``mujoco.mjtWarning``) has been raised on ``data`` so far."""
    return data.warning.number.copy()


def instability(task: PickPlaceTask, before: np.ndarray, thresholds: OutcomeThresholds) -> str:
    """Why the physics of ``task.data`` cannot be trusted, or ``""``."""
    data = task.data
    if not (np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))):
        return "NaN/Inf in the simulation state"
    raised = np.flatnonzero(warning_counts(data) > before)
    if raised.size:
        names = [mujoco.mjtWarning(int(i)).name for i in raised]
        return "MuJoCo warning(s): " + ", ".join(names)
    speed = task.block_speed()
    if speed > thresholds.unstable_speed:
        return f"block launched at {speed:.1f} m/s (limit {thresholds.unstable_speed} m/s)"
    block = task.block_position()
    if block[2] < -thresholds.tunnel_depth and task.over_table(block):
        return f"block tunnelled through the table (centre at z={block[2]:.3f} m)"
    return ""


def record_step(task: PickPlaceTask, trace: Trace) -> None:
    """Append the current block height, goal distance, contacts and speed of `task` to `trace`."""
    block = task.block_position()
    pads, touched = task.block_contacts()
    height = block[2] - task.config.block_size / 2
    trace.append(height, np.linalg.norm(block[:2] - task.bowl_position()[:2]), pads == 2, touched, task.block_speed())


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _checked_action(raw: Any, size: int) -> np.ndarray:
    try:
        action = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the action is not a numeric array ({_describe(exc)})") from exc
    if action.shape != (size,):
        raise ValueError(f"the action has shape {tuple(action.shape)}; the policy declares {size} action names")
    if not np.all(np.isfinite(action)):
        raise ValueError(f"the action has NaN/Inf values {np.array2string(action, precision=3)}")
    return action


def run_episode(
    task: PickPlaceTask,
    policy: Policy,
    seed: int,
    *,
    thresholds: OutcomeThresholds | None = None,
    max_steps: int | None = None,
    video_camera: str | None = None,
    on_step: StepCallback | None = None,
    stop_on_success: bool = True,
    execution_noise: ActionNoise | None = None,
) -> EpisodeRecord:
    """Run episode ``seed`` of ``policy`` on ``task`` and classify it (see the module docstring).

    Args:
        thresholds: classifier, early-stop and instability thresholds.
        max_steps: control steps before the episode ends (default ``task.config.max_steps``).
        video_camera: also render this camera after reset and after every step into ``frames``.
        on_step: called before each step with the observation and the policy's action.
        stop_on_success: end the episode once success has settled (else run all ``max_steps``).
        execution_noise: add this noise (a function of ``seed``) to every executed joint action; ``on_step``
            still receives the policy's clean action (:mod:`salt_vla_so101.noise`).
    """
    thresholds = thresholds or OutcomeThresholds()
    max_steps = task.config.max_steps if max_steps is None else max_steps
    start = time.perf_counter()
    seed_everything(seed)
    observation = task.reset(seed)
    error = unstable = ""
    try:
        bind = getattr(policy, "bind", None)
        if callable(bind):
            bind(task)
        policy.reset()
    except Exception as exc:  # an adapter that cannot even start an episode: that episode is its error
        error = f"step 0: policy.reset raised {_describe(exc)}"
    ee_mode = tuple(policy.action_names) == EE_ACTION_NAMES
    converter = EEActionConverter(task) if ee_mode else None
    size = len(policy.action_names)
    noise = execution_noise.process(seed, len(task.config.home_pose)) if execution_noise is not None else None
    trace = Trace(task.config.bowl_inner_radius, task.config.bowl_height)
    record_step(task, trace)
    frames = [task.render(video_camera)] if video_camera else []
    steps = clipped = 0
    max_excess = 0.0
    while steps < max_steps and not error:
        try:
            raw = policy.act(observation)
        except Exception as exc:  # the policy's fault: record it, keep the evaluation going
            error = f"step {steps}: policy.act raised {_describe(exc)}"
            break
        try:
            action = _checked_action(raw, size)
            joint_action = converter(action) if converter is not None else action
        except ValueError as exc:
            error = f"step {steps}: {exc}"
            break
        if on_step is not None:
            on_step(observation, action.astype(np.float32))
        if noise is not None:
            joint_action = noise(joint_action)
        excess = task.action_excess(joint_action)
        if excess > CLIP_TOLERANCE:
            clipped, max_excess = clipped + 1, max(max_excess, excess)
        warnings_before = warning_counts(task.data)
        observation = task.step(joint_action)
        steps += 1
        record_step(task, trace)
        if video_camera:
            frames.append(task.render(video_camera))
        unstable = instability(task, warnings_before, thresholds)
        if unstable:
            unstable = f"step {steps}: {unstable}"
            break
        if stop_on_success and trace.settled_success(thresholds):
            break
    outcome, picked = classify(trace, thresholds)
    if error:
        outcome = Outcome.POLICY_ERROR
    result = EpisodeResult(
        seed=int(seed),
        outcome=outcome,
        steps=steps,
        max_height=trace.max_height(),
        picked=picked,
        wall_time_s=time.perf_counter() - start,
        message=error or unstable,
        unstable=bool(unstable),
        ik_attempts=converter.attempts if converter else 0,
        ik_failures=converter.failures if converter else 0,
        ik_error_mm=converter.mean_error_mm if converter else 0.0,
        clipped_actions=clipped,
        max_clip_excess=max_excess,
    )
    return EpisodeRecord(result, trace, frames)
