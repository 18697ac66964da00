"""Record policy rollouts as a LeRobotDataset (v3): both cameras, joint state, actions, the task string.

``record_dataset(create_policy("scripted"), 50, "data/so101")`` runs seeded episodes (the same loop as the
evaluator: :func:`salt_vla_so101.rollout.run_episode`) and writes frame ``t`` as the observation the policy
saw at step ``t`` and the action it chose. With ``keep_only_successes`` failed episodes are discarded and
more seeds are tried until ``episodes`` successes are saved (policy distillation: record a trained policy,
keep what worked). The dataset is built in a hidden sibling directory and moved into place when complete,
so ``out_dir`` never holds half a dataset.

Features (LeRobot names): ``observation.images.overhead_cam`` and ``observation.images.wrist_cam``
(video, ``[H, W, 3]``), ``observation.state`` (float32 ``[6]``, LeRobot SO-101 units), ``action``
(float32, the policy's action names), and the task string on every frame.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from salt_vla.evaluation import EvalReport, Outcome
from salt_vla.interfaces import Policy
from salt_vla.robot import SO101_ACTION_NAMES, SO101_CAMERAS
from salt_vla_so101 import lerobot_compat
from salt_vla_so101.compatibility import check_policy
from salt_vla_so101.config import TaskConfig
from salt_vla_so101.outcomes import OutcomeThresholds

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


def dataset_features(config: TaskConfig, action_names: tuple[str, ...] = SO101_ACTION_NAMES) -> dict[str, dict]:
    """LeRobot feature specs for ``config``'s cameras, the joint state and ``action_names``."""
    height, width = config.image_size
    features: dict[str, dict] = {
        f"observation.images.{camera}": {"dtype": "video", "shape": (height, width, 3),
                                         "names": ["height", "width", "channels"]}
        for camera in config.cameras
    }
    features["observation.state"] = {"dtype": "float32", "shape": (len(SO101_ACTION_NAMES),),
                                     "names": list(SO101_ACTION_NAMES)}
    features["action"] = {"dtype": "float32", "shape": (len(action_names),), "names": list(action_names)}
    return features


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
    progress: bool = True,
    policy_name: str | None = None,
    task_string: str | None = None,
) -> RecordSummary:
    """Record ``episodes`` episodes of ``policy`` into a new LeRobotDataset at ``out_dir``.

    Args:
        seed: first episode seed; episode ``i`` attempted uses ``seed + i``.
        keep_only_successes: discard episodes that did not end in SUCCESS (and try further seeds).
        fps: frames (= control steps) per second; default the task's ``control_hz`` (30).
        task: the task (cameras rendered: ``task.cameras``, default both; size ``task.image_size``).
        max_attempts: cap on episodes run with ``keep_only_successes`` (default ``3 * episodes + 10``).
        vcodec: video codec LeRobot encodes with (``"h264"``; ``"libsvtav1"`` is smaller but slower).
        task_string: the language instruction stored on every frame and given to the policy (default
            :data:`salt_vla_so101.config.TASK_STRING`).

    Raises:
        FileExistsError: ``out_dir`` exists (LeRobot never records into an existing directory).
        RuntimeError: ``keep_only_successes`` found fewer than ``episodes`` successes in ``max_attempts``
            (the partial dataset is not kept).
    """
    from salt_vla_so101.rollout import run_episode
    from salt_vla_so101.task import PickPlaceTask

    out = Path(out_dir)
    if out.exists():
        raise FileExistsError(f"Dataset directory {str(out)!r} exists; LeRobot records into a new directory. "
                              "Choose another --out or delete it.")
    if episodes < 1:
        raise ValueError(f"record_dataset needs episodes >= 1; got {episodes}.")
    if task_string is not None and not task_string.strip():
        raise ValueError("task_string is empty; give the instruction the episodes show, e.g. "
                         "'pick up the block and place it in the bowl', or leave it out for that default.")
    check_policy(policy)
    config = replace(task or TaskConfig(cameras=SO101_CAMERAS), render=True)
    if fps is not None:
        config = replace(config, control_hz=float(fps))
    if config.control_hz != int(config.control_hz):
        raise ValueError(f"LeRobot datasets need an integer fps; the task's control_hz is {config.control_hz}.")
    attempts_cap = max_attempts or (3 * episodes + 10 if keep_only_successes else episodes)
    sim = PickPlaceTask(config)
    if task_string is not None:
        sim.task_string = task_string
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    root = staging / "dataset"
    dataset = lerobot_compat.create_dataset(repo_id, root, int(config.control_hz),
                                            dataset_features(config, tuple(policy.action_names)),
                                            robot_type=ROBOT_TYPE, vcodec=vcodec)

    def add(observation: Any, action: Any) -> None:
        frame = {f"observation.images.{c}": observation.images[c] for c in config.cameras}
        frame["observation.state"] = observation.state
        frame["action"] = action
        lerobot_compat.add_frame(dataset, frame, observation.task)

    results = []
    saved = 0
    start = time.perf_counter()
    try:
        with lerobot_compat.quiet_recording():
            with tqdm(total=episodes, desc=f"record {policy_name or type(policy).__name__}", unit="ep",
                      disable=not progress) as bar:
                while saved < episodes and len(results) < attempts_cap:
                    record = run_episode(sim, policy, seed + len(results), thresholds=thresholds, on_step=add)
                    results.append(record.result)
                    bar.set_postfix(attempts=len(results), refresh=False)
                    if keep_only_successes and record.result.outcome is not Outcome.SUCCESS:
                        lerobot_compat.discard_episode(dataset)
                        bar.refresh()
                        continue
                    lerobot_compat.save_episode(dataset)
                    saved += 1
                    bar.update(1)
            lerobot_compat.finalize(dataset)
        if saved < episodes:
            raise RuntimeError(f"Only {saved} of {episodes} episodes succeeded in {len(results)} attempts; nothing "
                               "was written. Raise max_attempts (--max-attempts), or record without keep_only_successes.")
        os.replace(root, out)
    finally:
        sim.close()
        shutil.rmtree(staging, ignore_errors=True)
    report = EvalReport(policy=policy_name or type(policy).__name__, task="so101_pick_place", episodes=results,
                        config={"task": config.to_dict(), "recorded": saved, "dataset": str(out)},
                        wall_time_s=time.perf_counter() - start)
    return RecordSummary(out, saved, len(results), report)
