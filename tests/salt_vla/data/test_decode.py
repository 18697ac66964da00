from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salt_vla.data import VideoDecodeError, VideoReader


def decode_all(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.fixture(scope="module")
def reference(h264_dir: Path, webm_dir: Path) -> dict[str, tuple[Path, np.ndarray]]:
    return {name: (d / f"000002{ext}", decode_all(d / f"000002{ext}"))
            for name, d, ext in (("h264", h264_dir, ".mp4"), ("vp9", webm_dir, ".webm"))}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(codec=st.sampled_from(["h264", "vp9"]), start=st.integers(0, 39), stride=st.integers(1, 6),
       count=st.integers(1, 8))
def test_seeking_read_equals_a_full_sequential_decode(reference, codec, start, stride, count) -> None:
    path, frames = reference[codec]
    wanted = [start + k * stride for k in range(count)]
    with VideoReader(path) as reader:
        got = reader.read(wanted)
    expected = frames[[min(i, len(frames) - 1) for i in wanted]]  # past the end repeats the last frame
    np.testing.assert_array_equal(got, expected)


def test_info_counts_frames_even_without_a_stored_count(reference) -> None:
    for codec in ("h264", "vp9"):
        path, frames = reference[codec]
        with VideoReader(path) as reader:
            assert (reader.info.num_frames, reader.info.height, reader.info.width) == (len(frames), 64, 64)
            assert reader.info.fps == pytest.approx(16.0)


def test_a_reader_can_read_several_times(reference) -> None:
    path, frames = reference["h264"]
    with VideoReader(path) as reader:
        np.testing.assert_array_equal(reader.read([30, 31]), frames[30:32])
        np.testing.assert_array_equal(reader.read([0, 1]), frames[0:2])
        np.testing.assert_array_equal(reader.read([20]), frames[20:21])


def test_unreadable_files_raise_video_decode_error_naming_the_file(tmp_path: Path, h264_dir: Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video at all" * 100)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((h264_dir / "000001.mp4").read_bytes()[:600])
    for path in (tmp_path / "missing.mp4", garbage, truncated):
        with pytest.raises(VideoDecodeError) as caught:
            with VideoReader(path) as reader:
                reader.read([0, 5])
        assert caught.value.path == str(path)
    with pytest.raises(ValueError, match="non-decreasing"), VideoReader(h264_dir / "000001.mp4") as reader:
        reader.read([3, 1])


def test_reading_stops_at_the_last_wanted_frame_and_truncation_is_detected(webm_dir: Path, tmp_path: Path) -> None:
    data = (webm_dir / "000002.webm").read_bytes()
    cut = tmp_path / "cut.webm"
    cut.write_bytes(data[: len(data) // 2])  # WebM streams its clusters: the first half still decodes
    frames = decode_all(webm_dir / "000002.webm")
    with VideoReader(cut) as reader:
        np.testing.assert_array_equal(reader.read([0, 2, 4]), frames[[0, 2, 4]])
        with pytest.raises(VideoDecodeError, match="truncated: frames end at"):
            reader.read([36, 38])
