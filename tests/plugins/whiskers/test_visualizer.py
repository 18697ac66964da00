"""The `whiskers` visualizer end to end: frames, MP4, metrics, samples per step, policy errors."""

from __future__ import annotations

import json
from dataclasses import replace

import av
import numpy as np
import pytest
from PIL import Image
from salt_vla_so101.config import TaskConfig
from salt_vla_so101.policies import HoldPolicy
from salt_vla_whiskers.config import WhiskerConfig
from salt_vla_whiskers.episode import chunk_seed, run_whiskers
from salt_vla_whiskers.frames import render_frames
from salt_vla_whiskers.visualizer import whisker_frames

import salt_vla
from salt_vla.evaluation import Outcome
from salt_vla.interfaces import Visualizer
from salt_vla.plugins import plugin_statuses

from .conftest import TINY

FAST = WhiskerConfig(render=False, task=TaskConfig(render=False))


def test_plugin_is_discovered_and_builds_a_visualizer() -> None:
    status = next(s for s in plugin_statuses() if s.name == "whiskers")
    assert status.ok, status.error
    assert [e.name for e in salt_vla.list_plugins("visualizer")] == ["whiskers"]
    visualizer = salt_vla.create_visualizer("whiskers", samples=3)
    assert isinstance(visualizer, Visualizer) and visualizer.config.samples == 3
    with pytest.raises(TypeError, match=r"\['sampels'\].*'samples'"):
        salt_vla.create_visualizer("whiskers", sampels=3)


