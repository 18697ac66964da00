"""LeRobotDatasets (v3) as SALT video data: episode splits, frames equal to LeRobot's own decoding, clips inside
episodes, and stage-1 training, the latent cache and cached stage-2 training through the CLI on a recorded dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import salt_vla
from salt_vla.data.lerobot import LeRobotVideoDataset, split_episodes
from salt_vla.data.views import ViewParams

EPISODES, STEPS, HEIGHT, WIDTH = 2, 20, 16, 24
CAMERAS = ("observation.images.overhead_cam", "observation.images.wrist_cam")


def test_episode_split_is_seeded_disjoint_and_complete() -> None:
    episodes = list(range(20))
    train = split_episodes(episodes, "train", 0.25, seed=3)
    val = split_episodes(episodes, "val", 0.25, seed=3)
    assert len(val) == 5 and sorted(train + val) == episodes and not set(train) & set(val)
    assert split_episodes(list(reversed(episodes)), "val", 0.25, seed=3) == val  # order of the input is irrelevant
    assert split_episodes(episodes, "val", 0.25, seed=4) != val
    assert split_episodes(episodes, "all", 0.25, seed=3) == episodes
    assert split_episodes([7, 9], "val", 0.01, seed=0) != []  # at least one validation episode ...
    assert split_episodes([7, 9], "train", 0.99, seed=0) != []  # ... and at least one for training
    assert split_episodes([7], "val", 0.5, seed=0) == [] and split_episodes(episodes, "val", 0.0, seed=0) == []
    with pytest.raises(ValueError, match="split must be one of"):
        split_episodes(episodes, "validation", 0.1, seed=0)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The scripted expert recorded twice (2 episodes of 20 steps, 16x24 cameras): as video and as PNG images."""
    pytest.importorskip("mujoco")
    pytest.importorskip("lerobot")
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.expert import ScriptedExpert
    from salt_vla_so101.recorder import record_dataset

    root = tmp_path_factory.mktemp("lerobot")
    task = TaskConfig(image_size=(HEIGHT, WIDTH), max_steps=STEPS)
    for frames in ("video", "image"):
        record_dataset(ScriptedExpert(), EPISODES, root / frames, task=task, progress=False, frames=frames)
    return {"video": root / "video", "image": root / "image"}


