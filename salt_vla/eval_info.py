"""``eval_info.json``: an evaluation report in the layout LeRobot's ``lerobot-eval`` writes.

Scripts written for LeRobot's evaluation output read our results unchanged. The file holds both layouts
LeRobot has written (the keys do not overlap):

- the multi-task layout of ``lerobot-eval`` (LeRobot >= 0.4): ``{"per_task": [{"task_group", "task_id",
  "metrics": {"sum_rewards", "max_rewards", "successes", "video_paths", ...}}], "per_group": {group:
  {...}}, "overall": {"avg_sum_reward", "avg_max_reward", "pc_success", "n_episodes", "eval_s",
  "eval_ep_s", "video_paths", ...}}``;
- the single-task layout of its ``eval_policy``: ``{"per_episode": [{"episode_ix", "sum_reward",
  "max_reward", "success", "seed"}], "aggregated": {"avg_sum_reward", "avg_max_reward", "pc_success",
  "eval_s", "eval_ep_s"}, "video_paths"}``.

The task group is the report's task (``so101_pick_place``), task id 0. Rewards follow the SO-101 gym
environment: 1.0 on the step the episode succeeds, else 0.0, so ``sum_reward == max_reward == success``.
``pc_success`` is a percentage (0-100), as LeRobot writes it. Video paths are as the report recorded
them (relative to the directory the evaluation ran in, like LeRobot's), for the episodes that have one.
Each ``per_episode`` row also carries our ``outcome``; the full report stays in ``report.json``. Three keys
of ours mark an unfinished evaluation: ``partial`` (true when it holds fewer episodes than planned: it was
interrupted or crashed, and a re-run continues it), ``n_planned_episodes`` and ``stopped`` (why).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from salt_vla.evaluation import EvalReport, Outcome
from salt_vla.io import atomic_write_json

EVAL_INFO = "eval_info.json"
TASK_ID = 0


def eval_info(report: EvalReport) -> dict[str, Any]:
    """The ``eval_info.json`` document of ``report`` (see the module docstring)."""
    episodes = report.episodes
    n = len(episodes)
    successes = [e.outcome is Outcome.SUCCESS for e in episodes]
    rewards = [1.0 if s else 0.0 for s in successes]
    videos = [e.video for e in episodes if e.video]
    # LeRobot writes NaN for no episodes; strict JSON has no NaN, so an empty report has nulls.
    average = sum(rewards) / n if n else None
    pc_success = 100.0 * sum(successes) / n if n else None
    eval_s = report.wall_time_s
    eval_ep_s = eval_s / max(1, n)
    summary = {"avg_sum_reward": average, "avg_max_reward": average, "pc_success": pc_success}
    group = {**summary, "n_episodes": n, "video_paths": videos, "predicted_video_paths": []}
    return {
        "per_task": [{
            "task_group": report.task,
            "task_id": TASK_ID,
            "metrics": {"sum_rewards": rewards, "max_rewards": rewards, "successes": successes,
                        "video_paths": videos, "predicted_video_paths": []},
        }],
        "per_group": {report.task: group},
        "overall": {**group, "eval_s": eval_s, "eval_ep_s": eval_ep_s},
        "per_episode": [
            {"episode_ix": i, "sum_reward": reward, "max_reward": reward, "success": success, "seed": e.seed,
             "outcome": e.outcome.value}
            for i, (e, reward, success) in enumerate(zip(episodes, rewards, successes))
        ],
        "aggregated": {**summary, "eval_s": eval_s, "eval_ep_s": eval_ep_s},
        "video_paths": videos,
        # Not LeRobot's: an interrupted or crashed evaluation's file holds only the episodes done.
        "partial": report.partial,
        "n_planned_episodes": report.planned if report.planned is not None else n,
        "stopped": report.stopped,
    }


def write_eval_info(report: EvalReport, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``eval_info.json`` into ``out_dir`` (atomically). Returns its path."""
    return atomic_write_json(Path(out_dir) / EVAL_INFO, eval_info(report))


__all__ = ["EVAL_INFO", "eval_info", "write_eval_info"]
