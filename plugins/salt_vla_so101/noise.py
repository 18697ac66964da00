"""Noise on the actions an episode executes, not on the actions it records: DART's noise-injected demonstrations.

A scripted expert's demonstrations all follow its own plan, so a policy cloned from them never sees the states
it reaches once it drifts, nor what to do there. DART (Laskey et al., 2017, "DART: Noise Injection for Robust
Imitation Learning") lets the expert act while its executed actions are perturbed: the arm leaves the planned
path, and the dataset records, at each perturbed state, the expert's clean action, which leads back to the plan.

``ActionNoise(std=2.0, correlation=0.9)`` perturbs the five arm joints by a stationary AR(1) process of 2 degrees
standard deviation whose value persists for about ``1 / (1 - 0.9) = 10`` control steps (a third of a second at
30 Hz): a slow drift, like a learned policy's, rather than jitter that the position controller would filter out.
The gripper is left alone unless ``gripper_std`` says otherwise. The noise of an episode is a function of its seed
alone, so recordings are reproducible and a parallel recording equals the serial one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

ARM_JOINTS = 5
"""Joints before the gripper in an SO-101 joint action (``salt_vla.robot.SO101_ACTION_NAMES``)."""

_STREAM = 0x44415254
"""Mixed into each episode's seed (``"DART"``) so the noise is independent of everything else the seed drives."""


@dataclass(frozen=True)
class ActionNoise:
    """Gaussian noise added to executed joint actions (degrees; gripper in LeRobot's 0-100 units).

    Attributes:
        std: stationary standard deviation of each arm joint's noise, degrees (> 0).
        gripper_std: the gripper's, in gripper units (0: the grasp is not perturbed).
        correlation: AR(1) coefficient between consecutive steps' noise, in ``[0, 1)``: 0 is white noise; ``rho``
            keeps a perturbation for about ``1 / (1 - rho)`` steps. The stationary deviation is ``std`` either way.
    """

    std: float
    gripper_std: float = 0.0
    correlation: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.std) and self.std > 0):
            problems.append(f"std must be a positive number of degrees; got {self.std!r} (leave the noise out "
                            "for clean demonstrations)")
        if not (math.isfinite(self.gripper_std) and self.gripper_std >= 0):
            problems.append(f"gripper_std must be >= 0; got {self.gripper_std!r}")
        if not 0 <= self.correlation < 1:
            problems.append(f"correlation must be in [0, 1) (0: white noise, 0.9: a drift of ~10 steps); "
                            f"got {self.correlation!r}")
        if problems:
            raise ValueError("Invalid ActionNoise: " + "; ".join(problems) + ".")

    def process(self, seed: int, size: int) -> NoiseProcess:
        """The noise of episode ``seed`` for joint actions of ``size`` values (the last one the gripper)."""
        return NoiseProcess(self, seed, size)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class NoiseProcess:
    """One episode's noise: ``process(action)`` returns ``action`` plus the next value of the AR(1) process."""

    def __init__(self, noise: ActionNoise, seed: int, size: int) -> None:
        if size <= ARM_JOINTS:
            raise ValueError(f"ActionNoise perturbs {ARM_JOINTS} arm joints and a gripper; got actions of {size} values.")
        self.scale = np.full(size, noise.std)
        self.scale[ARM_JOINTS:] = noise.gripper_std
        self.rho = noise.correlation
        self.rng = np.random.default_rng([int(seed), _STREAM])
        self.value: np.ndarray | None = None

    def __call__(self, action: np.ndarray) -> np.ndarray:
        """``action [size]`` plus this step's noise ``[size]`` (float64)."""
        draw = self.rng.standard_normal(self.scale.shape) * self.scale
        if self.value is None:  # start from the stationary distribution: the first step is as noisy as the rest
            self.value = draw
        else:
            self.value = self.rho * self.value + math.sqrt(1 - self.rho**2) * draw
        return np.asarray(action, dtype=np.float64) + self.value


__all__ = ["ARM_JOINTS", "ActionNoise", "NoiseProcess"]
