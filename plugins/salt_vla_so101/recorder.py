"""Record policy rollouts as a LeRobotDataset (v3): both cameras, joint state, actions, the task string.

``record_dataset(create_policy("scripted"), 50, "data/so101")`` runs seeded episodes (the same loop as the
evaluator: :func:`salt_vla_so101.rollout.run_episode`) and writes frame ``t`` as the observation the policy
saw at step ``t`` and the action it chose. With ``keep_only_successes`` failed episodes are discarded and
more seeds are tried until ``episodes`` successes are saved (policy distillation: record a trained policy,
keep what worked). With ``action_noise`` the executed actions are perturbed while the recorded ones stay the
policy's own (DART's noise-injected demonstrations, :mod:`salt_vla_so101.noise`). The dataset is built in a hidden sibling directory and moved into place when complete,
so ``out_dir`` never holds half a dataset.

Features (LeRobot names): ``observation.images.overhead_cam`` and ``observation.images.wrist_cam``
(video, ``[H, W, 3]``), ``observation.state`` (float32 ``[6]``, LeRobot SO-101 units), ``action``
(float32, the policy's action names), and the task string on every frame.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from salt_vla import lerobot_compat
from salt_vla.evaluation import EpisodeResult, EvalReport, Outcome
from salt_vla.interfaces import Policy
from salt_vla.robot import SO101_ACTION_NAMES, SO101_CAMERAS
from salt_vla_so101.compatibility import check_policy
from salt_vla_so101.config import TaskConfig
from salt_vla_so101.noise import ActionNoise
from salt_vla_so101.outcomes import OutcomeThresholds

if TYPE_CHECKING:  # the rollout imports MuJoCo: only the functions that run episodes import it
    from salt_vla_so101.rollout import EpisodeRecord, StepCallback
    from salt_vla_so101.task import PickPlaceTask

ROBOT_TYPE = "so101_follower"


@dataclass
class RecordSummary:
    """What :func:`record_dataset` did.

    Attributes:
        root: the dataset directory.
        saved: episodes written.
        attempted: episodes run (more than ``saved`` when failures were discarded).
        report: outcomes of every attempted episode, as an evaluation report.
    """

    root: Path
    saved: int
    attempted: int
    report: EvalReport


FRAME_STORAGE = ("video", "image")
"""How camera frames are stored: ``"video"`` (H.264 MP4s, small, decoded per training sample) or ``"image"``
(lossless PNGs inside the parquet files: several times larger, but a training sample costs two small PNG
decodes instead of seeking in a video; LeRobot's own loaders read both)."""


def dataset_features(config: TaskConfig, action_names: tuple[str, ...] = SO101_ACTION_NAMES, *,
                     frames: str = "video") -> dict[str, dict]:
    """LeRobot feature specs for ``config``'s cameras (stored as ``frames``), the joint state and ``action_names``."""
    if frames not in FRAME_STORAGE:
        raise ValueError(f"frames must be one of {FRAME_STORAGE}; got {frames!r}.")
    height, width = config.image_size
    features: dict[str, dict] = {
        f"observation.images.{camera}": {"dtype": frames, "shape": (height, width, 3),
                                         "names": ["height", "width", "channels"]}
        for camera in config.cameras
    }
    features["observation.state"] = {"dtype": "float32", "shape": (len(SO101_ACTION_NAMES),),
                                     "names": list(SO101_ACTION_NAMES)}
    features["action"] = {"dtype": "float32", "shape": (len(action_names),), "names": list(action_names)}
    return features


@dataclass(frozen=True)
class _Recording:
    """What every process needs to write episodes into a dataset (pickled once to each worker)."""

    policy: bytes
    config: TaskConfig
    thresholds: OutcomeThresholds | None
    repo_id: str
    features: dict[str, dict]
    frames: str
    vcodec: str
    task_string: str | None = None
    action_noise: ActionNoise | None = None

    def run(self, sim: PickPlaceTask, policy: Policy, seed: int,
            on_step: StepCallback | None = None) -> EpisodeRecord:
        """Episode ``seed`` of ``policy`` on ``sim`` with the recording's thresholds and execution noise."""
        from salt_vla_so101.rollout import run_episode

        return run_episode(sim, policy, seed, thresholds=self.thresholds, on_step=on_step,
                           execution_noise=self.action_noise)

    def task(self, config: TaskConfig | None = None) -> Any:
        """A new simulated task of ``config`` (default the recording's) showing the recording's instruction."""
        from salt_vla_so101.task import PickPlaceTask

        sim = PickPlaceTask(config or self.config)
        if self.task_string is not None:
            sim.task_string = self.task_string
        return sim

    def create(self, root: Path) -> Any:
        return lerobot_compat.create_dataset(self.repo_id, root, int(self.config.control_hz), self.features,
                                             robot_type=ROBOT_TYPE, vcodec=self.vcodec,
                                             use_videos=self.frames == "video")


class _EpisodeWriter:
    """A task, a policy and an open dataset in one process: ``writer(seed)`` runs episode ``seed`` into it."""

    def __init__(self, recording: _Recording, root: Path, policy: Policy | None = None) -> None:
        self.recording = recording
        self.policy = policy if policy is not None else pickle.loads(recording.policy)
        self.sim = recording.task()
        self.dataset = recording.create(root)

    def _add(self, observation: Any, action: Any) -> None:
        frame = {f"observation.images.{c}": observation.images[c] for c in self.recording.config.cameras}
        frame["observation.state"] = observation.state
        frame["action"] = action
        lerobot_compat.add_frame(self.dataset, frame, observation.task)

    def __call__(self, seed: int, keep: Callable[[EpisodeResult], bool]) -> EpisodeResult:
        """Run episode ``seed``; save it when ``keep(result)``, else discard it."""
        record = self.recording.run(self.sim, self.policy, seed, on_step=self._add)
        if keep(record.result):
            lerobot_compat.save_episode(self.dataset)
        else:
            lerobot_compat.discard_episode(self.dataset)
        return record.result

    def close(self) -> None:
        lerobot_compat.finalize(self.dataset)
        self.sim.close()


def _record_part(recording: _Recording, seeds: Sequence[int], root: str) -> list[EpisodeResult]:
    """Worker: write the episodes of ``seeds`` (all kept) into a new dataset at ``root``."""
    import torch

    torch.set_num_threads(1)  # one process per core: torch's own pool would oversubscribe them
    with lerobot_compat.quiet_recording():
        writer = _EpisodeWriter(recording, Path(root))
        try:
            return [writer(seed, keep=lambda result: True) for seed in seeds]
        finally:
            writer.close()


def _screen_episode(recording: _Recording, seed: int) -> EpisodeResult:
    """Worker: run episode ``seed`` without writing anything (its outcome decides whether it is recorded)."""
    global _SCREEN
    if _SCREEN is None:
        import torch

        torch.set_num_threads(1)
        _SCREEN = (recording.task(), pickle.loads(recording.policy))
    sim, policy = _SCREEN
    return recording.run(sim, policy, seed).result


_SCREEN: tuple[Any, Policy] | None = None


def _contiguous_blocks(items: Sequence[int], parts: int) -> list[list[int]]:
    """``items`` cut into at most ``parts`` contiguous, non-empty blocks of near-equal size, in order."""
    parts = max(1, min(parts, len(items)))
    size, extra = divmod(len(items), parts)
    blocks, start = [], 0
    for k in range(parts):
        end = start + size + (1 if k < extra else 0)
        blocks.append(list(items[start:end]))
        start = end
    return blocks


def record_dataset(
    policy: Policy,
    episodes: int,
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    keep_only_successes: bool = False,
    fps: int | None = None,
    task: TaskConfig | None = None,
    thresholds: OutcomeThresholds | None = None,
    repo_id: str = "local/so101_pick_place",
    max_attempts: int | None = None,
    vcodec: str = "h264",
    frames: str = "video",
    workers: int = 1,
    progress: bool = True,
    policy_name: str | None = None,
    task_string: str | None = None,
    action_noise: ActionNoise | None = None,
) -> RecordSummary:
    """Record ``episodes`` episodes of ``policy`` into a new LeRobotDataset at ``out_dir``.

    Args:
        seed: first episode seed; episode ``i`` attempted uses ``seed + i``.
        keep_only_successes: discard episodes that did not end in SUCCESS (and try further seeds).
        fps: frames (= control steps) per second; default the task's ``control_hz`` (30).
        task: the task (cameras rendered: ``task.cameras``, default both; size ``task.image_size``).
        max_attempts: cap on episodes run with ``keep_only_successes`` (default ``3 * episodes + 10``).
        vcodec: video codec LeRobot encodes with (``"h264"``; ``"libsvtav1"`` is smaller but slower).
        frames: ``"video"`` or ``"image"`` (lossless PNG frames: faster to train from; see
            :data:`FRAME_STORAGE`).
        task_string: the language instruction stored on every frame and given to the policy (default
            :data:`salt_vla_so101.config.TASK_STRING`).
        action_noise: perturb every executed joint action by this noise (a function of the episode seed), while
            the dataset records the policy's clean action: DART's noise-injected demonstrations, which show the
            states a drifting policy reaches and the expert's way back. Episodes the noise made fail are
            discarded like any other with ``keep_only_successes``.
        workers: processes recording at once (each a core). The dataset is the one a serial recording of the
            same seeds writes (same episodes in the same order, same frames and values; the statistics equal
            to float rounding): with ``keep_only_successes`` the seeds are first screened in parallel without
            writing (privileged policies such as the scripted expert run physics only), the successful seeds
            are cut into contiguous blocks, each block is recorded into its own dataset, and LeRobot's
            ``aggregate_datasets`` joins the blocks in seed order. ``policy`` must be picklable.

    Raises:
        FileExistsError: ``out_dir`` exists (LeRobot never records into an existing directory).
        RuntimeError: ``keep_only_successes`` found fewer than ``episodes`` successes in ``max_attempts``
            (the partial dataset is not kept).
    """
    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"Dataset directory {str(out)!r} exists; LeRobot records into a new directory. "
                              "Choose another --out or delete it.")
    if episodes < 1 or workers < 1:
        raise ValueError(f"record_dataset needs episodes >= 1 and workers >= 1; got {episodes} and {workers}.")
    if task_string is not None and not task_string.strip():
        raise ValueError("task_string is empty; give the instruction the episodes show, e.g. "
                         "'pick up the block and place it in the bowl', or leave it out for that default.")
    needs = check_policy(policy)
    config = replace(task or TaskConfig(cameras=SO101_CAMERAS), render=True)
    if fps is not None:
        config = replace(config, control_hz=float(fps))
    if config.control_hz != int(config.control_hz):
        raise ValueError(f"LeRobot datasets need an integer fps; the task's control_hz is {config.control_hz}.")
    attempts_cap = max_attempts or (3 * episodes + 10 if keep_only_successes else episodes)
    recording = _Recording(policy=_pickled(policy) if workers > 1 else b"", config=config, thresholds=thresholds,
                           repo_id=repo_id, features=dataset_features(config, tuple(policy.action_names), frames=frames),
                           frames=frames, vcodec=vcodec, task_string=task_string, action_noise=action_noise)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    root = staging / "dataset"
    label = policy_name or type(policy).__name__
    start = time.perf_counter()
    try:
        with lerobot_compat.quiet_recording():
            if workers == 1:
                results, saved = _record_serially(recording, policy, root, episodes, seed, keep_only_successes,
                                                  attempts_cap, label, progress)
            else:
                results, saved = _record_in_parallel(recording, needs.rendered, staging, root, episodes, seed,
                                                     keep_only_successes, attempts_cap, workers, label, progress)
        os.replace(root, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report = EvalReport(policy=label, task="so101_pick_place", episodes=results,
                        config={"task": config.to_dict(), "recorded": saved, "dataset": str(out), "frames": frames,
                                "workers": workers,
                                "action_noise": action_noise.to_dict() if action_noise is not None else None},
                        wall_time_s=time.perf_counter() - start)
    return RecordSummary(out, saved, len(results), report)


def _too_few(saved: int, episodes: int, attempts: int) -> RuntimeError:
    return RuntimeError(f"Only {saved} of {episodes} episodes succeeded in {attempts} attempts; nothing was "
                        "written. Raise max_attempts (--max-attempts), or record without keep_only_successes.")


def _record_serially(recording: _Recording, policy: Policy, root: Path, episodes: int, seed: int,
                     keep_only_successes: bool, attempts_cap: int, label: str,
                     progress: bool) -> tuple[list[EpisodeResult], int]:
    """One process: run seeds in order, saving each kept episode, until ``episodes`` are saved."""
    writer = _EpisodeWriter(recording, root, policy)
    results: list[EpisodeResult] = []
    saved = 0

    def keep(result: EpisodeResult) -> bool:
        return not keep_only_successes or result.outcome is Outcome.SUCCESS

    try:
        with tqdm(total=episodes, desc=f"record {label}", unit="ep", disable=not progress) as bar:
            while saved < episodes and len(results) < attempts_cap:
                results.append(writer(seed + len(results), keep))
                bar.set_postfix(attempts=len(results), refresh=not keep(results[-1]))
                if keep(results[-1]):
                    saved += 1
                    bar.update(1)
    finally:
        writer.close()
    if saved < episodes:
        raise _too_few(saved, episodes, len(results))
    return results, saved


def _record_in_parallel(recording: _Recording, rendered: tuple[str, ...], staging: Path, root: Path,
                        episodes: int, seed: int, keep_only_successes: bool, attempts_cap: int, workers: int,
                        label: str, progress: bool) -> tuple[list[EpisodeResult], int]:
    """Screen seeds (when only successes are kept), record contiguous blocks in parallel, join them in order."""
    context = multiprocessing.get_context("spawn")  # no fork: GL contexts and torch threads do not survive it
    screened: list[EpisodeResult] = []
    if keep_only_successes:
        # A policy that reads no camera (the scripted expert is privileged) is screened on physics alone.
        screening = replace(recording, config=replace(recording.config, render=bool(rendered),
                                                      cameras=rendered or recording.config.cameras))
        with ProcessPoolExecutor(workers, mp_context=context) as pool, \
                tqdm(total=episodes, desc=f"screen {label}", unit="ep", disable=not progress) as bar:
            while len(screened) < attempts_cap:
                wanted = episodes - sum(r.outcome is Outcome.SUCCESS for r in screened)
                if wanted <= 0:
                    break
                batch = list(range(seed + len(screened), seed + min(attempts_cap, len(screened) + wanted + workers)))
                for result in pool.map(_screen_episode, [screening] * len(batch), batch):
                    screened.append(result)
                    bar.update(result.outcome is Outcome.SUCCESS)
        successes = [r.seed for r in screened if r.outcome is Outcome.SUCCESS][:episodes]
        if len(successes) < episodes:
            raise _too_few(len(successes), episodes, len(screened))
        # The attempts a serial recording makes: every seed up to the last success kept.
        screened = [r for r in screened if r.seed <= successes[-1]]
        chosen = successes
    else:
        chosen = list(range(seed, seed + episodes))
    blocks = _contiguous_blocks(chosen, workers)
    part_roots = [staging / f"part_{k:03d}" for k in range(len(blocks))]
    recorded: list[EpisodeResult] = []
    with ProcessPoolExecutor(len(blocks), mp_context=context) as pool, \
            tqdm(total=len(chosen), desc=f"record {label}", unit="ep", disable=not progress) as bar:
        for part in pool.map(_record_part, [recording] * len(blocks), blocks, [str(p) for p in part_roots]):
            recorded.extend(part)
            bar.update(len(part))
    if keep_only_successes:
        lost = [r.seed for r in recorded if r.outcome is not Outcome.SUCCESS]
        if lost:
            raise RuntimeError(f"Episodes {lost} succeeded when screened but not when recorded: the policy is not "
                               "deterministic given the seed, so a parallel recording cannot pick its seeds "
                               "ahead. Record with workers=1.")
    lerobot_compat.aggregate(part_roots, root, recording.repo_id)
    by_seed = {r.seed: r for r in recorded}
    results = [by_seed.get(r.seed, r) for r in screened] if keep_only_successes else recorded
    return results, len(chosen)


def _pickled(policy: Policy) -> bytes:
    try:
        return pickle.dumps(policy)
    except Exception as exc:
        raise TypeError(f"workers > 1 sends the policy to worker processes, but {type(policy).__name__} cannot be "
                        f"pickled ({type(exc).__name__}: {exc}). Use workers=1.") from exc
