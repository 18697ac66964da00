"""Recording LeRobotDatasets (v3) and reading them back with LeRobot itself."""

from __future__ import annotations

from collections.abc import Sequence

import av
import numpy as np
import pytest
import torch
from salt_vla_so101.config import TASK_STRING, TaskConfig
from salt_vla_so101.expert import ScriptedExpert
from salt_vla_so101.noise import ARM_JOINTS, ActionNoise
from salt_vla_so101.policies import HoldPolicy
from salt_vla_so101.recorder import record_dataset

from salt_vla import lerobot_compat
from salt_vla.robot import SO101_ACTION_NAMES, Observation

pytestmark = [pytest.mark.sim, pytest.mark.lerobot]

TINY = TaskConfig(image_size=(24, 32), max_steps=15)


class EveryOtherExpert:
    """The scripted expert on odd episodes; on even ones it fails at its third step."""

    action_names: Sequence[str] = SO101_ACTION_NAMES
    camera_names: Sequence[str] = ()

    def __init__(self) -> None:
        self.expert, self.hold, self.episode, self.t = ScriptedExpert(), HoldPolicy(), -1, 0

    def bind(self, task) -> None:
        self.expert.bind(task)

    def reset(self) -> None:
        self.episode += 1
        self.t = 0
        self.expert.reset()
        self.hold.reset()

    def act(self, observation: Observation) -> np.ndarray:
        self.t += 1
        if self.episode % 2 == 0 and self.t == 3:
            raise RuntimeError("lost track of the block")
        return (self.expert if self.episode % 2 else self.hold).act(observation)

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        return self.hold.predict_chunk(observation, num_samples=num_samples)


@pytest.mark.slow
def test_recorded_dataset_loads_back_with_lerobot(tmp_path) -> None:
    out = tmp_path / "so101"
    summary = record_dataset(ScriptedExpert(), 2, out, seed=0, task=TINY, progress=False)
    assert (summary.saved, summary.attempted) == (2, 2)
    dataset = lerobot_compat.load_dataset(out)
    assert dataset.num_episodes == 2
    assert dataset.num_frames == 2 * TINY.max_steps
    assert dataset.fps == 30
    features = dataset.features
    for camera in ("overhead_cam", "wrist_cam"):
        assert features[f"observation.images.{camera}"]["dtype"] == "video"
        assert tuple(features[f"observation.images.{camera}"]["shape"]) == (24, 32, 3)
    assert features["observation.state"]["names"] == list(SO101_ACTION_NAMES)
    assert features["action"]["names"] == list(SO101_ACTION_NAMES)
    first = dataset[0]
    assert first["task"] == TASK_STRING
    assert tuple(first["observation.images.wrist_cam"].shape) == (3, 24, 32)  # decoded with PyAV
    np.testing.assert_allclose(first["observation.state"].numpy(), TINY.home_pose, atol=1e-3)
    later = dataset[TINY.max_steps + 5]
    assert int(later["episode_index"]) == 1 and int(later["frame_index"]) == 5
    assert not list(tmp_path.glob(".*partial"))  # the staging directory is gone
    # The codec asked for is the codec written (LeRobot >= 0.5 takes it through its RGBEncoderConfig and
    # would otherwise encode AV1, several times slower to encode and to decode).
    videos = sorted(out.glob("videos/**/*.mp4"))
    assert videos
    for video in videos:
        with av.open(str(video)) as container:
            assert container.streams.video[0].codec_context.name == "h264", video


@pytest.mark.slow
def test_keep_only_successes_discards_failed_episodes(tmp_path) -> None:
    out = tmp_path / "distilled"
    task = TaskConfig(image_size=(16, 16))
    summary = record_dataset(EveryOtherExpert(), 1, out, seed=0, keep_only_successes=True, task=task, progress=False)
    assert (summary.saved, summary.attempted) == (1, 2)
    assert [e.outcome.value for e in summary.report.episodes] == ["policy_error", "success"]
    dataset = lerobot_compat.load_dataset(out)
    assert dataset.num_episodes == 1
    assert dataset.num_frames == summary.report.episodes[1].steps


