"""Memory stays flat over an epoch: no decoded video outlives its item."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from salt_vla.data import SyntheticPhysicsDataset, VideoFolderDataset, write_videos


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc (Linux only)")
def test_rss_is_flat_over_many_items(tmp_path: Path) -> None:
    # 96 frames at 160x160 is 7.4 MB decoded per video: holding on to videos would add ~0.6 GB here.
    source = SyntheticPhysicsDataset(num_videos=4, size=(160, 160), video_frames=96, seed=2)
    write_videos(source, tmp_path, codec="h264", keyframe_interval=16, progress=False)
    dataset = VideoFolderDataset(tmp_path, frames=8, stride=4, size=(64, 64), labels="none")
    for i in range(16):  # warm up allocators and codec state
        dataset.item(i % len(dataset), epoch=i)
    gc.collect()
    before = rss_mb()
    for i in range(80):
        dataset.item(i % len(dataset), epoch=100 + i)
    gc.collect()
    growth = rss_mb() - before
    assert growth < 20, f"RSS grew by {growth:.1f} MB over 80 items"
