"""A truncated WebM clip is a decode error and a skipped video, not a clip of frozen frames."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import pytest

from salt_vla.data import CorruptVideoWarning, SyntheticPhysicsDataset, VideoFolderDataset, write_videos
from salt_vla.data.decode import VideoDecodeError, VideoReader


@pytest.fixture(scope="module")
def webm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("webm")
    source = SyntheticPhysicsDataset(num_videos=2, frames=16, size=(32, 32), seed=3, video_frames=16)
    write_videos(source, out, codec="vp9", keyframe_interval=8, progress=False)
    return out


def test_a_clip_cut_after_a_few_frames_is_a_decode_error_and_skipped(webm: Path, tmp_path: Path) -> None:
    good, other = sorted(webm.glob("*.webm"))
    data = good.read_bytes()
    cut = tmp_path / "000000_cut.webm"
    cut.write_bytes(data[: len(data) // 2])  # WebM streams its clusters: the first frames still decode
    with av.open(str(cut)) as container:
        decodable = sum(1 for _ in container.decode(video=0))
    assert 1 <= decodable <= 4  # the file really is cut: a 16-frame clip would be mostly copies of one frame

    with VideoReader(cut) as reader, pytest.raises(VideoDecodeError, match="truncated: frames end at"):
        reader.read(list(range(16)))

    shutil.copy(other, tmp_path / "000001_ok.webm")
    dataset = VideoFolderDataset(tmp_path, frames=16, stride=1, size=(32, 32), labels="none", seed=0)
    with pytest.warns(CorruptVideoWarning, match="000000_cut.webm"):
        item = dataset[0]
    assert item["skipped"] >= 1 and item["view"].video_index == 1 and dataset.skipped == 1
