"""Composable action wrappers: each takes any :class:`~salt_vla.interfaces.Policy` and is one.

- :class:`GripperAdjust` adds an offset to the gripper command and clips it (a tighter grasp without
  retraining: a negative offset closes further; SO-101's gripper is an opening in ``[0, 100]``).
- :class:`Smoothing` is an exponential moving average of the executed actions.
- :class:`TemporalEnsemble` re-plans every step and averages, for each step, the actions that every
  earlier chunk predicted for it (ACT's temporal ensembling, weights ``exp(-coeff * i)`` with ``i = 0``
  the oldest prediction), for any policy with ``predict_chunk``.

``predict_chunk`` of every wrapper shows what it would execute: the adjusted, smoothed or ensembled
chunk, computed from the current state without changing it, so whiskers draw the executed plan.
Compose them innermost first, or with :func:`wrap`: ``wrap(policy, temporal_ensemble=0.01, smoothing=0.5,
gripper_offset=-10)`` builds ``GripperAdjust(Smoothing(TemporalEnsemble(policy)))``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from salt_vla.interfaces import Policy
from salt_vla.robot import Observation

GRIPPER_NAME = "gripper.pos"


class ActionWrapper:
    """Forwards the Policy interface to ``policy``; subclasses transform actions and chunks."""

    def __init__(self, policy: Policy) -> None:
        if not isinstance(policy, Policy):
            raise TypeError(f"{type(self).__name__} wraps a salt_vla Policy; got {type(policy).__name__}.")
        self.policy = policy

    @property
    def action_names(self) -> Sequence[str]:
        return self.policy.action_names

    @property
    def camera_names(self) -> Sequence[str]:
        return self.policy.camera_names

    def reset(self) -> None:
        self.policy.reset()

    def act(self, observation: Observation) -> np.ndarray:
        return self.policy.act(observation)

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        return self.policy.predict_chunk(observation, num_samples=num_samples, seed=seed)

    def unwrap(self) -> Any:
        """The innermost policy."""
        inner = self.policy
        return inner.unwrap() if isinstance(inner, ActionWrapper) else inner

    def __getattr__(self, name: str) -> Any:  # describe(), family, ... of the wrapped adapter
        if name == "policy":
            raise AttributeError(name)
        return getattr(self.policy, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.policy!r})"


class GripperAdjust(ActionWrapper):
    """Add ``offset`` to the gripper dimension and clip it to ``[low, high]`` (robot units).

    Args:
        offset: added to every gripper command (SO-101: negative closes tighter).
        low, high: the clip range (SO-101: ``0`` closed to ``100`` open).
        name: the action name of the gripper dimension.
    """

    def __init__(self, policy: Policy, *, offset: float = 0.0, low: float = 0.0, high: float = 100.0,
                 name: str = GRIPPER_NAME) -> None:
        super().__init__(policy)
        if not low <= high:
            raise ValueError(f"GripperAdjust needs low <= high; got low={low}, high={high}.")
        names = list(policy.action_names)
        if name not in names:
            raise ValueError(f"GripperAdjust: no action named {name!r}; the policy's actions are {names}.")
        self.index = names.index(name)
        self.offset, self.low, self.high = float(offset), float(low), float(high)

    def _adjust(self, actions: np.ndarray) -> np.ndarray:
        out = np.array(actions, dtype=np.float32, copy=True)
        out[..., self.index] = np.clip(out[..., self.index] + self.offset, self.low, self.high)
        return out

    def act(self, observation: Observation) -> np.ndarray:
        return self._adjust(self.policy.act(observation))

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        return self._adjust(self.policy.predict_chunk(observation, num_samples=num_samples, seed=seed))


class Smoothing(ActionWrapper):
    """Exponential moving average of executed actions: ``y_t = alpha * a_t + (1 - alpha) * y_{t-1}``.

    ``alpha = 1`` is no smoothing; smaller is smoother (and laggier). The first action of an episode
    passes unchanged.
    """

    def __init__(self, policy: Policy, *, alpha: float = 0.5) -> None:
        super().__init__(policy)
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"Smoothing alpha must be in (0, 1]; got {alpha}.")
        self.alpha = float(alpha)
        self.last: np.ndarray | None = None

    def reset(self) -> None:
        super().reset()
        self.last = None

    def act(self, observation: Observation) -> np.ndarray:
        action = np.asarray(self.policy.act(observation), dtype=np.float32)
        self.last = action.copy() if self.last is None else self.alpha * action + (1 - self.alpha) * self.last
        return self.last.astype(np.float32)

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        chunk = np.asarray(self.policy.predict_chunk(observation, num_samples=num_samples, seed=seed), dtype=np.float32)
        out = np.empty_like(chunk)
        previous = None if self.last is None else np.broadcast_to(self.last, chunk[:, 0].shape)
        for step in range(chunk.shape[1]):
            current = chunk[:, step]
            previous = current if previous is None else self.alpha * current + (1 - self.alpha) * previous
            out[:, step] = previous
        return out


class TemporalEnsemble(ActionWrapper):
    """Re-plan at every step and average the predictions made for the current step (ACT, Zhao et al. 2023).

    At step ``t`` the chunks predicted at steps ``t - k`` (``k < L``) each hold an action for ``t``; they
    are averaged with weights ``exp(-coeff * i)``, ``i = 0`` for the oldest. ``coeff = 0`` is a plain
    mean; the original ACT uses ``0.01``. Costs one ``predict_chunk`` per step.
    """

    def __init__(self, policy: Policy, *, coeff: float = 0.01) -> None:
        super().__init__(policy)
        if not math.isfinite(coeff):
            raise ValueError(f"TemporalEnsemble coeff must be finite; got {coeff}.")
        self.coeff = float(coeff)
        self.history: deque[np.ndarray] = deque()  # chunks still covering the present, oldest first

    def reset(self) -> None:
        super().reset()
        self.history.clear()

    def _ensemble(self, chunks: Sequence[np.ndarray]) -> np.ndarray:
        """``[L, A]``: for each upcoming step, the weighted mean over the chunks covering it.

        ``chunks[j]`` was predicted ``len(chunks) - 1 - j`` steps ago; row ``s`` of the result is step
        ``now + s``. The ``i``-th chunk (in order of prediction) that covers a step weighs ``exp(-coeff * i)``.
        """
        newest = len(chunks) - 1
        length = chunks[-1].shape[0]
        total = np.zeros(chunks[-1].shape, dtype=np.float64)
        weight = np.zeros((length, 1), dtype=np.float64)
        count = np.zeros((length, 1), dtype=np.float64)
        for rank, chunk in enumerate(chunks):
            delay = newest - rank
            rows = min(length, chunk.shape[0] - delay)
            if rows <= 0:
                continue
            w = np.exp(-self.coeff * count[:rows])
            total[:rows] += w * chunk[delay:delay + rows]
            weight[:rows] += w
            count[:rows] += 1
        return (total / weight).astype(np.float32)

    def _covering(self) -> list[np.ndarray]:
        """History chunks that still predict the next step, assuming one more chunk arrives now."""
        return [c for age, c in enumerate(reversed(self.history), start=1) if c.shape[0] > age][::-1]

    def act(self, observation: Observation) -> np.ndarray:
        chunk = np.asarray(self.policy.predict_chunk(observation, num_samples=1)[0], dtype=np.float32)
        chunks = [*self._covering(), chunk]
        self.history = deque(chunks)
        return self._ensemble(chunks)[0]

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        fresh = np.asarray(self.policy.predict_chunk(observation, num_samples=num_samples, seed=seed), dtype=np.float32)
        covering = self._covering()
        return np.stack([self._ensemble([*covering, sample]) for sample in fresh])


def wrap(
    policy: Policy,
    *,
    temporal_ensemble: float | None = None,
    smoothing: float | None = None,
    gripper_offset: float = 0.0,
    gripper_range: tuple[float, float] | None = None,
) -> Policy:
    """Apply the requested wrappers in the canonical order: ensemble, then smoothing, then gripper."""
    if temporal_ensemble is not None:
        policy = TemporalEnsemble(policy, coeff=temporal_ensemble)
    if smoothing is not None:
        policy = Smoothing(policy, alpha=smoothing)
    if gripper_offset or gripper_range is not None:
        low, high = gripper_range if gripper_range is not None else (0.0, 100.0)
        policy = GripperAdjust(policy, offset=gripper_offset, low=low, high=high)
    return policy