def _lerobot_frames(root: Path, episode: int, camera: str) -> np.ndarray:
    """Every frame of ``episode`` as LeRobot itself decodes it, ``[T, H, W, 3]`` uint8."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("local/so101", root=root, video_backend="pyav")
    start = int(dataset.meta.episodes["dataset_from_index"][episode])
    frames = [dataset[start + k][camera] for k in range(STEPS)]
    return (torch.stack(frames).permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()


@pytest.mark.sim
@pytest.mark.lerobot
@pytest.mark.parametrize("frames", ["video", "image"])
def test_frames_are_lerobots_and_clips_stay_inside_their_episode(recorded: dict[str, Path], frames: str) -> None:
    dataset = salt_vla.create_dataset("lerobot", root=str(recorded[frames]), frames=4, stride=3, size=(HEIGHT, WIDTH),
                                      split="all")
    assert len(dataset) == EPISODES * len(CAMERAS) and dataset.cameras == list(CAMERAS)
    for index in range(len(dataset)):
        episode, camera = dataset.locate(index)
        expected = _lerobot_frames(recorded[frames], episode, camera)
        with dataset.open_source(index) as source:
            assert source.info.num_frames == STEPS
            decoded = source.read(list(range(STEPS)))
        np.testing.assert_array_equal(decoded, expected)  # episode 1 starts 20 frames into the shared file
        # A clip reaching past the episode's end repeats its last frame; it never shows the next episode.
        tail = ViewParams(index, 0, start=STEPS - 4, stride=3, frames=4, crop=(0, 0, HEIGHT, WIDTH), flip=False,
                          size=(HEIGHT, WIDTH))
        clip = dataset.clip(tail).permute(1, 2, 3, 0).numpy()
        np.testing.assert_array_equal(clip, expected[[STEPS - 4, STEPS - 1, STEPS - 1, STEPS - 1]])
    item = dataset[1]
    assert item["video"].dtype == torch.uint8 and item["video"].shape == (3, 4, HEIGHT, WIDTH)
    assert item["label"] == {"episode": 0, "camera": 1}
    assert torch.equal(dataset.clip(item["view"]), item["video"])


@pytest.mark.sim
@pytest.mark.lerobot
def test_cameras_splits_and_errors(recorded: dict[str, Path], tmp_path: Path) -> None:
    root = str(recorded["video"])
    wrist = LeRobotVideoDataset(root, frames=2, size=16, cameras="wrist_cam", split="all")
    assert wrist.cameras == [CAMERAS[1]] and len(wrist) == EPISODES
    train = LeRobotVideoDataset(root, frames=2, size=16, split="train", val_fraction=0.5, split_seed=1)
    val = LeRobotVideoDataset(root, frames=2, size=16, split="val", val_fraction=0.5, split_seed=1)
    train_episodes = {train.locate(i)[0] for i in range(len(train))}
    val_episodes = {val.locate(i)[0] for i in range(len(val))}
    assert train_episodes | val_episodes == {0, 1} and not train_episodes & val_episodes
    assert train.describe()["split"] == "train" and train.list_hash() != val.list_hash()
    assert LeRobotVideoDataset(root, frames=2, size=16, episodes=[1], split="all").locate(0) == (1, CAMERAS[0])
    with pytest.raises(ValueError, match="no camera 'front'.*overhead_cam, wrist_cam"):
        LeRobotVideoDataset(root, cameras=["front"])
    with pytest.raises(ValueError, match=r"episodes \[5\] are not in"):
        LeRobotVideoDataset(root, episodes=[0, 5])
    with pytest.raises(FileNotFoundError, match="no LeRobotDataset at"):
        LeRobotVideoDataset(tmp_path)
    old = tmp_path / "old"
    (old / "meta").mkdir(parents=True)
    (old / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v2.1", "fps": 30, "features": {}}))
    with pytest.raises(ValueError, match="format v3; .* is v2.1"):
        LeRobotVideoDataset(old)


TINY_RUN = {
    "data": {"dataset": "lerobot", "args": {"frames": 4, "stride": 2, "size": 32, "split": "train",
                                            "val_fraction": 0.5}, "batch_size": 2, "num_workers": 0},
    "student": {"name": "vit_micro_patch8_t2", "args": {"depth": 1, "embed_dim": 48, "num_heads": 3, "num_frames": 4,
                                                         "img_size": 32}},
    "predictor": {"dim": 32, "depth": 1, "num_heads": 2},
    "decoder": {"dim": 32, "depth": 1, "num_heads": 2},
    "masks": {"name": "multiblock_vjepa"},
    "optim": {"lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 1},
    "run": {"steps": 2, "log_every": 1, "val_every": 0, "checkpoint_every": 0, "progress": False},
}


@pytest.mark.sim
@pytest.mark.lerobot
@pytest.mark.slow
def test_teacher_cache_and_cached_student_train_on_a_recorded_dataset(recorded: dict[str, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from salt_vla.cache import LatentCache
    from salt_vla.cli import cli

    config = json.loads(json.dumps(TINY_RUN))
    config["data"]["args"]["root"] = str(recorded["video"])
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))

    def run(*arguments: str) -> str:
        result = CliRunner().invoke(cli, [*arguments], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "Finished 2 steps" in run("train-teacher", str(path), f"run.out_dir={tmp_path / 'teacher'}")
    assert json.loads((tmp_path / "teacher" / "summary.json").read_text())["data_skipped"] == 0
    teacher = tmp_path / "teacher" / "checkpoints" / "last" / "teacher"
    teacher_args = f"teacher.args={json.dumps({'pretrained': str(teacher)})}"
    run("cache", str(path), "teacher.name=checkpoint", teacher_args, "--out", str(tmp_path / "cache"),
        "--workers", "0", "--batch-size", "2")
    cache = LatentCache(tmp_path / "cache")
    assert len(cache) == 2  # the train split: one episode, two cameras
    assert cache.metadata["dataset"]["type"] == "lerobot" and cache.metadata["dataset"]["split"] == "train"
    assert "Finished 2 steps" in run("train", str(path), f"data.latent_cache={tmp_path / 'cache'}",
                                     f"run.out_dir={tmp_path / 'student'}")
    summary = json.loads((tmp_path / "student" / "summary.json").read_text())
    assert (summary["steps"], summary["task"], summary["data_skipped"]) == (2, "salt", 0)
