"""The SO-101 evaluator: reset() discipline, bad policies, instability, cameras, parallel = serial, files."""

from __future__ import annotations

import os
from collections.abc import Sequence

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from salt_vla_so101.compatibility import PolicyMismatchError, check_policy, suggest_camera_mapping
from salt_vla_so101.evaluator import SO101Evaluator, threads_per_worker
from salt_vla_so101.outcomes import OutcomeThresholds
from salt_vla_so101.policies import HoldPolicy
from salt_vla_so101.rollout import instability, warning_counts
from salt_vla_so101.task import PickPlaceTask

import salt_vla
from salt_vla.evaluation import EvalReport, Outcome
from salt_vla.robot import SO101_ACTION_NAMES, Observation

pytestmark = pytest.mark.sim


class ResetCountingPolicy:
    """Holds the start pose and records, for every act(), how many resets came before it."""

    action_names: Sequence[str] = SO101_ACTION_NAMES
    camera_names: Sequence[str] = ()

    def __init__(self) -> None:
        self.resets = 0
        self.acts_per_episode: list[int] = []
        self.first_states: list[np.ndarray] = []

    def reset(self) -> None:
        self.resets += 1
        self.acts_per_episode.append(0)

    def act(self, observation: Observation) -> np.ndarray:
        if not self.acts_per_episode:
            raise AssertionError("act() before any reset()")
        if self.acts_per_episode[-1] == 0:
            self.first_states.append(observation.state.copy())
        self.acts_per_episode[-1] += 1
        return observation.state.astype(np.float64)

    def predict_chunk(self, observation: Observation, *, num_samples: int = 1, seed: int | None = None) -> np.ndarray:
        return np.repeat(observation.state[None, None], num_samples, axis=0)


class FailingPolicy(HoldPolicy):
    """Raises, or returns NaN / the wrong size, from a given step of odd-seeded episodes."""

    def __init__(self, mode: str, at_step: int = 3) -> None:
        super().__init__()
        self.mode, self.at_step, self.episode, self.t = mode, at_step, -1, 0

    def reset(self) -> None:
        super().reset()
        self.episode += 1
        self.t = 0
        if self.mode == "reset" and self.episode == 1:
            raise RuntimeError("CUDA out of memory")

    def act(self, observation: Observation) -> np.ndarray:
        action = super().act(observation)
        self.t += 1
        if self.episode % 2 == 1 and self.t > self.at_step:
            if self.mode == "raise":
                raise KeyError("observation.images.front")
            if self.mode == "nan":
                action[2] = np.nan
            if self.mode == "shape":
                action = action[:5]
        return action


class CameraPolicy(HoldPolicy):
    """Reads the overhead RGB and the wrist depth, and remembers what it got."""

    camera_names: Sequence[str] = ("overhead_cam", "wrist_cam_depth")

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple] = []

    def act(self, observation: Observation) -> np.ndarray:
        image = observation.images["overhead_cam"]
        depth = observation.depth["wrist_cam"]
        self.seen.append((image.shape, image.dtype, depth.shape, depth.dtype, float(depth.min())))
        return super().act(observation)


@pytest.fixture(scope="module")
def short() -> SO101Evaluator:
    return SO101Evaluator(max_steps=12)


def test_reset_is_called_before_every_episode(short: SO101Evaluator) -> None:
    policy = ResetCountingPolicy()
    report = short.evaluate(policy, 3, seed=10, progress=False)
    assert policy.resets == 3
    assert policy.acts_per_episode == [12, 12, 12]
    home = np.asarray(short.config.task.home_pose)
    for state in policy.first_states:  # every episode starts from a fresh reset of the task
        np.testing.assert_allclose(state, home, atol=1e-3)
    assert [e.seed for e in report.episodes] == [10, 11, 12]


@pytest.mark.parametrize(("mode", "message"), [
    ("raise", "policy.act raised KeyError: 'observation.images.front'"),
    ("nan", "NaN/Inf"),
    ("shape", "shape (5,)"),
    ("reset", "policy.reset raised RuntimeError: CUDA out of memory"),
])
def test_policy_errors_are_recorded_and_the_run_continues(short: SO101Evaluator, mode: str, message: str) -> None:
    report = short.evaluate(FailingPolicy(mode), 3, seed=0, progress=False)
    outcomes = [e.outcome for e in report.episodes]
    assert outcomes == [Outcome.NEVER_PICKED_UP, Outcome.POLICY_ERROR, Outcome.NEVER_PICKED_UP]
    failed = report.episodes[1]
    assert message in failed.message
    assert failed.steps == (0 if mode == "reset" else 3) and failed.message.startswith(f"step {failed.steps}:")
    assert report.aggregates["policy_errors"] == 1


def test_hold_and_random_never_succeed() -> None:
    evaluator = SO101Evaluator(max_steps=150)
    for spec in ("hold", "random"):
        report = evaluator.evaluate(spec, 3, seed=0, progress=False)
        assert report.success_rate == 0.0
        assert {e.outcome for e in report.episodes} == {Outcome.NEVER_PICKED_UP}, spec
        assert all(e.steps == 150 for e in report.episodes)
    assert report.aggregates["mean_max_height"] < 0.02


def test_physics_instability_is_flagged_with_the_reason() -> None:
    # A 0.5 s timestep cannot hold the block on the table: it tunnels through.
    report = SO101Evaluator(control_hz=2, substeps=1, max_steps=10).evaluate("hold", 1, progress=False)
    episode = report.episodes[0]
    assert episode.unstable and "tunnelled through the table" in episode.message
    assert episode.steps < 10
    assert report.aggregates["unstable_episodes"] == 1