def test_recording_refuses_existing_directories_and_leaves_nothing_on_failure(tmp_path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="exists"):
        record_dataset(HoldPolicy(), 1, tmp_path / "taken", task=TINY, progress=False)
    with pytest.raises(RuntimeError, match="Only 0 of 1 episodes succeeded in 2 attempts"):
        record_dataset(HoldPolicy(), 1, tmp_path / "never", keep_only_successes=True, max_attempts=2,
                       task=TaskConfig(image_size=(16, 16), max_steps=3), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def frames_and_values(root) -> list[dict]:
    dataset = lerobot_compat.load_dataset(root)
    return [dataset[i] for i in range(dataset.num_frames)]


@pytest.mark.slow
@pytest.mark.parametrize(("frames", "noise"), [("image", ActionNoise(std=2.0, correlation=0.9)), ("video", None)])
def test_parallel_recording_writes_the_serial_dataset(tmp_path, frames, noise) -> None:
    """Seeds screened in parallel, blocks recorded by two processes and joined: the serial recording, frame for frame.

    (The policy goes to the workers pickled, so it is one the package defines: the scripted expert.) With
    execution noise too: it is a function of the seed, so screening, recording and the serial run agree.
    """
    task = TaskConfig(image_size=(16, 24))
    options = dict(seed=0, keep_only_successes=True, task=task, progress=False, frames=frames, action_noise=noise)
    serial = record_dataset(ScriptedExpert(), 2, tmp_path / "serial", **options)
    parallel = record_dataset(ScriptedExpert(), 2, tmp_path / "parallel", workers=2, **options)
    assert (serial.saved, serial.attempted) == (parallel.saved, parallel.attempted)
    assert [(e.seed, e.outcome) for e in serial.report.episodes] == [(e.seed, e.outcome) for e in parallel.report.episodes]
    a, b = frames_and_values(serial.root), frames_and_values(parallel.root)
    assert len(a) == len(b) == sum(e.steps for e in serial.report.episodes if e.outcome.value == "success")
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], torch.Tensor):
                assert torch.equal(x[key], y[key]), key
            else:
                assert x[key] == y[key], key
    feature = lerobot_compat.load_dataset(parallel.root).features["observation.images.wrist_cam"]
    assert feature["dtype"] == frames
    assert not list(tmp_path.glob(".*partial"))


def test_noisy_recording_stores_the_experts_actions_at_the_perturbed_states(tmp_path) -> None:
    """DART: the dataset's actions are the expert's plan, its states those the noisy execution reached."""
    noise = ActionNoise(std=2.0, correlation=0.9)
    clean = lerobot_compat.load_dataset(record_dataset(ScriptedExpert(), 1, tmp_path / "clean", seed=4, task=TINY,
                                                       frames="image", progress=False).root)
    noisy = record_dataset(ScriptedExpert(), 1, tmp_path / "noisy", seed=4, task=TINY, frames="image",
                           progress=False, action_noise=noise)
    assert noisy.report.config["action_noise"] == {"std": 2.0, "gripper_std": 0.0, "correlation": 0.9}
    perturbed = lerobot_compat.load_dataset(noisy.root)
    assert perturbed.num_frames == clean.num_frames == TINY.max_steps
    actions = [(clean[i]["action"], perturbed[i]["action"]) for i in range(TINY.max_steps)]
    states = [(clean[i]["observation.state"], perturbed[i]["observation.state"]) for i in range(TINY.max_steps)]
    for planned, recorded in actions:
        torch.testing.assert_close(recorded, planned)  # the plan is made at the reset state: the same actions
    drift = max(float((a - b)[:ARM_JOINTS].abs().max()) for a, b in states[3:])
    assert drift > 0.5  # degrees: the arm went elsewhere than the clean episode's arm


def test_frame_storage_is_checked() -> None:
    from salt_vla_so101.recorder import dataset_features

    with pytest.raises(ValueError, match=r"frames must be one of \('video', 'image'\); got 'png'"):
        dataset_features(TINY, frames="png")
