"""Views: which frames of a video, which crop, which flip, at what output size.

A :class:`ViewParams` records everything needed to cut one clip out of one video, so the clip can be
reproduced exactly later (the latent cache stores one per entry; cached training decodes that very
view for the student). A :class:`ViewSampler` draws views; :func:`apply_view` turns decoded frames
into the clip.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from salt_vla.data.seeding import randint, uniform

TEMPORAL_MODES = ("random", "center", "start")


@dataclass(frozen=True)
class VideoInfo:
    """What a view sampler needs to know about a source video.

    ``num_frames`` may be an estimate for containers that do not store a frame count (WebM); frames
    past the real end repeat the last decoded frame.
    """

    num_frames: int
    height: int
    width: int
    fps: float


@dataclass(frozen=True)
class ViewParams:
    """One clip of one video, reproducible.

    Attributes:
        video_index: the video's index in its dataset.
        view_index: which of the views drawn for that video (0 unless several are cached).
        start: first source frame.
        stride: source frames between consecutive clip frames.
        frames: clip length ``T``; the source frames are ``start + k * stride`` (clamped to the last frame).
        crop: ``(top, left, height, width)`` in source pixels.
        flip: mirrored left-right after cropping.
        size: output ``(H, W)`` in pixels.
    """

    video_index: int
    view_index: int
    start: int
    stride: int
    frames: int
    crop: tuple[int, int, int, int]
    flip: bool
    size: tuple[int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop", tuple(int(v) for v in self.crop))
        object.__setattr__(self, "size", tuple(int(v) for v in self.size))
        object.__setattr__(self, "flip", bool(self.flip))
        problems = []
        if self.video_index < 0 or self.view_index < 0 or self.start < 0:
            problems.append("video_index, view_index and start must be >= 0")
        if self.stride < 1 or self.frames < 1:
            problems.append("stride and frames must be >= 1")
        if len(self.crop) != 4 or self.crop[0] < 0 or self.crop[1] < 0 or min(self.crop[2:]) < 1:
            problems.append("crop must be (top >= 0, left >= 0, height >= 1, width >= 1)")
        if len(self.size) != 2 or min(self.size) < 1:
            problems.append("size must be (H >= 1, W >= 1)")
        if problems:
            raise ValueError(f"Invalid ViewParams {self}: {'; '.join(problems)}.")

    def frame_indices(self) -> list[int]:
        """Source frame numbers ``start + k * stride`` for ``k < frames`` (before clamping)."""
        return [self.start + k * self.stride for k in range(self.frames)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists."""
        out = asdict(self)
        out["crop"] = list(self.crop)
        out["size"] = list(self.size)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ViewParams:
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        unknown = [k for k in data if k not in names]
        if missing or unknown:
            raise ValueError(
                f"ViewParams.from_dict: missing {missing}, unknown {unknown}; expected exactly the keys {names}."
            )
        return cls(**{n: data[n] for n in names})


VIEW_COLUMNS: tuple[str, ...] = (
    "video_index", "view_index", "start", "stride", "frames",
    "crop_top", "crop_left", "crop_height", "crop_width", "flip", "height", "width",
)
"""Column order of :func:`views_to_array` (one int64 row per view)."""


def views_to_array(views: Sequence[ViewParams]) -> np.ndarray:
    """``[E, 12]`` int64 rows in :data:`VIEW_COLUMNS` order: compact storage for many views."""
    rows = [(v.video_index, v.view_index, v.start, v.stride, v.frames, *v.crop, int(v.flip), *v.size) for v in views]
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), len(VIEW_COLUMNS))


def view_from_row(row: Sequence[int]) -> ViewParams:
    """Inverse of one row of :func:`views_to_array`."""
    v = [int(x) for x in row]
    return ViewParams(v[0], v[1], v[2], v[3], v[4], (v[5], v[6], v[7], v[8]), bool(v[9]), (v[10], v[11]))


