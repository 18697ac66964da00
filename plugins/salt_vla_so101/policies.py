"""Baseline policies for the SO-101 task: ``random`` and ``hold``. Both should score 0%.

They use joint-space actions in LeRobot units and read no cameras, so they run on physics-only episodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
