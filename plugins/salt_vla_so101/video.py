"""Write episode videos as MP4 (H.264) with PyAV's bundled FFmpeg; no system FFmpeg needed."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from salt_vla.io import atomic_write_bytes


def encode_mp4(frames: Sequence[np.ndarray], fps: float, *, crf: int = 23) -> bytes:
    """MP4 bytes of ``frames`` (each ``[H, W, 3]`` uint8 RGB, all the same size) at ``fps``.

    Odd sizes are padded by one black row/column (H.264 with yuv420p needs even sizes).
    """
    import av

    if not frames:
        raise ValueError("encode_mp4 needs at least one frame.")
    height, width = frames[0].shape[:2]
    if any(f.shape != frames[0].shape or f.dtype != np.uint8 or f.ndim != 3 for f in frames):
        raise ValueError(f"All frames must be [H, W, 3] uint8 of one size; the first is {frames[0].shape} {frames[0].dtype}.")
    pad_h, pad_w = height % 2, width % 2
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = width + pad_w, height + pad_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            if pad_h or pad_w:
                frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def write_mp4(frames: Sequence[np.ndarray], path: str | os.PathLike[str], fps: float) -> Path:
    """Encode ``frames`` and write them to ``path`` atomically. Returns the path."""
    return atomic_write_bytes(path, encode_mp4(frames, fps))
