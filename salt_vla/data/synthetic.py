"""Synthetic physics videos, generated on the fly: bouncing balls that lose energy.

No download, deterministic from the seed, cheap enough for CPU tests and the quickstart, and
physically directional (see :mod:`salt_vla.data.physics`), so a time-arrow probe has something to
find. Labels for linear probes, per clip:

- ``num_balls``: balls in the video (``PhysicsConfig.num_balls`` range);
- ``direction``: 1 if the balls move right on average over the clip's frames, else 0 (mirrored
  with the view's flip);
- ``vertical``: mean vertical velocity of the balls over the clip's frames (box heights per second,
  positive up; a float: gravity makes falls long and fast, rises short and slowing);
- ``bounces``: floor impacts between the clip's first and last frame;
- ``speed``: mean ball speed over the clip's frames (box widths per second; a float, bin it to probe).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from salt_vla.data.base import FrameSource, Label, VideoDataset
from salt_vla.data.physics import PhysicsConfig, Trajectory, render, simulate
from salt_vla.data.seeding import VIDEO, derive_seed
from salt_vla.data.views import VideoInfo, ViewParams, ViewSampler, as_size

TRAJECTORY_MEMO = 4096
"""Trajectories each copy of a :class:`SyntheticPhysicsDataset` remembers (a few KB each)."""


class _Simulation:
    """A :class:`FrameSource` over one simulated video."""

    def __init__(self, trajectory: Trajectory, info: VideoInfo, noise: float, noise_seed: int) -> None:
        self.trajectory, self.info, self.noise, self.noise_seed = trajectory, info, noise, noise_seed

    def read(self, indices: list[int]) -> np.ndarray:
        return render(self.trajectory, indices, self.info.height, self.info.width, noise=self.noise,
                      noise_seed=self.noise_seed)


class SyntheticPhysicsDataset(VideoDataset):
    """Bouncing-ball videos generated from ``seed``; video ``i`` is the same on every machine.

    Args:
        num_videos: dataset size.
        frames: clip length ``T``.
        size: clip ``(H, W)``; also the rendering size unless ``source_size`` is given.
        seed: root seed of the videos and the views (>= 0).
        stride: source frames between clip frames.
        video_frames: length of each source video; clips start at random inside it.
        fps: source frame rate (physics time per frame is ``1 / fps``).
        source_size: rendering ``(H, W)`` when it should differ from ``size`` (crops then resize).
        physics: world parameter ranges.
        noise: standard deviation of per-pixel sensor noise (0-255 units); 0 renders clean frames.
            Encoded noisy videos cost a realistic number of bits per frame, as camera footage does.
        scale, ratio, flip, temporal: view sampling (see :class:`~salt_vla.data.views.ViewSampler`);
            the default keeps the whole frame.
    """

    kind = "synthetic_physics"

    def __init__(
        self,
        num_videos: int = 256,
        frames: int = 16,
        size: tuple[int, int] | int = (64, 64),
        seed: int = 0,
        *,
        stride: int = 2,
        video_frames: int = 48,
        fps: float = 16.0,
        source_size: tuple[int, int] | int | None = None,
        physics: PhysicsConfig | dict[str, Any] | None = None,
        noise: float = 0.0,
        scale: tuple[float, float] = (1.0, 1.0),
        ratio: tuple[float, float] | None = None,
        flip: bool = False,
        temporal: str = "random",
        max_failure_fraction: float = 0.5,
    ) -> None:
        sampler = ViewSampler(frames=frames, stride=stride, size=size, scale=scale, ratio=ratio, flip=flip,
                              temporal=temporal)
        super().__init__(sampler, seed=seed, max_failure_fraction=max_failure_fraction)
        if num_videos < 1 or video_frames < 1 or fps <= 0:
            raise ValueError(
                f"SyntheticPhysicsDataset needs num_videos >= 1, video_frames >= 1 and fps > 0; got "
                f"num_videos={num_videos}, video_frames={video_frames}, fps={fps}."
            )
        self.num_videos = int(num_videos)
        self.video_frames = int(video_frames)
        self.fps = float(fps)
        source = sampler.size if source_size is None else as_size(source_size, "source_size")
        self.source_size: tuple[int, int] = source
        self.physics = physics if isinstance(physics, PhysicsConfig) else PhysicsConfig(**(physics or {}))
        if noise < 0:
            raise ValueError(f"SyntheticPhysicsDataset: noise must be >= 0; got {noise}.")
        self.noise = float(noise)
        self._info = VideoInfo(self.video_frames, source[0], source[1], self.fps)

    def __len__(self) -> int:
        return self.num_videos

    def trajectory(self, index: int) -> Trajectory:
        """The simulated motion of video ``index`` (read-only arrays).

        Simulating is about a third of making a clip, and a training run asks for each video once per epoch: each copy
        of the dataset (one per loader worker, kept across epochs) remembers its last :data:`TRAJECTORY_MEMO`
        trajectories. A trajectory depends only on the seed and the index, so remembering it changes no clip.
        """
        self._check_index(index)
        memo = self.__dict__.setdefault("_trajectories", OrderedDict())
        if index in memo:
            memo.move_to_end(index)
            return memo[index]
        rng = np.random.default_rng(derive_seed(VIDEO, self.seed, index))
        trajectory = simulate(rng, self.physics, self.video_frames, self.fps)
        for array in (trajectory.position, trajectory.velocity, trajectory.bounces, trajectory.radius, trajectory.color):
            array.setflags(write=False)
        memo[index] = trajectory
        if len(memo) > TRAJECTORY_MEMO:
            memo.popitem(last=False)
        return trajectory

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (for spawned workers) without the remembered trajectories: each copy fills its own."""
        return {key: value for key, value in self.__dict__.items() if key != "_trajectories"}

    @contextmanager
    def open_source(self, index: int) -> Iterator[FrameSource]:
        yield _Simulation(self.trajectory(index), self._info, self.noise, derive_seed(VIDEO, self.seed, index, 1))

    def list_hash(self) -> str:
        spec = {"seed": self.seed, "num_videos": self.num_videos, "video_frames": self.video_frames,
                "fps": self.fps, "source_size": list(self.source_size), "physics": self.physics.to_dict(),
                "noise": self.noise}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def label(self, view: ViewParams, source: FrameSource | None = None) -> Label:
        trajectory = source.trajectory if isinstance(source, _Simulation) else self.trajectory(view.video_index)
        return clip_labels(trajectory, view)


def clip_labels(trajectory: Trajectory, view: ViewParams) -> Label:
    """Probe labels of ``view``'s frames of ``trajectory`` (see the module docstring)."""
    last = trajectory.position.shape[0] - 1
    frames = [min(i, last) for i in view.frame_indices()]
    velocity = trajectory.velocity[frames]  # [T, B, 2]
    direction = int(velocity[..., 0].mean() > 0)
    return {
        "num_balls": trajectory.num_balls,
        "direction": 1 - direction if view.flip else direction,
        "vertical": float(velocity[..., 1].mean()),
        "bounces": int(trajectory.bounces[frames[0] + 1 : frames[-1] + 1].sum()),
        "speed": float(np.linalg.norm(velocity, axis=-1).mean()),
    }
