from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from salt_vla.data import (
    SSv2Dataset,
    SyntheticPhysicsDataset,
    VideoFolderDataset,
    ViewParams,
)


def test_folder_items_reproduce_exactly_from_their_view(h264_dir: Path) -> None:
    dataset = VideoFolderDataset(h264_dir, frames=8, stride=3, size=(32, 32), seed=5, flip=True)
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["video"].shape == (3, 8, 32, 32) and item["video"].dtype == torch.uint8
        assert item["index"] == index and item["view"].video_index == index and item["skipped"] == 0
        view = ViewParams.from_dict(json.loads(json.dumps(item["view"].to_dict())))
        assert torch.equal(dataset.clip(view), item["video"])
    assert dataset[2]["view"] == dataset[2]["view"]  # a pure function of (seed, epoch, index)
    dataset.set_epoch(1)
    assert dataset[2]["view"] != dataset.item(2, epoch=0)["view"]


def test_folder_reads_labels_json_written_by_write_videos(h264_dir: Path, source: SyntheticPhysicsDataset) -> None:
    dataset = VideoFolderDataset(h264_dir, frames=4, stride=2, size=32)
    assert [dataset.path(i).name for i in range(len(dataset))] == [f"{i:06d}.mp4" for i in range(6)]
    label = dataset[3]["label"]
    assert set(label) == {"num_balls", "direction", "vertical", "bounces", "speed"}
    assert label["num_balls"] == source.trajectory(3).num_balls
    assert VideoFolderDataset(h264_dir, frames=4, labels="none")[0]["label"] == {}


def test_folder_labels_by_subfolder_and_recursive_search(h264_dir: Path, tmp_path: Path) -> None:
    for name, cls in (("000000.mp4", "cats"), ("000001.mp4", "dogs"), ("000002.mp4", "dogs")):
        (tmp_path / cls / "deep").mkdir(parents=True, exist_ok=True)
        shutil.copy(h264_dir / name, tmp_path / cls / "deep" / name)
    (tmp_path / "dogs" / ".hidden.mp4").write_bytes(b"temporary file")
    dataset = VideoFolderDataset(tmp_path, frames=4, size=16, labels="folder")
    assert len(dataset) == 3 and dataset.classes == ["cats", "dogs"]
    assert [dataset[i]["label"]["class"] for i in range(3)] == [0, 1, 1]


def test_folder_errors_say_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no videos")
    with pytest.raises(FileNotFoundError, match="no files ending in .mp4"):
        VideoFolderDataset(tmp_path)
    with pytest.raises(ValueError, match="labels must be one of"):
        VideoFolderDataset(tmp_path, labels="dirs")


@pytest.fixture
def ssv2_root(webm_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "videos"
    root.mkdir()
    for i, video_id in enumerate(["101", "202", "303"]):
        shutil.copy(webm_dir / f"{i:06d}.webm", root / f"{video_id}.webm")
    split = [
        {"id": "101", "label": "pushing cup from left to right", "template": "Pushing [something] from left to right",
         "placeholders": ["cup"]},
        {"id": "202", "label": "holding pen", "template": "Holding [something]", "placeholders": ["pen"]},
        {"id": "303", "label": "holding box", "template": "Holding [something]", "placeholders": ["box"]},
        {"id": "404", "label": "holding egg", "template": "Holding [something]", "placeholders": ["egg"]},
    ]
    (tmp_path / "train.json").write_text(json.dumps(split))
    (tmp_path / "test.json").write_text(json.dumps([{"id": "101"}, {"id": "303"}]))
    (tmp_path / "something-something-v2-labels.json").write_text(
        json.dumps({"Holding something": "7", "Pushing something from left to right": "93"}))
    return root


def test_ssv2_reads_split_files_labels_and_warns_about_missing_videos(ssv2_root: Path) -> None:
    with pytest.warns(UserWarning, match=r"1 of 4 videos of train.json are missing .* \['404'\]"):
        train = SSv2Dataset(ssv2_root, ssv2_root.parent / "train.json", frames=4, stride=2, size=32)
    assert len(train) == 3 and train.video_id(1) == "202"
    assert [train[i]["label"] for i in range(3)] == [{"class": 93}, {"class": 7}, {"class": 7}]
    item = train[0]
    assert torch.equal(train.clip(item["view"]), item["video"])
    assert train.describe()["split"] == "train" and train.describe()["type"] == "ssv2"
    test = SSv2Dataset(ssv2_root, ssv2_root.parent / "test.json", frames=4, stride=2, size=32)
    assert len(test) == 2 and test[1]["label"] == {}


@pytest.mark.filterwarnings("ignore:SSv2Dataset.*missing")
def test_ssv2_errors_name_the_problem(ssv2_root: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="split file .* does not exist"):
        SSv2Dataset(ssv2_root, tmp_path / "validation.json")
    (tmp_path / "bad.json").write_text(json.dumps({"id": "101"}))
    with pytest.raises(ValueError, match="must be a JSON list"):
        SSv2Dataset(ssv2_root, tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match=r"none of the 4 videos .*\(expected e.g. .*101.mp4\)"):
        SSv2Dataset(ssv2_root, ssv2_root.parent / "train.json", extension=".mp4")
    (tmp_path / "labels.json").write_text(json.dumps({"Holding something": "7"}))
    with pytest.raises(ValueError, match=r"templates not in .*: \['Pushing something from left to right'\]"):
        SSv2Dataset(ssv2_root, ssv2_root.parent / "train.json", labels_json=tmp_path / "labels.json")


def test_builtin_datasets_are_registered_with_working_factories(h264_dir: Path) -> None:
    import salt_vla

    assert salt_vla.list_names("dataset") == ["lerobot", "ssv2", "synthetic_physics", "video_folder"]
    assert len(salt_vla.create_dataset("synthetic_physics", num_videos=3, frames=4, size=16)) == 3
    assert len(salt_vla.create_dataset("video_folder", root=h264_dir, frames=4, size=16)) == 6
