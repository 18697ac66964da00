"""Corrupt or truncated videos are skipped, counted and replaced deterministically; a broken dataset aborts."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from salt_vla.data import CorruptVideoWarning, DatasetFailureError, VideoFolderDataset, collate_clips


@pytest.fixture
def dirty_dir(h264_dir: Path, tmp_path: Path) -> Path:
    """Six good videos and two bad ones (garbage bytes at index 1, a truncated file at index 4)."""
    for i in range(6):
        shutil.copy(h264_dir / f"{i:06d}.mp4", tmp_path / f"{i:06d}_ok.mp4")
    (tmp_path / "000001_bad.mp4").write_bytes(b"\x00\x01garbage" * 64)
    (tmp_path / "000003_cut.mp4").write_bytes((h264_dir / "000003.mp4").read_bytes()[:700])
    return tmp_path


def load_all(dataset: VideoFolderDataset, workers: int) -> list[dict]:
    loader = DataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=collate_clips)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptVideoWarning)
        return list(loader)


def test_bad_videos_are_replaced_counted_and_warned_about(dirty_dir: Path) -> None:
    dataset = VideoFolderDataset(dirty_dir, frames=4, stride=2, size=(32, 32), labels="none", seed=4)
    bad = [i for i in range(len(dataset)) if dataset.path(i).stem.endswith(("bad", "cut"))]
    assert len(bad) == 2
    with pytest.warns(CorruptVideoWarning, match=rf"skipping unreadable video {bad[0]} .*{dataset.path(bad[0]).name}"):
        item = dataset[bad[0]]
    assert item["index"] == bad[0] and item["view"].video_index not in bad and item["skipped"] >= 1
    assert torch.equal(dataset.clip(item["view"]), item["video"])  # the substitute's view reproduces too
    assert dataset.skipped == 1

    batches = load_all(dataset, workers=0)
    assert sum(int(b["skipped"]) for b in batches) == 2
    parallel = load_all(VideoFolderDataset(dirty_dir, frames=4, stride=2, size=(32, 32), labels="none", seed=4),
                        workers=2)
    for a, b in zip(batches, parallel):  # the substitutes do not depend on the worker layout
        assert torch.equal(a["video"], b["video"]) and a["view"] == b["view"]


def test_a_mostly_broken_dataset_aborts_with_the_first_errors(h264_dir: Path, tmp_path: Path) -> None:
    shutil.copy(h264_dir / "000000.mp4", tmp_path / "good.mp4")
    for i in range(5):
        (tmp_path / f"broken{i}.mp4").write_bytes(b"not a video")
    dataset = VideoFolderDataset(tmp_path, frames=4, size=16, labels="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptVideoWarning)
        with pytest.raises(DatasetFailureError, match=r"(?s)of the \d+ videos read so far failed.*broken\d\.mp4"):
            for i in range(len(dataset)):
                dataset[i]
