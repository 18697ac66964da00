"""Whisker metrics: spread, jerk, deviation and goal distances on hand-made and random paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from salt_vla_whiskers import metrics

coordinates = st.floats(-1.0, 1.0, allow_nan=False, width=64)
bundles = st.tuples(st.integers(1, 5), st.integers(1, 12)).flatmap(
    lambda kp: arrays(np.float64, (kp[0], kp[1], 3), elements=coordinates))


@settings(max_examples=60, deadline=None)
@given(bundles, arrays(np.float64, 3, elements=coordinates))
def test_spread_is_zero_for_identical_samples_and_ignores_translation(paths: np.ndarray, shift: np.ndarray) -> None:
    identical = np.repeat(paths[:1], 4, axis=0)
    assert metrics.spread(identical) == 0.0
    assert metrics.spread(paths + shift) == pytest.approx(metrics.spread(paths), abs=1e-9)
    assert metrics.spread(paths) >= 0.0


def test_spread_is_the_mean_pairwise_end_point_distance() -> None:
    ends = np.array([[0.0, 0, 0], [0.3, 0, 0], [0.0, 0.4, 0]])
    paths = np.stack([np.zeros((4, 3)), np.zeros((4, 3)), np.zeros((4, 3))])
    paths[:, -1] = ends
    assert metrics.spread(paths) == pytest.approx((0.3 + 0.4 + 0.5) / 3)
    assert metrics.spread(paths[:1]) == 0.0


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (3, 3), elements=st.floats(-2, 2, width=64)), st.integers(4, 30),
       st.floats(0.01, 0.2))
def test_jerk_is_zero_for_constant_acceleration_and_exact_for_cubics(coefficients, points: int, dt: float) -> None:
    t = np.arange(points)[:, None] * dt
    quadratic = coefficients[0] + coefficients[1] * t + coefficients[2] * t**2
    assert metrics.jerk(quadratic[None], dt) == pytest.approx(0.0, abs=1e-6 * (1 + np.abs(coefficients).max()) / dt**3)
    cubic_coefficient = np.array([0.5, -1.0, 2.0])
    cubic = quadratic + cubic_coefficient * t**3  # jerk = 6 * c, constant
    assert metrics.jerk(cubic[None], dt) == pytest.approx(36 * np.sum(cubic_coefficient**2), rel=1e-4)


def test_jerk_needs_four_points_and_a_positive_period() -> None:
    assert metrics.jerk(np.zeros((2, 3, 3)), 0.1) is None
    with pytest.raises(ValueError, match="positive control period"):
        metrics.jerk(np.zeros((1, 5, 3)), 0.0)


@settings(max_examples=60, deadline=None)
@given(bundles, st.integers(1, 15))
def test_deviation_is_zero_on_the_predicted_path_and_counts_the_overlap(paths: np.ndarray, executed_length: int) -> None:
    executed = np.concatenate([paths[0], np.repeat(paths[0, -1:], 20, axis=0)])[:executed_length]
    value, overlap = metrics.deviation(paths[:1], executed)
    assert overlap == min(paths.shape[1], executed_length) - 1
    if overlap == 0:
        assert value is None
    else:
        assert value == pytest.approx(0.0, abs=1e-12)
        shifted, _ = metrics.deviation(paths[:1] + np.array([0.0, 0.0, 0.01]), executed)
        assert shifted == pytest.approx(0.01)


def test_end_distances() -> None:
    paths = np.zeros((2, 3, 3))
    paths[0, -1] = [0.1, 0.0, 0.05]
    paths[1, -1] = [0.0, 0.1, 0.05]
    target = np.zeros(3)
    assert metrics.end_distance(paths, target) == pytest.approx(np.hypot(0.1, 0.05))
    assert metrics.end_distance(paths, target, horizontal=True) == pytest.approx(0.1)


def test_bad_bundles_and_summaries() -> None:
    with pytest.raises(ValueError, match=r"\[K, P, 3\].*\(5, 3\)"):
        metrics.spread(np.zeros((5, 3)))
    assert metrics.summarise([None, 1.0, 3.0]) == {"mean": 2.0, "median": 2.0, "max": 3.0}
    assert metrics.summarise([None]) == {"mean": None, "median": None, "max": None}
