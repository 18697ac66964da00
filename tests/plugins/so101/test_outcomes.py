"""The outcome classifier on constructed block trajectories (no simulation)."""

from __future__ import annotations

import pytest
from salt_vla_so101.outcomes import OutcomeThresholds, Trace, classify

from salt_vla.evaluation import Outcome

RADIUS, RIM = 0.05, 0.03
FAR = 0.15  # block's distance from the bowl's axis at the start


def trajectory(*segments: tuple[int, float, float, bool, bool]) -> Trace:
    """Concatenate segments ``(steps, height, goal_distance, gripped, touched)``, interpolating the
    height and distance linearly from the previous segment's end to this segment's values."""
    trace = Trace(RADIUS, RIM)
    height, distance = 0.0, FAR
    for steps, end_height, end_distance, gripped, touched in segments:
        for i in range(1, steps + 1):
            f = i / steps
            trace.append(height + f * (end_height - height), distance + f * (end_distance - distance), gripped,
                         touched, 0.0)
        height, distance = end_height, end_distance
    return trace


def test_success_place_in_bowl_and_let_go() -> None:
    trace = trajectory(
        (30, 0.0, FAR, False, False),  # approach
        (10, 0.0, FAR, True, True),  # grasp
        (20, 0.08, FAR, True, True),  # lift
        (30, 0.08, 0.0, True, True),  # transport
        (15, 0.03, 0.0, True, True),  # lower
        (10, 0.004, 0.0, False, False),  # release: falls onto the bowl floor
    )
    assert classify(trace) == (Outcome.SUCCESS, True)
    assert trace.settled_success(OutcomeThresholds())
    assert trace.max_height() == pytest.approx(0.08)


def test_lift_and_drop_is_dropped_during_transport() -> None:
    trace = trajectory(
        (10, 0.0, FAR, True, True),
        (20, 0.08, FAR, True, True),
        (10, 0.08, 0.10, True, True),  # carried half way
        (8, 0.0, 0.10, False, False),  # slips out and falls to the table
        (30, 0.0, 0.10, False, False),
    )
    assert classify(trace) == (Outcome.DROPPED_DURING_TRANSPORT, True)


def test_never_lifted_is_never_picked_up() -> None:
    pushed = trajectory((40, 0.0, FAR, False, True), (40, 0.0, 0.09, True, True), (20, 0.0, 0.09, False, False))
    assert classify(pushed) == (Outcome.NEVER_PICKED_UP, False)
    hover = trajectory((10, 0.015, FAR, True, True), (10, 0.0, FAR, False, False))  # below lift_height
    assert classify(hover) == (Outcome.NEVER_PICKED_UP, False)
    lifted_by_one_pad = trajectory((10, 0.05, FAR, False, True), (10, 0.0, FAR, False, False))
    assert classify(lifted_by_one_pad)[0] is Outcome.NEVER_PICKED_UP


def test_place_beside_bowl_is_missed_goal() -> None:
    trace = trajectory(
        (10, 0.0, FAR, True, True),
        (20, 0.08, FAR, True, True),
        (20, 0.08, 0.08, True, True),  # stops 8 cm from the bowl's axis (outside its 5 cm radius)
        (15, 0.0, 0.08, True, True),  # sets it down on the table
        (10, 0.0, 0.08, False, False),
    )
    assert classify(trace) == (Outcome.MISSED_GOAL, True)


def test_released_over_the_bowl_but_bounced_out_is_missed_goal() -> None:
    trace = trajectory(
        (10, 0.0, FAR, True, True),
        (20, 0.08, 0.0, True, True),
        (5, 0.08, 0.0, False, False),  # let go high above the bowl
        (10, 0.0, 0.07, False, False),  # and it bounced out
    )
    assert classify(trace) == (Outcome.MISSED_GOAL, True)


def test_still_holding_at_the_end_is_timeout() -> None:
    trace = trajectory((10, 0.0, FAR, True, True), (20, 0.08, FAR, True, True), (300, 0.08, 0.02, True, True))
    assert classify(trace) == (Outcome.TIMEOUT, True)
    in_bowl_but_held = trajectory((10, 0.0, FAR, True, True), (20, 0.05, 0.0, True, True), (5, 0.004, 0.0, True, True))
    assert classify(in_bowl_but_held)[0] is Outcome.TIMEOUT


def test_thresholds_move_the_boundaries() -> None:
    trace = trajectory((10, 0.0, FAR, True, True), (10, 0.025, FAR, True, True), (10, 0.0, FAR, False, False))
    assert classify(trace)[0] is Outcome.MISSED_GOAL  # lifted 2.5 cm, set down low
    assert classify(trace, OutcomeThresholds(lift_height=0.03))[0] is Outcome.NEVER_PICKED_UP
    near = trajectory((10, 0.0, 0.055, False, False))
    assert classify(near)[0] is Outcome.NEVER_PICKED_UP
    assert classify(near, OutcomeThresholds(goal_margin=0.01))[0] is Outcome.SUCCESS


def test_settling_needs_rest_and_enough_steps() -> None:
    thresholds = OutcomeThresholds(settle_steps=5, settle_speed=0.02)
    trace = trajectory((4, 0.004, 0.0, False, False))
    assert not trace.settled_success(thresholds)
    trace.append(0.004, 0.0, False, False, 0.5)  # still sliding
    assert not trace.settled_success(thresholds)
    for _ in range(5):
        trace.append(0.004, 0.0, False, False, 0.0)
    assert trace.settled_success(thresholds)
    with pytest.raises(ValueError, match="at least one step"):
        classify(Trace(RADIUS, RIM))
