"""``salt-vla eval-policy`` and ``salt-vla record`` (added to the CLI by the plugin's ``register_commands``).

Heavy imports happen inside the commands, so ``salt-vla --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from salt_vla.cli.errors import error_block
from salt_vla.cli.policy_options import explained_policy_options, policy_kwargs, policy_options
from salt_vla.extras import MissingExtraError, require_extras


def _image_size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        height, width = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HxW such as 240x320; got {value!r}") from None
    return height, width


def _task_overrides(max_steps: int | None, image_size: tuple[int, int] | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    if image_size is not None:
        overrides["image_size"] = image_size
    return overrides


_common = [
    click.option("--seed", type=int, default=0, show_default=True, help="First episode seed (episodes use seed, seed+1, ...)."),
    click.option("--max-steps", type=int, default=None, help="Control steps per episode (default 400)."),
    click.option("--image-size", callback=_image_size, default=None, help="Camera images HxW (default 240x320)."),
]


def _require(command: str, *extras: str) -> None:
    try:
        require_extras(f"salt-vla {command}", extras)
    except MissingExtraError as exc:
        raise click.ClickException(str(exc)) from None


def _with_common(command: Any) -> Any:
    for option in reversed(_common):
        command = option(command)
    return command


@click.command("eval-policy")
@click.option("--policy", "policies", multiple=True, required=True, metavar="SPEC",
              help="Policy SPEC: scripted, random, hold, act:<hub id or dir>, ... Repeat for a sweep (one table).")
@click.option("--episodes", type=int, default=20, show_default=True)
@_with_common
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Directory for report.html/.json/.md, outcomes.png, eval_info.json.")
@click.option("--workers", type=int, default=1, show_default=True, help="Parallel worker processes (same results).")
@click.option("--video/--no-video", default=None,
              help="Write videos/episode_<seed:06d>.mp4 of every episode (--video) or of none (--no-video). "
                   "Default: of the first --videos-per-outcome episodes of each outcome, replayed at the end.")
@click.option("--videos-per-outcome", type=click.IntRange(min=0), default=2, show_default=True,
              help="Without --video/--no-video: episodes per outcome replayed into videos for report.html.")
@policy_options
def eval_policy_command(policies: tuple[str, ...], episodes: int, seed: int, max_steps: int | None,
                        image_size: tuple[int, int] | None, out: Path, workers: int, video: bool | None,
                        videos_per_outcome: int, device: str | None, camera_map: str | None,
                        policy_option: dict[str, Any]) -> None:
    """Evaluate policies on SO-101 pick-and-place in MuJoCo and write a report with the failure taxonomy.

    \b
    salt-vla eval-policy --policy scripted --episodes 20 --out eval/
    salt-vla eval-policy --policy act:outputs/act/pretrained_model --device cuda --workers 4 \\
        --camera-map front=overhead_cam,wrist=wrist_cam --policy-option n_action_steps=10 --out eval/
    """
    _require("eval-policy", "sim")
    from salt_vla.evaluation import sweep_table
    from salt_vla.registry import PluginError
    from salt_vla_so101.compatibility import PolicyMismatchError
    from salt_vla_so101.evaluator import SO101Evaluator

    kwargs = policy_kwargs(device, camera_map, policy_option)
    evaluator = SO101Evaluator(**_task_overrides(max_steps, image_size))
    options = {"workers": workers, "video": video, "videos_per_outcome": videos_per_outcome, "policy_kwargs": kwargs}
    try:
        with explained_policy_options(kwargs):
            if len(policies) == 1:
                reports = [evaluator.evaluate(policies[0], episodes, seed, out_dir=out, **options)]
            else:
                reports = evaluator.sweep(list(policies), episodes, seed, out_dir=out, **options)
    except (PolicyMismatchError, PluginError, MissingExtraError, ValueError, FileNotFoundError) as exc:
        raise error_block(exc) from exc
    click.echo(sweep_table(reports), nl=False)
    page = "report.html" if len(policies) == 1 else "sweep.html"
    click.echo(f"Report written to {out}; open {out / page} in a browser to watch the episodes")


@click.command("record")
@click.option("--policy", default="scripted", show_default=True, metavar="SPEC", help="Policy SPEC to record.")
@click.option("--episodes", type=int, required=True, help="Episodes to save.")
@_with_common
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New directory for the LeRobotDataset.")
@click.option("--keep-only-successes", is_flag=True, help="Discard failed episodes; try more seeds until enough succeed.")
@click.option("--fps", type=int, default=None, help="Frames per second = control rate (default 30).")
@click.option("--repo-id", default="local/so101_pick_place", show_default=True, help="Dataset repo id (metadata).")
@click.option("--task", "task_string", default=None, metavar="TEXT",
              help="Task string stored on every frame and shown to the policy (default: the task's own, "
                   "'pick up the block and place it in the bowl').")
@click.option("--max-attempts", type=int, default=None,
              help="Most episodes to run with --keep-only-successes (default 3 x episodes + 10).")
@policy_options
def record_command(policy: str, episodes: int, seed: int, max_steps: int | None, image_size: tuple[int, int] | None,
                   out: Path, keep_only_successes: bool, fps: int | None, repo_id: str, task_string: str | None,
                   max_attempts: int | None, device: str | None, camera_map: str | None,
                   policy_option: dict[str, Any]) -> None:
    """Record episodes of a policy as a LeRobotDataset (v3): both cameras, joint state, action, task string."""
    _require("record", "sim", "lerobot")
    from dataclasses import replace

    import salt_vla
    from salt_vla.registry import PluginError
    from salt_vla_so101.compatibility import PolicyMismatchError
    from salt_vla_so101.config import TaskConfig
    from salt_vla_so101.recorder import record_dataset

    if max_attempts is not None and max_attempts < episodes:
        raise click.BadParameter(f"--max-attempts {max_attempts} is fewer than --episodes {episodes}; give at "
                                 f"least {episodes}.", param_hint="--max-attempts")
    kwargs = policy_kwargs(device, camera_map, policy_option)
    task = replace(TaskConfig(), **_task_overrides(max_steps, image_size))
    try:
        with explained_policy_options(kwargs):
            instance = salt_vla.create_policy(policy, **kwargs)
        summary = record_dataset(instance, episodes, out, seed=seed, keep_only_successes=keep_only_successes,
                                 fps=fps, task=task, repo_id=repo_id, policy_name=policy,
                                 max_attempts=max_attempts, task_string=task_string)
    except (PolicyMismatchError, PluginError, MissingExtraError, ValueError, FileExistsError, RuntimeError) as exc:
        raise error_block(exc) from exc
    counts = ", ".join(f"{k}: {v}" for k, v in summary.report.aggregates["outcome_counts"].items() if v)
    click.echo(f"Saved {summary.saved} of {summary.attempted} episodes ({counts}) to {summary.root}")
