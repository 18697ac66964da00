"""Schedules: exact warmup endpoints, the floor is never crossed, monotone where they should be."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

import salt_vla
from salt_vla.interfaces import Schedule
from salt_vla.schedules import CosineRamp, WarmupCosine


@given(
    peak=st.floats(1e-6, 1.0),
    floor_fraction=st.floats(0.0, 1.0),
    total=st.integers(1, 5000),
    warmup_fraction=st.floats(0.0, 1.0),
)
def test_warmup_cosine_invariants(peak, floor_fraction, total, warmup_fraction):
    warmup = int(total * warmup_fraction)
    floor = peak * floor_fraction
    schedule = WarmupCosine(peak=peak, total_steps=total, warmup_steps=warmup, min_value=floor)
    assert schedule(0) == (0.0 if warmup > 0 else pytest.approx(peak))
    assert schedule(warmup) == pytest.approx(peak)
    if warmup < total:
        assert schedule(total) == pytest.approx(floor)
    values = [schedule(s) for s in range(0, total + 3, max(1, total // 97))]
    assert all(v >= min(floor, 0.0) - 1e-12 for v in values)
    assert all(v <= peak * (1 + 1e-9) for v in values)
    after_warmup = [schedule(s) for s in range(warmup, total + 1, max(1, total // 50))]
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(after_warmup))  # non-increasing decay
    during_warmup = [schedule(s) for s in range(0, warmup + 1, max(1, warmup // 20 or 1))]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(during_warmup))
    assert schedule(total + 10_000) == schedule(total)  # holds after the end


@given(start=st.floats(0.0, 1.0), end=st.floats(0.0, 1.0), total=st.integers(1, 1000))
def test_cosine_ramp_endpoints_and_monotone(start, end, total):
    ramp = CosineRamp(start, end, total)
    assert ramp(0) == pytest.approx(start) and ramp(total) == pytest.approx(end)
    values = [ramp(s) for s in range(total + 1)]
    sign = 1 if end >= start else -1
    assert all(sign * (b - a) >= -1e-12 for a, b in itertools.pairwise(values))


def test_weight_decay_ramp_of_the_paper():
    wd = salt_vla.create_schedule("cosine", start=0.04, end=0.4, total_steps=100)
    assert wd(0) == pytest.approx(0.04) and wd(50) == pytest.approx(0.22) and wd(100) == pytest.approx(0.4)


@pytest.mark.parametrize("name", ["warmup_cosine", "cosine", "linear", "constant"])
def test_registered_schedules_satisfy_protocol(name):
    kwargs = {
        "warmup_cosine": {"peak": 1e-3, "total_steps": 10},
        "cosine": {"start": 0.0, "end": 1.0, "total_steps": 10},
        "linear": {"start": 0.0, "end": 1.0, "total_steps": 10},
        "constant": {"value": 0.5},
    }[name]
    assert isinstance(salt_vla.create_schedule(name, **kwargs), Schedule)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"peak": 1e-3, "total_steps": 10, "min_value": 1e-2}, "min_value"),
        ({"peak": 1e-3, "total_steps": 10, "warmup_steps": 11}, "warmup_steps"),
        ({"peak": 1e-3, "total_steps": 0}, "total_steps"),
    ],
)
def test_bad_schedule_arguments_name_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WarmupCosine(**kwargs)