def test_scripted_expert_end_to_end(tmp_path) -> None:
    result = salt_vla.create_visualizer("whiskers", samples=2, every=3, steps=12, size=TINY).visualize(
        "scripted", seed=1, out_dir=tmp_path, progress=False)
    frames, files = result["frames"], result["files"]
    assert result["error"] == ""
    assert len(frames) == 4 and all(f.shape == (*TINY, 3) and f.dtype == np.uint8 for f in frames)
    assert [p.name for p in files["frames"]] == [f"step_{t:06d}.png" for t in (0, 3, 6, 9)]
    np.testing.assert_array_equal(np.asarray(Image.open(files["frames"][2])), frames[2])
    with av.open(str(files["video"])) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 4 and decoded[0].shape == (*TINY, 3)
    assert files["summary"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    document = json.loads(files["metrics"].read_text())
    assert document["schema"] == "salt_vla.whiskers/1" and document["policy"] == "scripted"
    assert document["horizon"] == 50 and document["control_steps"] == 12 and len(document["executed"]) == 13
    rows = document["steps"]
    assert [r["step"] for r in rows] == [0, 3, 6, 9] and rows[1]["frame"] == "frames/step_000003.png"
    for row in rows:
        assert row["spread_m"] == 0.0  # a deterministic policy: both samples are the same whisker
        assert row["deviation_m"] == pytest.approx(0.0, abs=1e-9)  # the expert executes what it predicted
        assert row["overlap"] == 12 - row["step"]
        assert 0 < row["jerk_m2_s6"] < 1e4 and 0 < row["end_to_block_m"] < 0.3 and row["end_to_bowl_xy_m"] > 0
    assert document["summary"]["spread_m"]["max"] == 0.0


def test_a_random_policy_has_far_more_jerk_than_the_expert() -> None:
    config = replace(FAST, every=10, steps=60)
    expert = run_whiskers("scripted", 0, config, progress=False).summary()["jerk_m2_s6"]["mean"]
    random = run_whiskers("random", 0, config, progress=False).summary()["jerk_m2_s6"]["mean"]
    assert random > 20 * expert, (random, expert)


def test_the_episode_stops_where_an_evaluation_of_it_stops_unless_the_full_episode_is_asked_for() -> None:
    """Seed 0's expert succeeds at step 214 of 400: the whiskers end there, as the evaluator's episode does,
    so the metrics do not average 186 steps of a robot resting over the bowl; full_episode runs all 400."""
    config = replace(FAST, every=50)
    (evaluated,) = salt_vla.create_evaluator("so101_pick_place", render=False).evaluate(
        "scripted", 1, seed=0, progress=False).episodes
    assert evaluated.outcome is Outcome.SUCCESS and evaluated.steps < config.episode_steps
    stopped = run_whiskers("scripted", 0, config, progress=False)
    assert stopped.success_step == evaluated.steps == len(stopped.executed) - 1
    assert [s.step for s in stopped.steps] == list(range(0, evaluated.steps, 50))
    assert stopped.to_json()["success_step"] == evaluated.steps and stopped.error == ""
    full = run_whiskers("scripted", 0, replace(config, full_episode=True), progress=False)
    assert full.success_step is None and full.to_json()["success_step"] is None
    assert len(full.executed) - 1 == config.episode_steps and len(full.steps) == config.episode_steps // 50
    np.testing.assert_array_equal(full.executed[:len(stopped.executed)], stopped.executed)  # same episode, on
    never = run_whiskers("hold", 0, replace(FAST, every=10, steps=30), progress=False)  # never succeeds: all
    assert never.success_step is None and len(never.executed) - 1 == 30


def test_frames_can_be_redrawn_from_another_camera_without_the_policy() -> None:
    episode = run_whiskers("scripted", 0, replace(FAST, render=True, every=5, steps=10, size=TINY), progress=False)
    perspective = render_frames(episode)
    overhead = render_frames(episode, camera="overhead_cam", size=(48, 64), ghosts=0)
    assert len(perspective) == len(overhead) == 2
    assert overhead[0].shape == (48, 64, 3) and not np.array_equal(perspective[0][:48, :64], overhead[0])
    notebook = whisker_frames("scripted", seed=0, every=5, steps=10, size=TINY)
    np.testing.assert_array_equal(notebook[1], perspective[1])


@pytest.mark.slow
def test_a_flow_matching_policy_gives_k_distinct_seeded_samples_per_step(smolvla_dir) -> None:
    policy = salt_vla.create_policy(f"smolvla:{smolvla_dir}")
    config = replace(FAST, samples=3, every=2, steps=4, task=TaskConfig(image_size=(48, 64)))
    episode = run_whiskers(policy, 0, config, progress=False)
    assert episode.error == ""
    assert [s.step for s in episode.steps] == [0, 2]
    for record in episode.steps:
        assert record.paths.shape == (3, 8 + 1, 3)
        assert record.metrics["spread_m"] > 0.0
        assert not np.allclose(record.paths[0], record.paths[1])
    again = run_whiskers(policy, 0, config, progress=False)
    np.testing.assert_array_equal(again.steps[1].paths, episode.steps[1].paths)  # seeded per step
    assert chunk_seed(0, 2) != chunk_seed(0, 0) and chunk_seed(1, 0) != chunk_seed(0, 0)


class FlatChunkPolicy(HoldPolicy):
    """Returns [L, A] instead of [num_samples, L, A]."""

    def predict_chunk(self, observation, *, num_samples=1, seed=None):
        return super().predict_chunk(observation)[0]


class OneSample(HoldPolicy):
    """Ignores num_samples."""

    def predict_chunk(self, observation, *, num_samples=1, seed=None):
        return super().predict_chunk(observation)


class FailsAtStepFive(HoldPolicy):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def act(self, observation):
        self.calls += 1
        if self.calls > 5:
            raise RuntimeError("CUDA out of memory")
        return super().act(observation)


def test_policy_errors_end_the_episode_and_keep_what_was_recorded() -> None:
    episode = run_whiskers(FlatChunkPolicy(), 0, replace(FAST, steps=5), progress=False)
    assert episode.steps == [] and "step 0: ValueError" in episode.error and "chunk[None]" in episode.error
    episode = run_whiskers(FailsAtStepFive(), 0, replace(FAST, steps=20), progress=False)
    assert episode.error == "step 5: RuntimeError: CUDA out of memory"
    assert [s.step for s in episode.steps] == [0, 1, 2, 3, 4, 5] and len(episode.executed) == 6
    assert episode.steps[-1].metrics["deviation_m"] is None and episode.to_json()["error"] == episode.error
    episode = run_whiskers(OneSample(), 0, replace(FAST, samples=3, steps=3), progress=False)
    assert episode.error == "step 0: ValueError: predict_chunk(num_samples=3) returned 1 samples (shape (1, 1, 6))"


def test_bad_policies_and_cameras_are_refused_before_the_episode() -> None:
    class NoChunks:
        action_names, camera_names = HoldPolicy.action_names, ()

        def reset(self): ...
        def act(self, observation): ...

    with pytest.raises(TypeError, match="'NoChunks' has no predict_chunk"):
        run_whiskers(NoChunks(), 0, FAST)
    with pytest.raises(ValueError, match=r"camera 'front'.*'perspective', 'overhead_cam', 'wrist_cam'"):
        run_whiskers("hold", 0, replace(FAST, render=True, camera="front"))
    with pytest.raises(ValueError, match=r"samples must be an int >= 1; got 0.*every must be an int >= 1; got -1"):
        WhiskerConfig(samples=0, every=-1)
