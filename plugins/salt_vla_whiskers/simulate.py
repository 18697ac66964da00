"""Forward-simulate predicted action chunks in a copy of the MuJoCo state: where would the gripper go?

:class:`ChunkSimulator` copies the live ``MjData`` into a private scratch ``MjData`` with
``mujoco.mj_copyData`` (positions, velocities, controls, actuator states, warm start, mocap bodies, time:
everything the next step depends on), then plays the chunk through the task's own
:meth:`~salt_vla_so101.task.PickPlaceTask.apply_action` and :meth:`~salt_vla_so101.task.PickPlaceTask.advance`,
reading :meth:`~salt_vla_so101.task.PickPlaceTask.ee_position` after every control step. The live data is
only read. Since MuJoCo is deterministic, a whisker is exactly the path the gripper takes if the chunk is
executed open-loop from that state (the tests check this).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import mujoco
import numpy as np

if TYPE_CHECKING:
    from salt_vla_so101.task import PickPlaceTask

ToJoint = Callable[[np.ndarray, mujoco.MjData], np.ndarray]
"""``to_joint(action, data) -> joint action [6]``: maps a policy action to the task's joint action, given
the (copied) state it is applied to (end-effector policies go through IK here)."""


class ChunkSimulator:
    """Predicted end-effector paths of action chunks, simulated on a scratch copy of the task's state.

    Args:
        task: the task whose action mapping, physics substeps and end-effector point are used.
        to_joint: maps each action to a joint action first (``None``: actions already are joint actions).
    """

    def __init__(self, task: PickPlaceTask, *, to_joint: ToJoint | None = None) -> None:
        self.task = task
        self.to_joint = to_joint
        self._scratch = mujoco.MjData(task.model)

    def simulate(self, chunk: np.ndarray, data: mujoco.MjData | None = None) -> np.ndarray:
        """Whisker bundle ``[K, L + 1, 3]`` (world metres) of ``chunk`` ``[K, L, A]`` started from ``data``.

        Point 0 is the gripper's position in ``data`` (default: the task's live data), point ``i`` its
        position after the chunk's ``i``-th action. ``data`` is never modified.

        Raises:
            ValueError: ``chunk`` is not ``[K, L, A]`` with ``K, L >= 1``, or an action is rejected by the
                task (wrong size, NaN/Inf).
        """
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 3 or chunk.shape[0] < 1 or chunk.shape[1] < 1:
            raise ValueError(
                f"predict_chunk must return [num_samples, L, A] with num_samples, L >= 1; got shape {chunk.shape}. "
                "A policy returning [L, A] should add the sample axis (chunk[None])."
            )
        task = self.task
        source = task.data if data is None else data
        scratch = self._scratch
        # identical samples (a deterministic policy asked for K) give identical paths: simulate each once
        unique, inverse = np.unique(chunk.reshape(len(chunk), -1), axis=0, return_inverse=True)
        paths = np.empty((len(unique), chunk.shape[1] + 1, 3))
        for k, actions in enumerate(unique.reshape(len(unique), *chunk.shape[1:])):
            mujoco.mj_copyData(scratch, task.model, source)
            paths[k, 0] = task.ee_position(scratch)
            for i, action in enumerate(actions, start=1):
                task.apply_action(scratch, action if self.to_joint is None else self.to_joint(action, scratch))
                task.advance(scratch)
                paths[k, i] = task.ee_position(scratch)
        return paths[inverse.reshape(-1)]
