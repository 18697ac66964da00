"""Bouncing balls for the synthetic physics videos: a tiny simulator and a renderer (pure NumPy).

The world is the unit square (``x`` right, ``y`` up). Balls fall under gravity, bounce off the floor
and walls with restitution below one, and slow down by rolling friction on the floor and a little air
drag. Energy only ever leaves the system, so bounces get lower and balls slow down: played backwards
the video is visibly wrong (balls bounce higher each time, speed up out of nothing), which is what a
time-arrow probe tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

PALETTE = np.array(
    [[230, 80, 60], [60, 170, 230], [250, 200, 50], [120, 210, 100], [200, 110, 220], [245, 245, 245]],
    dtype=np.float32,
)
"""Ball colours (RGB); each video uses distinct ones."""

SUBSTEPS = 8


@dataclass(frozen=True)
class PhysicsConfig:
    """Ranges the simulator draws each video's world from (``(low, high)`` pairs are uniform).

    Units: the box is 1 x 1, time in seconds.
    """

    num_balls: tuple[int, int] = (1, 3)
    radius: tuple[float, float] = (0.05, 0.09)
    gravity: float = 3.0
    restitution: tuple[float, float] = (0.55, 0.8)
    rolling_friction: float = 0.25
    """Deceleration of a ball rolling on the floor, as a fraction of gravity."""
    air_drag: float = 0.05
    """Fraction of velocity lost per second in flight."""
    speed: tuple[float, float] = (0.25, 0.8)
    """Initial horizontal speed; the direction (left/right) is a coin flip per ball."""

    def __post_init__(self) -> None:
        for name in ("num_balls", "radius", "restitution", "speed"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"PhysicsConfig.{name} must be (low, high) with low <= high; got {(low, high)}.")
        if not 1 <= self.num_balls[0] <= self.num_balls[1] <= len(PALETTE):
            raise ValueError(f"PhysicsConfig.num_balls must lie in [1, {len(PALETTE)}]; got {self.num_balls}.")
        if not 0.0 < self.restitution[0] <= self.restitution[1] < 1.0:
            raise ValueError(f"PhysicsConfig.restitution must lie in (0, 1) (inelastic); got {self.restitution}.")
        if not 0.0 < self.radius[0] <= self.radius[1] < 0.25:
            raise ValueError(f"PhysicsConfig.radius must lie in (0, 0.25); got {self.radius}.")
        if self.gravity <= 0 or self.rolling_friction < 0 or self.air_drag < 0:
            raise ValueError("PhysicsConfig: gravity must be > 0, rolling_friction and air_drag >= 0.")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Trajectory:
    """One simulated video. ``F`` frames, ``B`` balls.

    Attributes:
        position: ``[F, B, 2]`` ball centres ``(x, y)`` at each frame.
        velocity: ``[F, B, 2]`` at each frame.
        bounces: ``[F, B]`` floor impacts between frame ``f - 1`` and frame ``f``.
        radius: ``[B]``.
        color: ``[B, 3]`` RGB.
    """

    position: np.ndarray
    velocity: np.ndarray
    bounces: np.ndarray
    radius: np.ndarray
    color: np.ndarray

    @property
    def num_balls(self) -> int:
        return int(self.radius.shape[0])


def simulate(rng: np.random.Generator, config: PhysicsConfig, num_frames: int, fps: float) -> Trajectory:
    """Simulate ``num_frames`` frames at ``fps`` with ``SUBSTEPS`` Euler steps per frame.

    Balls do not collide with each other, so each one is integrated on its own (plain floats: for a
    handful of balls that is several times faster than NumPy's per-call overhead).
    """
    balls = int(rng.integers(config.num_balls[0], config.num_balls[1] + 1))
    radius = rng.uniform(*config.radius, size=balls)
    restitution = float(rng.uniform(*config.restitution))
    start = np.stack([rng.uniform(radius, 1 - radius), rng.uniform(0.45, 1 - radius)], axis=1)
    start_vel = np.stack([rng.uniform(*config.speed, size=balls) * rng.choice([-1.0, 1.0], size=balls),
                          rng.uniform(-0.5, 0.5, size=balls)], axis=1)
    color = PALETTE[rng.permutation(len(PALETTE))[:balls]]
    positions = np.empty((num_frames, balls, 2))
    velocities = np.empty((num_frames, balls, 2))
    bounces = np.zeros((num_frames, balls), dtype=np.int64)
    for ball in range(balls):
        _integrate(ball, start[ball], start_vel[ball], float(radius[ball]), restitution, config,
                   1.0 / (fps * SUBSTEPS), positions, velocities, bounces)
    return Trajectory(positions, velocities, bounces, radius, color)


def _integrate(ball: int, pos: np.ndarray, vel: np.ndarray, r: float, restitution: float, config: PhysicsConfig,
               dt: float, positions: np.ndarray, velocities: np.ndarray, bounces: np.ndarray) -> None:
    """Semi-implicit Euler for one ball, writing its state at every frame into the output arrays."""
    x, y = float(pos[0]), float(pos[1])
    vx, vy = float(vel[0]), float(vel[1])
    drag = 1.0 - config.air_drag * dt
    slow = config.rolling_friction * config.gravity * dt
    for frame in range(positions.shape[0]):
        for _ in range(SUBSTEPS if frame else 0):
            resting = y <= r + 1e-9 and vy == 0.0
            if resting:  # rolling: friction slows it, gravity is balanced by the floor
                vx = max(abs(vx) - slow, 0.0) * (1.0 if vx >= 0 else -1.0)
            else:
                vy -= config.gravity * dt
            vx, vy = vx * drag, vy * drag
            x, y = x + vx * dt, y + vy * dt
            if y < r:  # floor: bounce with restitution, or come to rest when too slow to leave it
                y = r
                if -vy > 0.05:
                    vy = -restitution * vy
                    vx *= 0.9  # a little tangential loss per impact
                    bounces[frame, ball] += 1
                else:
                    vy = 0.0
            if y > 1 - r:
                y, vy = 1 - r, -restitution * abs(vy)
            if x < r:
                x, vx = r, restitution * abs(vx)
            elif x > 1 - r:
                x, vx = 1 - r, -restitution * abs(vx)
        positions[frame, ball] = (x, y)
        velocities[frame, ball] = (vx, vy)


def render(trajectory: Trajectory, frames: list[int], height: int, width: int, *, noise: float = 0.0,
           noise_seed: int = 0) -> np.ndarray:
    """Draw ``frames`` of ``trajectory`` as ``[T, H, W, 3]`` uint8: anti-aliased discs on a gradient.

    ``noise`` adds Gaussian sensor noise of that standard deviation (in 0-255 units), drawn per frame
    from ``(noise_seed, frame)`` so any subset of frames renders identically.
    """
    shade = np.linspace(40, 90, height, dtype=np.float32)[:, None, None]
    background = np.broadcast_to(shade * np.array([0.5, 0.6, 1.0], dtype=np.float32), (height, width, 3))
    scale = min(height, width)
    out = np.empty((len(frames), height, width, 3), dtype=np.uint8)
    for t, frame in enumerate(frames):
        image = background.copy()
        for ball in range(trajectory.num_balls):
            x, y = trajectory.position[frame, ball]
            cy, cx, r = (1.0 - y) * height, x * width, trajectory.radius[ball] * scale
            # Only the disc's bounding box can change.
            top, bottom = max(int(cy - r - 1), 0), min(int(cy + r + 2), height)
            left, right = max(int(cx - r - 1), 0), min(int(cx + r + 2), width)
            rows = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5
            cols = np.arange(left, right, dtype=np.float32)[None, :] + 0.5
            alpha = np.clip(r + 0.5 - np.sqrt((rows - cy) ** 2 + (cols - cx) ** 2), 0.0, 1.0)[..., None]
            patch = image[top:bottom, left:right]
            image[top:bottom, left:right] = patch * (1.0 - alpha) + trajectory.color[ball] * alpha
        if noise > 0:
            image = image + np.random.default_rng([noise_seed, frame]).normal(0.0, noise, image.shape)
        out[t] = np.rint(np.clip(image, 0, 255)).astype(np.uint8)
    return out