def test_mujoco_warnings_and_nan_state_are_instabilities() -> None:
    task = PickPlaceTask(render=False)
    thresholds = OutcomeThresholds()
    task.reset(0)
    dof = task.model.joint("block_free").dofadr[0]
    before = warning_counts(task.data)
    task.data.qvel[dof + 3] = 1e40  # a block spinning impossibly fast: MuJoCo warns and resets the state
    task.advance(task.data)
    assert instability(task, before, thresholds) == "MuJoCo warning(s): mjWARN_BADQVEL"
    task.reset(0)
    task.data.qpos[0] = np.nan  # without stepping: no warning yet, but the state is not a number
    assert instability(task, warning_counts(task.data), thresholds) == "NaN/Inf in the simulation state"
    task.reset(0)
    assert instability(task, warning_counts(task.data), thresholds) == ""


def test_mismatched_policies_are_refused_before_any_episode(short: SO101Evaluator) -> None:
    class Pi0Cameras(HoldPolicy):
        camera_names = ("base_0_rgb", "left_wrist_0_rgb")

    with pytest.raises(PolicyMismatchError) as info:
        short.evaluate(Pi0Cameras(), 1, progress=False)
    message = str(info.value)
    assert "['base_0_rgb', 'left_wrist_0_rgb']" in message and "['overhead_cam', 'wrist_cam']" in message
    assert "{'base_0_rgb': 'overhead_cam', 'left_wrist_0_rgb': 'wrist_cam'}" in message

    class EightDims(HoldPolicy):
        action_names = (*SO101_ACTION_NAMES, "extra", "more")

    with pytest.raises(PolicyMismatchError, match=r"\(8 values\).*joint actions"):
        check_policy(EightDims())


def test_camera_suggestions_and_depth_names() -> None:
    assert suggest_camera_mapping(["top", "hand_depth"]) == {"top": "overhead_cam", "hand_depth": "wrist_cam_depth"}
    assert suggest_camera_mapping(["cam0", "cam1"]) == {"cam0": "overhead_cam", "cam1": "wrist_cam"}
    needs = check_policy(CameraPolicy())
    assert needs.cameras == ("overhead_cam",) and needs.depth_cameras == ("wrist_cam",)
    # only a `_depth` suffix means depth: an RGB camera is never handed over as depth
    assert check_policy(HoldPolicy()).rendered == ()


def test_cameras_a_policy_reads_are_rendered_rgb_and_depth_separately() -> None:
    policy = CameraPolicy()
    report = SO101Evaluator(max_steps=2, image_size=(16, 20)).evaluate(policy, 1, progress=False)
    assert report.config["task"]["cameras"] == ["overhead_cam", "wrist_cam"] and report.config["task"]["depth"]
    assert policy.seen[0][:4] == ((16, 20, 3), np.uint8, (16, 20), np.float32)
    assert policy.seen[0][4] > 0.0  # metres from the wrist camera, not a normalised image


@pytest.mark.slow
def test_parallel_workers_give_the_serial_results() -> None:
    evaluator = SO101Evaluator(max_steps=250)

    def rows(report: EvalReport) -> list[dict]:
        return [{k: v for k, v in e.to_dict().items() if k != "wall_time_s"} for e in report.episodes]

    for spec in ("scripted", "random"):
        serial = evaluator.evaluate(spec, 3, seed=7, progress=False)
        parallel = evaluator.evaluate(spec, 3, seed=7, workers=2, progress=False)
        assert rows(parallel) == rows(serial), spec
    assert serial.config["workers"] == 1 and parallel.config["workers"] == 2


@given(workers=st.integers(1, 64), episodes=st.integers(1, 200))
def test_worker_threads_share_the_cores(workers: int, episodes: int) -> None:
    threads = threads_per_worker(workers, episodes)
    processes = min(workers, episodes)
    if processes == 1:
        assert threads is None  # one process keeps torch's own thread count
    else:
        cores = len(os.sched_getaffinity(0))
        assert threads >= 1 and (threads * processes <= cores or threads == 1)


def test_report_files_video_and_sweep(tmp_path) -> None:
    evaluator = SO101Evaluator(max_steps=8, image_size=(24, 32))
    report = evaluator.evaluate("hold", 2, seed=3, out_dir=tmp_path / "hold", video=True, progress=False)
    assert EvalReport.read(tmp_path / "hold").episodes == report.episodes
    video = tmp_path / "hold" / "videos" / "episode_000003.mp4"
    assert report.episodes[0].video == str(video)
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 9 and frames[0].shape == (24, 32, 3)  # reset frame + 8 steps
    with pytest.raises(ValueError, match="out_dir"):
        evaluator.evaluate("hold", 1, video=True, progress=False)

    reports = evaluator.sweep(["hold", "random"], 1, seed=0, out_dir=tmp_path / "sweep", progress=False)
    assert [r.policy for r in reports] == ["hold", "random"]
    assert "`random`" in (tmp_path / "sweep" / "sweep.md").read_text()
    assert (tmp_path / "sweep" / "random" / "report.json").exists()


def test_registered_names_and_errors() -> None:
    assert {"scripted", "random", "hold"} <= set(salt_vla.list_names("policy"))
    assert "so101_pick_place" in salt_vla.list_names("evaluator")
    assert isinstance(salt_vla.create_evaluator("so101_pick_place", max_steps=5), SO101Evaluator)
    with pytest.raises(ValueError, match="takes no source"):
        salt_vla.create_policy("scripted:some/repo")
    with pytest.raises(TypeError, match="cannot be pickled"):
        SO101Evaluator().evaluate(CameraPolicyWithLock(), 2, workers=2, progress=False)


class CameraPolicyWithLock(HoldPolicy):
    def __init__(self) -> None:
        import threading

        super().__init__()
        self.lock = threading.Lock()
