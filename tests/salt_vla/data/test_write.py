from __future__ import annotations

import json
from pathlib import Path

import pytest

from salt_vla.data import SyntheticPhysicsDataset, VideoFolderDataset, write_videos


@pytest.mark.parametrize("codec", ["h264", "vp9", "ffv1"])
def test_written_videos_decode_close_to_the_source(codec: str, tmp_path: Path) -> None:
    source = SyntheticPhysicsDataset(num_videos=2, frames=6, size=(32, 48), seed=4, video_frames=20)
    paths = write_videos(source, tmp_path, codec=codec, progress=False)
    assert [p.name.split(".")[0] for p in paths] == ["000000", "000001"]
    labels = json.loads((tmp_path / "labels.json").read_text())
    assert set(labels) == {p.name for p in paths}
    decoded = VideoFolderDataset(tmp_path, frames=6, stride=3, size=(32, 48), scale=(1, 1), ratio=None)
    for i in range(2):
        item = decoded[i]
        error = (item["video"].float() - source.clip(item["view"]).float()).abs().mean()
        assert error < 4.0, f"{codec}: mean abs error {error:.2f} of 255"
        assert item["label"]["num_balls"] == source.trajectory(i).num_balls


def test_write_videos_refuses_what_it_cannot_encode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown codec 'h265'; choose one of"):
        write_videos(SyntheticPhysicsDataset(num_videos=1), tmp_path, codec="h265")
    with pytest.raises(ValueError, match="needs even sizes; the source is 15x16"):
        write_videos(SyntheticPhysicsDataset(num_videos=1, size=(15, 16)), tmp_path, progress=False)
