"""Video data: datasets, recorded views, batching with masks, and encoding videos to files.

Every dataset returns ``{"video": uint8 [C, T, H, W], "index": int, "view": ViewParams, "label":
dict, "skipped": int}`` and reproduces any recorded view exactly with ``dataset.clip(view)``. See
docs/data.md.
"""

from __future__ import annotations

from salt_vla.data.base import EpochDataset, FrameSource, VideoDataset
from salt_vla.data.collate import MaskCollate, collate_clips
from salt_vla.data.decode import VideoDecodeError, VideoReader
from salt_vla.data.failures import CorruptVideoWarning, DatasetFailureError
from salt_vla.data.files import FileVideoDataset
from salt_vla.data.lerobot import LeRobotVideoDataset
from salt_vla.data.physics import PhysicsConfig
from salt_vla.data.shm import SharedMemoryError, check_shared_memory, nbytes
from salt_vla.data.ssv2 import SSv2Dataset
from salt_vla.data.synthetic import SyntheticPhysicsDataset
from salt_vla.data.video_folder import VideoFolderDataset
from salt_vla.data.views import VideoInfo, ViewParams, ViewSampler, apply_view
from salt_vla.data.write import CODECS, write_videos

__all__ = [
    "CODECS",
    "CorruptVideoWarning",
    "DatasetFailureError",
    "EpochDataset",
    "FileVideoDataset",
    "FrameSource",
    "LeRobotVideoDataset",
    "MaskCollate",
    "PhysicsConfig",
    "SSv2Dataset",
    "SharedMemoryError",
    "SyntheticPhysicsDataset",
    "VideoDataset",
    "VideoDecodeError",
    "VideoFolderDataset",
    "VideoInfo",
    "VideoReader",
    "ViewParams",
    "ViewSampler",
    "apply_view",
    "check_shared_memory",
    "collate_clips",
    "nbytes",
    "write_videos",
]
