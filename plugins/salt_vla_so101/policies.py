"""Baseline policies for the SO-101 task: ``random`` and ``hold`` (both should score 0%), and
:class:`ExploratoryPolicy`, the scripted expert with noise and random excursions (unlabeled rollouts).

They use joint-space actions in LeRobot units and read no cameras, so they run on physics-only episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from salt_vla.interfaces import Policy
from salt_vla.robot import SO101_ACTION_NAMES, Observation
from salt_vla_so101.config import HOME_POSE


def no_source(family: str, source: str | None) -> None:
    """Refuse ``"family:source"`` for built-in policies that take no weights."""
    if source is not None:
        raise ValueError(f"Policy {family!r} takes no source; write {family!r}, not {f'{family}:{source}'!r}.")


class HoldPolicy:
    """Does nothing: commands the joint positions observed at the first step of the episode, forever."""

    action_names: Sequence[str] = SO101_ACTION_NAMES
    camera_names: Sequence[str] = ()

    def __init__(self) -> None:
        self._pose: np.ndarray | None = None

    def reset(self) -> None:
        self._pose = None

    def act(self, observation: Observation) -> np.ndarray:
        if self._pose is None:
            self._pose = np.asarray(observation.state, dtype=np.float64).copy()
        return self._pose.copy()

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        pose = self._pose if self._pose is not None else np.asarray(observation.state, dtype=np.float64)
        return np.broadcast_to(pose, (num_samples, 1, len(pose))).copy()


class RandomPolicy:
    """Random joint targets around the home pose, each held for ``hold_steps`` control steps.

    Arm joints: home pose ± ``amplitude`` degrees (uniform); gripper: uniform in ``[0, 100]``.
    Each :meth:`reset` draws a fresh generator: from ``seed`` when given (the same episode every time),
    otherwise from NumPy's global generator, which the evaluator seeds with the episode seed, so runs are
    reproducible and serial and parallel evaluations agree.
    """

    action_names: Sequence[str] = SO101_ACTION_NAMES
    camera_names: Sequence[str] = ()

    def __init__(self, *, hold_steps: int = 10, amplitude: float = 40.0, seed: int | None = None) -> None:
        if hold_steps < 1 or amplitude < 0:
            raise ValueError(f"RandomPolicy needs hold_steps >= 1 and amplitude >= 0; got {hold_steps}, {amplitude}.")
        self.hold_steps = hold_steps
        self.amplitude = amplitude
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        seed = self.seed if self.seed is not None else int(np.random.randint(0, 2**31 - 1))
        self._rng = np.random.default_rng(seed)
        self._targets: list[np.ndarray] = []
        self._t = 0

    def _target(self, index: int) -> np.ndarray:
        while len(self._targets) <= index:
            arm = np.asarray(HOME_POSE[:5]) + self._rng.uniform(-self.amplitude, self.amplitude, size=5)
            self._targets.append(np.concatenate([arm, [self._rng.uniform(0.0, 100.0)]]))
        return self._targets[index].copy()

    def act(self, observation: Observation) -> np.ndarray:
        action = self._target(self._t // self.hold_steps)
        self._t += 1
        return action

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        chunk = np.stack([self._target((self._t + i) // self.hold_steps) for i in range(self.hold_steps)])
        return np.repeat(chunk[None], num_samples, axis=0)


class ExploratoryPolicy:
    """Another policy (default: the scripted expert) with action noise and random excursions: unlabeled video.

    Every step the base policy acts (so a scripted plan keeps its clock), then Gaussian noise of ``noise``
    degrees (``gripper_noise`` percent on the gripper) is added; with probability ``explore_prob`` per step an
    excursion starts: for ``explore_steps`` steps (drawn uniformly in that range) the arm moves toward a random
    target of home pose ± ``amplitude`` degrees, blended in linearly, and the base policy's actions are ignored.
    The privileged expert re-plans from wherever the arm ends up, so rollouts show approaches, misses, regrasps
    and idle motion that the demonstrations do not.

    Deterministic given the episode seed: :meth:`reset` draws its generator from ``seed`` when given, else from
    NumPy's global generator, which :func:`salt_vla_so101.rollout.run_episode` seeds with the episode seed.
    Picklable (for ``record_dataset(..., workers=N)``) when the base policy is.
    """

    def __init__(self, base: Policy | None = None, *, noise: float = 3.0, gripper_noise: float = 5.0,
                 explore_prob: float = 0.02, explore_steps: tuple[int, int] = (15, 45), amplitude: float = 35.0,
                 seed: int | None = None) -> None:
        if noise < 0 or gripper_noise < 0 or not 0.0 <= explore_prob <= 1.0 or amplitude < 0:
            raise ValueError("ExploratoryPolicy needs noise, gripper_noise, amplitude >= 0 and explore_prob in [0, 1]; "
                             f"got {noise}, {gripper_noise}, {amplitude}, {explore_prob}.")
        if not 1 <= explore_steps[0] <= explore_steps[1]:
            raise ValueError(f"explore_steps must be (low, high) with 1 <= low <= high; got {explore_steps}.")
        if base is None:
            from salt_vla_so101.expert import ScriptedExpert

            base = ScriptedExpert()
        self.base = base
        self.noise, self.gripper_noise, self.amplitude = float(noise), float(gripper_noise), float(amplitude)
        self.explore_prob, self.explore_steps = float(explore_prob), (int(explore_steps[0]), int(explore_steps[1]))
        self.seed = seed
        self.excursions = 0
        self.reset()

    @property
    def action_names(self) -> Sequence[str]:
        return self.base.action_names

    @property
    def camera_names(self) -> Sequence[str]:
        return self.base.camera_names

    def bind(self, task: Any) -> None:
        """Bind a privileged base policy (the scripted expert reads the simulator state) to ``task``."""
        bind = getattr(self.base, "bind", None)
        if callable(bind):
            bind(task)

    def reset(self) -> None:
        seed = self.seed if self.seed is not None else int(np.random.randint(0, 2**31 - 1))
        self._rng = np.random.default_rng(seed)
        self._excursion: tuple[np.ndarray, np.ndarray, int, int] | None = None  # start, target, step, length
        self._last: np.ndarray | None = None
        self.excursions = 0
        self.base.reset()

    def act(self, observation: Observation) -> np.ndarray:
        action = np.asarray(self.base.act(observation), dtype=np.float64).copy()
        if self._excursion is None and self._rng.random() < self.explore_prob:
            start = self._last if self._last is not None else np.asarray(observation.state, dtype=np.float64)
            arm = np.asarray(HOME_POSE[:5]) + self._rng.uniform(-self.amplitude, self.amplitude, size=5)
            target = np.concatenate([arm, [self._rng.uniform(0.0, 100.0)]])
            length = int(self._rng.integers(self.explore_steps[0], self.explore_steps[1] + 1))
            self._excursion = (start.copy(), target, 0, length)
            self.excursions += 1
        if self._excursion is not None:
            start, target, step, length = self._excursion
            step += 1
            action = start + (target - start) * min(1.0, step / max(1, length // 2))
            self._excursion = None if step >= length else (start, target, step, length)
        scale = np.full(action.shape, self.noise)
        scale[-1] = self.gripper_noise
        action = action + self._rng.normal(0.0, 1.0, size=action.shape) * scale
        action[-1] = np.clip(action[-1], 0.0, 100.0)
        self._last = action
        return action

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        """The base policy's chunk (the noise and excursions are not planned ahead)."""
        return self.base.predict_chunk(observation, num_samples=num_samples, seed=seed)
