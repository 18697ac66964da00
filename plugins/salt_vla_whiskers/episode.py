"""Run one seeded SO-101 episode of a policy and record its whiskers: :func:`run_whiskers`.

At every ``every``-th control step ``t``, before the policy acts:

1. ``policy.predict_chunk(obs, num_samples=K, seed=chunk_seed(seed, t))`` -> ``[K, L, A]``;
2. :class:`~salt_vla_whiskers.simulate.ChunkSimulator` plays each sample from a copy of the live state ->
   the whisker bundle ``[K, L + 1, 3]``;
3. the live state (``mj_getState``, integration state) is kept, so frames can be drawn later from any
   camera without running the policy again, and the interactive viewer can step through history.

Then the policy acts and the task steps, exactly as in the SO-101 evaluator (same seeding, ``bind`` for
privileged policies, ``reset``, end-effector actions through IK); the gripper's positions form the executed
path. As in the evaluator, the episode ends once success has settled (the block at rest in the bowl for
``settle_steps``), unless ``config.full_episode`` asks for every step. A policy that raises or returns a
malformed chunk or action ends the episode; what was recorded until then is kept, with the message in
:attr:`WhiskerEpisode.error`. So does Ctrl-C, which also sets
:attr:`WhiskerEpisode.interrupted`.

Metrics of each prediction (:mod:`salt_vla_whiskers.metrics`): whisker spread, chunk jerk, deviation from
the executed path over the overlapping horizon, distances from the chunk's end to the block and the bowl.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np
from tqdm.auto import tqdm

from salt_vla.interfaces import Policy
from salt_vla_whiskers import metrics
from salt_vla_whiskers.config import WhiskerConfig
from salt_vla_whiskers.simulate import ChunkSimulator, ToJoint

if TYPE_CHECKING:
    from salt_vla_so101.task import PickPlaceTask

SCHEMA = "salt_vla.whiskers/1"
STATE = mujoco.mjtState.mjSTATE_INTEGRATION
"""What :attr:`WhiskerStep.state` holds: everything MuJoCo integrates (``mj_getState``)."""

METRIC_NAMES = ("spread_m", "jerk_m2_s6", "deviation_m", "end_to_block_m", "end_to_bowl_xy_m")
"""Per-prediction metrics, in the order of the JSON and the summary plot."""


def chunk_seed(seed: int, step: int) -> int:
    """The noise seed of the chunk predicted at control ``step`` of episode ``seed`` (a 32-bit int)."""
    return int(np.random.SeedSequence([int(seed), int(step)]).generate_state(1)[0])


@dataclass
class WhiskerStep:
    """One prediction.

    Attributes:
        step: control step ``t`` at which the chunk was predicted (before the policy acted).
        paths: ``[K, L + 1, 3]`` whisker bundle, world metres.
        state: the live integration state at ``t`` (``mj_getState(..., STATE)``).
        block, bowl: ``[3]`` block centre and bowl centre (on the table) at ``t``, metres.
        metrics: ``{name: value}`` for :data:`METRIC_NAMES` (``None`` where undefined), plus ``overlap``
            (executed steps the deviation covers).
    """

    step: int
    paths: np.ndarray
    state: np.ndarray
    block: np.ndarray
    bowl: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class WhiskerEpisode:
    """A recorded whisker episode.

    Attributes:
        policy: the policy's name (its SPEC, or its class name).
        seed: the episode seed.
        config: the run's settings.
        task: the task it ran on (its ``model`` draws the frames).
        steps: one :class:`WhiskerStep` per prediction, in order.
        executed: ``[T + 1, 3]`` gripper positions after reset and after each of the ``T`` control steps.
        error: why the episode stopped early (policy error, or ``interrupted``), or ``""``.
        success_step: the control step after which success had settled and the episode stopped (``None``: it
            did not, or ``config.full_episode`` ran on).
        interrupted: the run was stopped by Ctrl-C (KeyboardInterrupt); ``steps`` hold what was recorded.
    """

    policy: str
    seed: int
    config: WhiskerConfig
    task: PickPlaceTask = field(repr=False)
    steps: list[WhiskerStep] = field(default_factory=list)
    executed: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    error: str = ""
    interrupted: bool = False
    success_step: int | None = None

    @property
    def dt(self) -> float:
        """Control period, seconds."""
        return 1.0 / self.task.config.control_hz

    def ghosts(self, index: int, count: int | None = None) -> list[np.ndarray]:
        """Bundles of the ``count`` (default ``config.ghosts``) predictions before ``steps[index]``, newest first."""
        first = max(0, index - (self.config.ghosts if count is None else count))
        return [self.steps[i].paths for i in range(index - 1, first - 1, -1)]

    def metrics(self) -> list[dict[str, Any]]:
        """Per-prediction rows: ``step``, ``time_s``, ``ee`` (gripper position), then the metrics."""
        rows = []
        for record in self.steps:
            row: dict[str, Any] = {"step": record.step, "time_s": round(record.step * self.dt, 6),
                                   "ee": [float(v) for v in record.paths[0, 0]]}
            row.update(record.metrics)
            rows.append(row)
        return rows

    def summary(self) -> dict[str, Any]:
        """Mean, median and max of every metric over the episode."""
        return {name: metrics.summarise([s.metrics.get(name) for s in self.steps]) for name in METRIC_NAMES}

    def to_json(self) -> dict[str, Any]:
        """The document written to ``metrics.json``."""
        horizon = self.steps[0].paths.shape[1] - 1 if self.steps else 0
        return {
            "schema": SCHEMA,
            "policy": self.policy,
            "seed": self.seed,
            "control_hz": self.task.config.control_hz,
            "horizon": horizon,
            "control_steps": len(self.executed) - 1,
            "planned_steps": self.config.episode_steps,
            "success_step": self.success_step,
            "partial": self.interrupted,
            "error": self.error,
            "config": self.config.to_dict(),
            "summary": self.summary(),
            "executed": [[float(v) for v in p] for p in self.executed],
            "steps": self.metrics(),
        }


def _step_metrics(paths: np.ndarray, block: np.ndarray, bowl: np.ndarray, dt: float) -> dict[str, Any]:
    return {
        "spread_m": metrics.spread(paths),
        "jerk_m2_s6": metrics.jerk(paths, dt),
        "deviation_m": None,
        "overlap": 0,
        "end_to_block_m": metrics.end_distance(paths, block),
        "end_to_bowl_xy_m": metrics.end_distance(paths, bowl, horizontal=True),
    }


def _action_mappers(policy: Policy, task: PickPlaceTask) -> tuple[ToJoint | None, ToJoint | None]:
    """``(live, whisker)`` converters for end-effector policies (separate IK statistics), else ``None``s."""
    from salt_vla_so101.config import EE_ACTION_NAMES

    if tuple(policy.action_names) != EE_ACTION_NAMES:
        return None, None
    from salt_vla_so101.ee import EEActionConverter

    return EEActionConverter(task), EEActionConverter(task)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def make_task(policy: Policy, config: WhiskerConfig) -> PickPlaceTask:
    """The task for ``policy``: rendering exactly the cameras it reads.

    Raises:
        salt_vla_so101.compatibility.PolicyMismatchError: its actions or cameras do not fit the task.
    """
    from salt_vla_so101.compatibility import check_policy
    from salt_vla_so101.evaluator import task_config_for
    from salt_vla_so101.task import PickPlaceTask

    return PickPlaceTask(task_config_for(config.task, check_policy(policy)))


def run_whiskers(
    policy: Policy | str,
    seed: int,
    config: WhiskerConfig | None = None,
    *,
    task: PickPlaceTask | None = None,
    progress: bool = True,
    name: str | None = None,
    policy_kwargs: Mapping[str, Any] | None = None,
) -> WhiskerEpisode:
    """Roll ``policy`` out on episode ``seed`` and record a whisker bundle every ``config.every`` steps.

    Args:
        policy: a Policy, or a SPEC for ``salt_vla.create_policy`` (``"scripted"``, ``"act:<dir>"``...).
        seed: the episode seed (the same layout as the SO-101 evaluator's episode ``seed``).
        config: settings (default :class:`WhiskerConfig`).
        task: run on this task (default: one built from ``config.task`` for the policy's cameras).
        progress: show a progress bar.
        name: the policy's name in the outputs (default: the SPEC or the class name).
        policy_kwargs: ``create_policy`` options for a SPEC ``policy`` (``device``, ``camera_map``, ...).
    """
    from salt_vla_so101.outcomes import OutcomeThresholds, Trace
    from salt_vla_so101.rollout import record_step

    from salt_vla.seeding import seed_everything

    config = config or WhiskerConfig()
    if isinstance(policy, str):
        import salt_vla

        name = name or policy
        policy = salt_vla.create_policy(policy, **dict(policy_kwargs or {}))
    elif policy_kwargs:
        raise ValueError(f"policy_kwargs {sorted(policy_kwargs)} apply to a SPEC; this policy is already built "
                         f"({type(policy).__name__}). Pass them to create_policy instead.")
    name = name or type(policy).__name__
    if not callable(getattr(policy, "predict_chunk", None)):
        raise TypeError(
            f"Policy {name!r} has no predict_chunk(observation, num_samples=, seed=); whiskers draw the whole "
            "predicted chunk. Implement it (salt_vla.interfaces.Policy) or wrap the policy in an adapter that does."
        )
    task = task or make_task(policy, config)
    if config.render:
        from salt_vla_whiskers.camera import resolve_camera

        resolve_camera(task.model, config.camera)  # an unknown camera fails now, not after the episode
    live_to_joint, whisker_to_joint = _action_mappers(policy, task)
    simulator = ChunkSimulator(task, to_joint=whisker_to_joint)
    episode = WhiskerEpisode(name, int(seed), config, task)

    seed_everything(int(seed))
    observation = task.reset(int(seed))
    bind = getattr(policy, "bind", None)
    if callable(bind):
        bind(task)
    policy.reset()
    dt = 1.0 / task.config.control_hz
    executed = [task.ee_position()]
    thresholds = OutcomeThresholds()  # the evaluator's: the episode ends where an evaluation's would
    trace = Trace(task.config.bowl_inner_radius, task.config.bowl_height)
    record_step(task, trace)
    total = config.episode_steps
    state = np.empty(mujoco.mj_stateSize(task.model, STATE))
    for t in tqdm(range(total), desc=f"whiskers {name}", unit="step", disable=not progress, leave=False):
        try:
            if t % config.every == 0:
                chunk = np.asarray(policy.predict_chunk(observation, num_samples=config.samples,
                                                        seed=chunk_seed(seed, t)))
                if chunk.ndim == 3 and chunk.shape[0] != config.samples:
                    raise ValueError(f"predict_chunk(num_samples={config.samples}) returned {chunk.shape[0]} "
                                     f"samples (shape {chunk.shape})")
                paths = simulator.simulate(chunk)
                mujoco.mj_getState(task.model, task.data, state, STATE)
                block, bowl = task.block_position(), task.bowl_position()
                episode.steps.append(WhiskerStep(t, paths, state.copy(), block, bowl,
                                                  _step_metrics(paths, block, bowl, dt)))
            action = np.asarray(policy.act(observation), dtype=np.float64)
            joint = action if live_to_joint is None else live_to_joint(action, task.data)
            observation = task.step(joint)
        except Exception as exc:  # the policy's fault: keep what was recorded, say why it stopped
            episode.error = f"step {t}: {_describe(exc)}"
            break
        except KeyboardInterrupt:  # Ctrl-C: keep what was recorded; the caller writes it marked partial
            episode.error, episode.interrupted = f"step {t}: interrupted", True
            break
        executed.append(task.ee_position())
        record_step(task, trace)
        if not config.full_episode and trace.settled_success(thresholds):
            episode.success_step = t + 1
            break
    episode.executed = np.asarray(executed)
    for record in episode.steps:
        record.metrics["deviation_m"], record.metrics["overlap"] = metrics.deviation(
            record.paths, episode.executed[record.step:])
    return episode
