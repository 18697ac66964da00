"""Per-step schedules for learning rate, weight decay and anything else stepped in training.

Every schedule is a small frozen dataclass with ``__call__(step) -> float``; steps are 0-based
optimizer steps. Past ``total_steps`` a schedule holds its final value, so a resumed or extended
run never falls off a cliff.

The seed runs plateaued because cosine decay ran the learning rate to zero: :class:`WarmupCosine`
has an explicit floor (``min_value``) and refuses a floor above the peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class Constant:
    """``value`` at every step."""

    value: float

    def __call__(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class Linear:
    """Straight line from ``start`` (step 0) to ``end`` (step ``total_steps``), then ``end``."""

    start: float
    end: float
    total_steps: int

    def __post_init__(self) -> None:
        _check(self.total_steps > 0, f"Linear: total_steps must be > 0; got {self.total_steps}.")

    def __call__(self, step: int) -> float:
        progress = min(max(step, 0), self.total_steps) / self.total_steps
        return self.start + (self.end - self.start) * progress


@dataclass(frozen=True)
class CosineRamp:
    """Half-cosine from ``start`` (step 0) to ``end`` (step ``total_steps``), then ``end``.

    Works in both directions; V-JEPA and SALT ramp weight decay up, 0.04 -> 0.4.
    """

    start: float
    end: float
    total_steps: int

    def __post_init__(self) -> None:
        _check(self.total_steps > 0, f"CosineRamp: total_steps must be > 0; got {self.total_steps}.")

    def __call__(self, step: int) -> float:
        progress = min(max(step, 0), self.total_steps) / self.total_steps
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class WarmupCosine:
    """Linear warmup from ``start_value`` to ``peak``, then cosine decay to the floor ``min_value``.

    ``value(0) == start_value``, ``value(warmup_steps) == peak``, ``value(total_steps) == min_value``,
    and the value never goes below ``min(start_value, min_value)``. With ``warmup_steps ==
    total_steps`` there is no decay phase and the value holds at ``peak``.
    """

    peak: float
    total_steps: int
    warmup_steps: int = 0
    min_value: float = 0.0
    start_value: float = 0.0

    def __post_init__(self) -> None:
        _check(self.total_steps > 0, f"WarmupCosine: total_steps must be > 0; got {self.total_steps}.")
        _check(
            0 <= self.warmup_steps <= self.total_steps,
            f"WarmupCosine: warmup_steps must be in [0, total_steps={self.total_steps}]; got {self.warmup_steps}. "
            "Use a warmup of 1-5% of the run.",
        )
        _check(
            0.0 <= self.min_value <= self.peak,
            f"WarmupCosine: min_value must be in [0, peak={self.peak}]; got {self.min_value}. "
            "A common floor is peak / 10.",
        )
        _check(self.start_value >= 0.0, f"WarmupCosine: start_value must be >= 0; got {self.start_value}.")

    def __call__(self, step: int) -> float:
        step = max(step, 0)
        if step < self.warmup_steps:
            return self.start_value + (self.peak - self.start_value) * step / self.warmup_steps
        decay_steps = self.total_steps - self.warmup_steps
        if decay_steps == 0:  # all warmup, no decay
            return self.peak
        progress = min(step - self.warmup_steps, decay_steps) / decay_steps
        return self.min_value + (self.peak - self.min_value) * 0.5 * (1.0 + math.cos(math.pi * progress))
