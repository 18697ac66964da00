"""Encode any video dataset as real video files (for the quickstart, tests and benchmarks)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from salt_vla.data.base import FrameSource, VideoDataset
from salt_vla.data.video_folder import LABELS_FILE
from salt_vla.data.views import ViewParams
from salt_vla.io import atomic_write_bytes, atomic_write_json

CODECS: dict[str, tuple[str, str, str, str]] = {
    # name: (encoder, file ending, container format, pixel format)
    "h264": ("libx264", ".mp4", "mp4", "yuv420p"),
    "vp9": ("libvpx-vp9", ".webm", "webm", "yuv420p"),
    "mpeg4": ("mpeg4", ".mp4", "mp4", "yuv420p"),
    "ffv1": ("ffv1", ".mkv", "matroska", "yuv444p"),
}
CHUNK = 32
"""Frames read from the source at a time (memory stays at one chunk, not one video)."""


def write_videos(
    dataset: VideoDataset,
    out_dir: str | os.PathLike[str],
    codec: str = "h264",
    *,
    keyframe_interval: int | None = None,
    options: Mapping[str, str] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Write every source video of ``dataset`` to ``out_dir/<index:06d><ending>``, plus ``labels.json``.

    Videos keep their source length, resolution and frame rate; ``labels.json`` maps each file name to
    the labels of its whole video, so ``VideoFolderDataset(out_dir)`` reads them back. Each file is
    written atomically.

    Args:
        dataset: any :class:`~salt_vla.data.base.VideoDataset`.
        out_dir: created if missing.
        codec: one of :data:`CODECS` (``h264`` -> ``.mp4``, ``vp9`` -> ``.webm``, ...).
        keyframe_interval: frames between keyframes (encoder default when ``None``); seeking
            decodes from the keyframe before a clip, so long intervals make clip reads slower.
        options: encoder options, e.g. ``{"crf": "18"}`` for libx264.
        progress: show a progress bar.

    Returns:
        The written video paths, in dataset order.
    """
    if codec not in CODECS:
        raise ValueError(f"write_videos: unknown codec {codec!r}; choose one of {sorted(CODECS)}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, labels = [], {}
    for index in tqdm(range(len(dataset)), desc=f"write {codec} videos", disable=not progress, unit="video"):
        path = out / f"{index:06d}{CODECS[codec][1]}"
        with dataset.open_source(index) as source:
            info = source.info
            data = _encode(source, codec, keyframe_interval, options or {})
            whole = ViewParams(index, 0, 0, 1, info.num_frames, (0, 0, info.height, info.width), False,
                               (info.height, info.width))
            labels[path.name] = dataset.label(whole, source)
        atomic_write_bytes(path, data)
        paths.append(path)
    atomic_write_json(out / LABELS_FILE, labels)
    return paths


def _encode(source: FrameSource, codec: str, keyframe_interval: int | None, options: Mapping[str, str]) -> bytes:
    import av

    encoder, _, container_format, pixel_format = CODECS[codec]
    info = source.info
    if pixel_format == "yuv420p" and (info.height % 2 or info.width % 2):
        raise ValueError(
            f"write_videos: {codec} stores colour at half resolution and needs even sizes; the source is "
            f"{info.height}x{info.width}. Use codec='ffv1' or a dataset with even sizes."
        )
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=round(info.fps), options=dict(options))
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, pixel_format
        if keyframe_interval:
            stream.codec_context.gop_size = int(keyframe_interval)
        for start in range(0, info.num_frames, CHUNK):
            frames = source.read(list(range(start, min(start + CHUNK, info.num_frames))))
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()
