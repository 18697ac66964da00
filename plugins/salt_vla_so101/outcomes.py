"""Classify a pick-and-place episode from the block's height and the gripper-block contacts over time.

The classifier sees only a :class:`Trace` (per-step arrays), so it is tested on constructed
trajectories and can be re-run on recorded ones. Rules, in order (thresholds in :class:`OutcomeThresholds`,
documented in docs/evaluation.md):

1. ``POLICY_ERROR`` is decided by the rollout (the policy raised or returned a bad action), not here.
2. ``SUCCESS``: at the last step the block is in the bowl (centre within ``bowl_inner_radius + goal_margin``
   of the bowl's axis, bottom below the rim) and no robot geometry touches it.
3. ``NEVER_PICKED_UP``: the block was never *lifted*: gripped by both finger pads with its bottom more
   than ``lift_height`` above the table.
4. ``TIMEOUT``: lifted at some point, and the robot still touches the block at the last step.
5. Otherwise it was lifted and then let go. At the last gripped step (the release), if the block was more
   than ``drop_height`` above the table and not over the bowl: ``DROPPED_DURING_TRANSPORT``; if it was
   low (set down beside the bowl) or over the bowl (then bounced or rolled out): ``MISSED_GOAL``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from salt_vla.evaluation import Outcome


@dataclass(frozen=True)
class OutcomeThresholds:
    """Thresholds of the outcome classifier and of the rollout's early stop / instability checks.

    Attributes:
        lift_height: metres of block-bottom height above the table, while gripped by both pads, that count
            as picked up.
        drop_height: a release higher than this (metres), away from the bowl, is a drop rather than a
            placement.
        goal_margin: metres added to the bowl's inner radius when deciding "in / over the bowl".
        settle_steps: control steps the success condition must hold (with the block slower than
            ``settle_speed`` m/s) before the rollout stops the episode early.
        settle_speed: m/s.
        unstable_speed: a block faster than this (m/s) is reported as a physics instability.
        tunnel_depth: a block centre this far (metres) below the table top while over the table has
            tunnelled through it: a physics instability.
    """

    lift_height: float = 0.02
    drop_height: float = 0.03
    goal_margin: float = 0.0
    settle_steps: int = 10
    settle_speed: float = 0.02
    unstable_speed: float = 10.0
    tunnel_depth: float = 0.005

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass
class Trace:
    """Per-step measurements of one episode (``T`` control steps; index 0 is right after reset).

    Attributes:
        height: ``[T]`` block-bottom height above the table top, metres.
        goal_distance: ``[T]`` horizontal distance from the block centre to the bowl's axis, metres.
        gripped: ``[T]`` both finger pads touch the block.
        touched: ``[T]`` any robot geometry (pads included) touches the block.
        speed: ``[T]`` block speed, m/s.
        bowl_inner_radius, bowl_height: the goal's geometry, metres.
    """

    bowl_inner_radius: float
    bowl_height: float
    height: list[float] = field(default_factory=list)
    goal_distance: list[float] = field(default_factory=list)
    gripped: list[bool] = field(default_factory=list)
    touched: list[bool] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)

    def append(self, height: float, goal_distance: float, gripped: bool, touched: bool, speed: float) -> None:
        self.height.append(float(height))
        self.goal_distance.append(float(goal_distance))
        self.gripped.append(bool(gripped))
        self.touched.append(bool(touched))
        self.speed.append(float(speed))

    def __len__(self) -> int:
        return len(self.height)

    def in_goal(self, index: int, thresholds: OutcomeThresholds) -> bool:
        """Block ``index`` rests inside the bowl: within the radius and below the rim."""
        return (self.goal_distance[index] <= self.bowl_inner_radius + thresholds.goal_margin
                and self.height[index] <= self.bowl_height)

    def over_goal(self, index: int, thresholds: OutcomeThresholds) -> bool:
        """Block ``index`` is above the bowl's opening (any height)."""
        return self.goal_distance[index] <= self.bowl_inner_radius + thresholds.goal_margin

    def max_height(self) -> float:
        return max(self.height, default=0.0)

    def lifted(self, thresholds: OutcomeThresholds) -> np.ndarray:
        """``[T]`` bool: gripped by both pads and higher than ``lift_height``."""
        return np.asarray(self.gripped) & (np.asarray(self.height) > thresholds.lift_height)

    def settled_success(self, thresholds: OutcomeThresholds) -> bool:
        """The success condition has held, with the block at rest, for the last ``settle_steps`` steps."""
        n = thresholds.settle_steps
        if len(self) < n:
            return False
        recent = range(len(self) - n, len(self))
        return all(self.in_goal(i, thresholds) and not self.touched[i] and self.speed[i] < thresholds.settle_speed
                   for i in recent)


def classify(trace: Trace, thresholds: OutcomeThresholds | None = None) -> tuple[Outcome, bool]:
    """The episode's :class:`Outcome` and whether the block was picked up (see the module docstring)."""
    thresholds = thresholds or OutcomeThresholds()
    if len(trace) == 0:
        raise ValueError("classify needs a trace with at least one step.")
    last = len(trace) - 1
    lifted = trace.lifted(thresholds)
    picked = bool(lifted.any())
    if trace.in_goal(last, thresholds) and not trace.touched[last]:
        return Outcome.SUCCESS, picked
    if not picked:
        return Outcome.NEVER_PICKED_UP, False
    if trace.touched[last]:
        return Outcome.TIMEOUT, True
    first_lift = int(np.argmax(lifted))
    release = max(i for i in range(first_lift, len(trace)) if trace.gripped[i])
    if trace.height[release] > thresholds.drop_height and not trace.over_goal(release, thresholds):
        return Outcome.DROPPED_DURING_TRANSPORT, True
    return Outcome.MISSED_GOAL, True
