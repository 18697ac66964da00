"""Settings of a whisker run: what to predict, how often, how long, and how to draw it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from salt_vla_so101.config import TaskConfig

from salt_vla_whiskers.draw import WhiskerStyle


@dataclass(frozen=True)
class WhiskerConfig:
    """Everything a whisker run needs besides the policy and the seed.

    Attributes:
        samples: ``K`` chunks sampled per prediction (flow-matching policies differ per sample; a
            deterministic policy gives ``K`` identical whiskers).
        every: predict (and draw a frame) every ``every`` control steps.
        steps: control steps of the episode at most (``None``: the task's ``max_steps``).
        full_episode: run all ``steps`` even after the episode has succeeded (``False``: stop once success has
            settled, as the evaluator does, so the metrics do not average a robot resting over the bowl).
        camera: camera of the frames: ``perspective`` (preset) or a task camera (``overhead_cam``, ``wrist_cam``).
        size: ``(H, W)`` of the frames (independent of the policy's camera images, ``task.image_size``).
        ghosts: how many earlier predictions stay drawn as fading blue ghosts.
        render: draw frames (``False``: whiskers and metrics only, no OpenGL needed).
        fps: frame rate of the MP4 (``None``: real time, ``control_hz / every``).
        style: colours and sizes.
        task: the SO-101 task; its cameras and rendering follow what the policy reads.
    """

    samples: int = 1
    every: int = 1
    steps: int | None = None
    full_episode: bool = False
    camera: str = "perspective"
    size: tuple[int, int] = (240, 320)
    ghosts: int = 8
    render: bool = True
    fps: float | None = None
    style: WhiskerStyle = field(default_factory=WhiskerStyle)
    task: TaskConfig = field(default_factory=TaskConfig)

    def __post_init__(self) -> None:
        problems = []
        for name in ("samples", "every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be an int >= 1; got {value!r}")
        if self.steps is not None and (not isinstance(self.steps, int) or self.steps < 1):
            problems.append(f"steps must be an int >= 1 or None (the task's max_steps); got {self.steps!r}")
        if not isinstance(self.ghosts, int) or self.ghosts < 0:
            problems.append(f"ghosts must be an int >= 0; got {self.ghosts!r}")
        if len(self.size) != 2 or min(self.size) < 8:
            problems.append(f"size must be (H, W) with both >= 8; got {self.size!r}")
        if self.fps is not None and self.fps <= 0:
            problems.append(f"fps must be > 0 or None; got {self.fps!r}")
        if problems:
            raise ValueError("Invalid WhiskerConfig: " + "; ".join(problems) + ".")

    @property
    def episode_steps(self) -> int:
        """Control steps the episode runs at most (fewer if success settles first, unless full_episode)."""
        return self.steps if self.steps is not None else self.task.max_steps

    @property
    def frame_rate(self) -> float:
        """MP4 frames per second."""
        return self.fps if self.fps is not None else self.task.control_hz / self.every

    def with_options(self, **options: Any) -> WhiskerConfig:
        """A copy with fields replaced; unknown names raise ``TypeError`` listing the valid ones."""
        valid = {f.name for f in fields(self)}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise TypeError(f"Unknown whisker option(s) {unknown}; valid options: {sorted(valid)}.")
        return replace(self, **options) if options else self

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (the task as :meth:`TaskConfig.to_dict`)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("style", "task")}
        out["size"] = list(self.size)
        out["style"] = asdict(self.style)
        out["task"] = self.task.to_dict()
        return out
