"""Decoding a few frames of a video file with PyAV, and nothing more.

:class:`VideoReader` opens a file, reports its :class:`VideoInfo`, and :meth:`VideoReader.read`
seeks to the keyframe before the first wanted frame and decodes only up to the last one. Only the
wanted frames are converted to RGB and kept; the container is closed when the reader is. Frames are
identified by timestamp (``round(time * fps)``), so seeking never shifts a clip by a frame.

Every failure of the file itself (missing, unreadable, corrupt, truncated, no video stream, no
frame decoded) is raised as :class:`VideoDecodeError`, which the datasets catch to skip the video.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from salt_vla.data.views import VideoInfo

ESTIMATE_SLACK = 2
"""Frames a stream may end before the header's count (WebM/MKV estimate it from the duration) and be complete."""


class VideoDecodeError(RuntimeError):
    """A video file that cannot be read; ``path`` names it."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def _decode_errors() -> tuple[type[BaseException], ...]:
    import av

    return (av.FFmpegError, OSError, EOFError, ValueError, IndexError, StopIteration)


class VideoReader:
    """An open video file. Use as a context manager; it is not thread-safe.

    Args:
        path: the file.
        threads: decoder threads; 1 (the default) when DataLoader workers already use the cores.
    """

    def __init__(self, path: str | os.PathLike[str], *, threads: int = 1) -> None:
        import av

        self.path = Path(path)
        self._decoded = False
        try:
            self._container: Any = av.open(str(self.path), mode="r")
        except _decode_errors() as error:
            raise VideoDecodeError(self.path, f"cannot open ({type(error).__name__}: {error})") from error
        try:
            if not self._container.streams.video:
                raise VideoDecodeError(self.path, "no video stream")
            self._stream = self._container.streams.video[0]
            self._stream.thread_count = max(1, int(threads))
            self.info = self._probe()
        except BaseException:
            self.close()
            raise

    def _probe(self) -> VideoInfo:
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or stream.codec_context.height < 1:
            raise VideoDecodeError(self.path, "video stream has no frame rate or size")
        fps = float(rate)
        frames = int(stream.frames or 0)
        if frames <= 0:  # WebM/MKV do not store a frame count: estimate it from the duration.
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif self._container.duration is not None:
                seconds = self._container.duration / 1_000_000
            else:
                seconds = 0.0
            frames = round(seconds * fps)
        if frames <= 0:
            raise VideoDecodeError(self.path, "video has no frames (duration 0)")
        self._fps = fps
        self._start_seconds = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        return VideoInfo(num_frames=frames, height=stream.codec_context.height, width=stream.codec_context.width, fps=fps)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None

    def _index(self, frame: Any) -> int:
        if frame.time is None:
            raise VideoDecodeError(self.path, "decoded frame without timestamp")
        return round((frame.time - self._start_seconds) * self._fps)

    def _seek(self, frame_index: int) -> None:
        stream = self._stream
        seconds = self._start_seconds + frame_index / self._fps
        self._container.seek(int(seconds / stream.time_base), stream=stream, backward=True, any_frame=False)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """The frames ``indices`` (non-decreasing), ``[T, H, W, 3]`` uint8 RGB.

        Decoding starts at the keyframe before ``indices[0]`` and stops after ``indices[-1]``.
        Indices past the end get the last frame; a stream that ends more than :data:`ESTIMATE_SLACK` frames
        before the count the header promises is truncated: a clip reaching past its end is a
        :class:`VideoDecodeError` (never padded with copies of the last frame).
        """
        wanted = [int(i) for i in indices]
        if not wanted or any(b < a for a, b in itertools.pairwise(wanted)) or wanted[0] < 0:
            raise ValueError(f"read() needs non-empty, non-decreasing, non-negative frame indices; got {wanted[:8]}...")
        try:
            frames = self._decode(wanted, seek=wanted[0] > 0)
            if frames is None:  # the seek landed after the first wanted frame (bad index): decode from 0
                frames = self._decode(wanted, seek=False)
        except VideoDecodeError:
            raise
        except _decode_errors() as error:
            raise VideoDecodeError(self.path, f"decoding failed ({type(error).__name__}: {error})") from error
        if frames is None:
            raise VideoDecodeError(self.path, "no frame at or after the first wanted index")
        return np.stack(frames)

    def _decode(self, wanted: list[int], *, seek: bool) -> list[np.ndarray] | None:
        if seek:
            self._seek(wanted[0])
        elif self._decoded:
            self._container.seek(0, stream=self._stream, backward=True, any_frame=False)
        self._decoded = True
        converted: tuple[int | None, np.ndarray | None] = (None, None)

        def rgb(frame: Any) -> np.ndarray:  # convert each decoded frame at most once
            nonlocal converted
            if converted[0] != frame.pts or converted[1] is None:
                converted = (frame.pts, frame.to_ndarray(format="rgb24"))
            return converted[1]

        out: list[np.ndarray] = []
        previous = None  # the latest decoded frame before the current one
        for frame in self._container.decode(self._stream):
            index = self._index(frame)
            if previous is None and seek and index > wanted[0]:
                return None
            # A wanted index in a timestamp gap gets the frame shown at that time: the previous one.
            while len(out) < len(wanted) and wanted[len(out)] < index:
                out.append(rgb(previous if previous is not None else frame))
            while len(out) < len(wanted) and wanted[len(out)] == index:
                out.append(rgb(frame))
            previous = frame
            if len(out) == len(wanted):
                return out
        if previous is None:
            raise VideoDecodeError(self.path, "no frame could be decoded")
        # The stream ended before a wanted frame. A stream that ends at most ESTIMATE_SLACK frames before the
        # header's count is the frame-count estimate's error (its last frames are filled by repeating the last
        # one); one that ends earlier is truncated, and no clip reaching past its end is served: it used to be
        # tolerated up to 5% of the frames, so a 400-frame file cut at 95% served clips ending in 5 copies.
        last = self._index(previous)
        if self.info.num_frames - 1 - last > ESTIMATE_SLACK:
            raise VideoDecodeError(self.path, f"truncated: frames end at {last}, the header promises "
                                              f"{self.info.num_frames} (clip wants up to {wanted[-1]})")
        while len(out) < len(wanted):
            out.append(rgb(previous))
        return out