def as_size(value: Sequence[int] | int, name: str = "size") -> tuple[int, int]:
    """``(H, W)`` from an int (square) or a pair; raises ``ValueError`` naming ``name`` otherwise."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, (int, np.integer)) or v < 1 for v in pair):
        raise ValueError(f"{name} must be (H, W) of positive ints, or one int; got {value!r}.")
    return (int(pair[0]), int(pair[1]))


def _pair(value: Sequence[float] | float, name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        value = (value, value)
    pair = tuple(float(v) for v in value)
    if len(pair) != 2 or pair[0] > pair[1]:
        raise ValueError(f"ViewSampler.{name} must be (low, high) with low <= high; got {value!r}.")
    return pair  # type: ignore[return-value]


@dataclass(frozen=True)
class ViewSampler:
    """Draws :class:`ViewParams` for a video.

    Attributes:
        frames: clip length ``T``.
        stride: source frames between clip frames.
        size: output ``(H, W)``.
        scale: crop area as a fraction of the frame, ``(low, high)``; ``(1, 1)`` keeps the whole frame.
        ratio: crop width/height in source pixels, ``(low, high)``; ``None`` keeps the source's aspect.
        flip: mirror half of the views left-right. Off by default: it inverts direction labels and the
            meaning of "left to right" classes (Something-Something-v2).
        temporal: where the clip starts: ``"random"``, ``"center"`` or ``"start"`` of the video.
    """

    frames: int = 16
    stride: int = 4
    size: tuple[int, int] = (224, 224)
    scale: tuple[float, float] = (0.3, 1.0)
    ratio: tuple[float, float] | None = (0.75, 1.35)
    flip: bool = False
    temporal: str = "random"

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", as_size(self.size, "ViewSampler.size"))
        object.__setattr__(self, "scale", _pair(self.scale, "scale"))
        if self.ratio is not None:
            object.__setattr__(self, "ratio", _pair(self.ratio, "ratio"))
        if self.frames < 1 or self.stride < 1:
            raise ValueError(f"ViewSampler: frames and stride must be >= 1; got frames={self.frames}, stride={self.stride}.")
        if not 0.0 < self.scale[0] <= self.scale[1] <= 1.0:
            raise ValueError(f"ViewSampler.scale must lie in (0, 1]; got {self.scale}.")
        if self.ratio is not None and self.ratio[0] <= 0:
            raise ValueError(f"ViewSampler.ratio must be positive; got {self.ratio}.")
        if self.temporal not in TEMPORAL_MODES:
            raise ValueError(f"ViewSampler.temporal must be one of {TEMPORAL_MODES}; got {self.temporal!r}.")

    @property
    def span(self) -> int:
        """Source frames one clip covers, first to last inclusive."""
        return (self.frames - 1) * self.stride + 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("size", "scale", "ratio"):
            out[key] = None if out[key] is None else list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ViewSampler:
        return cls(**dict(data))

    def sample(self, video_index: int, view_index: int, info: VideoInfo, generator: torch.Generator) -> ViewParams:
        """Draw a view of a video described by ``info``; deterministic given ``generator``'s state."""
        extra = info.num_frames - self.span
        if extra <= 0 or self.temporal == "start":
            start = 0
        elif self.temporal == "center":
            start = extra // 2
        else:
            start = randint(generator, 0, extra)
        crop = self._crop(info.height, info.width, generator)
        flip = self.flip and bool(torch.rand((), generator=generator) < 0.5)
        return ViewParams(video_index, view_index, start, self.stride, self.frames, crop, flip, self.size)

    def _crop(self, height: int, width: int, generator: torch.Generator) -> tuple[int, int, int, int]:
        ratio = self.ratio or (width / height, width / height)
        if self.scale == (1.0, 1.0) and self.ratio is None:
            return (0, 0, height, width)
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            area = height * width * uniform(generator, *self.scale)
            aspect = math.exp(uniform(generator, *log_ratio))
            w = round(math.sqrt(area * aspect))
            h = round(math.sqrt(area / aspect))
            if 0 < w <= width and 0 < h <= height:
                return (randint(generator, 0, height - h), randint(generator, 0, width - w), h, w)
        # No fit in 10 tries (extreme aspect): the largest centred crop with the nearest allowed aspect.
        aspect = min(max(width / height, ratio[0]), ratio[1])
        w, h = (width, max(1, round(width / aspect))) if width / height < aspect else (max(1, round(height * aspect)), height)
        w, h = min(w, width), min(h, height)
        return ((height - h) // 2, (width - w) // 2, h, w)


def apply_view(frames: np.ndarray, view: ViewParams) -> torch.Tensor:
    """Crop, resize and flip decoded frames into a clip.

    Args:
        frames: ``[T, H_src, W_src, 3]`` uint8, the view's frames in order.
        view: the view; its crop must lie inside the source frame.

    Returns:
        ``[3, T, H, W]`` uint8 with ``(H, W) = view.size``. Resizing is bilinear with antialiasing,
        computed on uint8 on the CPU, which is deterministic.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"apply_view expects frames [T, H, W, 3] uint8; got {frames.shape} {frames.dtype}.")
    top, left, h, w = view.crop
    src_h, src_w = frames.shape[1:3]
    if top + h > src_h or left + w > src_w:
        raise ValueError(
            f"View crop {view.crop} (top, left, height, width) does not fit the source frame {src_h}x{src_w} "
            f"of video {view.video_index}. Was the view recorded on another dataset or resolution?"
        )
    clip = frames[:, top : top + h, left : left + w]  # [T, h, w, 3], a view
    if (h, w) != view.size:
        resized = F.interpolate(torch.from_numpy(clip).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last),
                                size=view.size, mode="bilinear", antialias=True, align_corners=False)
        clip = resized.permute(0, 2, 3, 1).numpy()  # [T, H, W, 3]
    if view.flip:
        clip = clip[:, :, ::-1]
    # numpy makes the channels-first copy: torch's strided uint8 copy of a clip this small costs 30 times as much
    # with two or more intra-op threads (1.7 vs. 0.06 ms for 8x48x48), as in the main process.
    return torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2)))
