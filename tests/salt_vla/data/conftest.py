"""Real encoded videos for the data tests, written once per session from the synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from salt_vla.data import SyntheticPhysicsDataset, write_videos


@pytest.fixture(scope="session")
def source() -> SyntheticPhysicsDataset:
    """Six 40-frame 64x64 videos."""
    return SyntheticPhysicsDataset(num_videos=6, frames=8, size=(64, 64), seed=11, video_frames=40)


@pytest.fixture(scope="session")
def h264_dir(source: SyntheticPhysicsDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``source`` as H.264 MP4 files with a keyframe every 8 frames, plus labels.json."""
    out = tmp_path_factory.mktemp("h264")
    write_videos(source, out, codec="h264", keyframe_interval=8, progress=False)
    return out


@pytest.fixture(scope="session")
def webm_dir(source: SyntheticPhysicsDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``source`` as VP9 WebM files (no stored frame count, like Something-Something-v2)."""
    out = tmp_path_factory.mktemp("webm")
    write_videos(source, out, codec="vp9", keyframe_interval=8, progress=False)
    return out
