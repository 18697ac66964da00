"""``salt-vla whiskers`` (added to the CLI by the plugin's ``register_commands``). Heavy imports happen inside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from salt_vla.cli.errors import error_block
from salt_vla.cli.policy_options import explained_policy_options, policy_kwargs, policy_options
from salt_vla.extras import MissingExtraError, require_extras


class SizeParam(click.ParamType):
    """``HxW`` (``240x320``) -> ``(240, 320)``."""

    name = "HxW"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        parts = str(value).lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            self.fail(f"expected HxW such as 240x320; got {value!r}", param, ctx)
        return int(parts[0]), int(parts[1])


SIZE = SizeParam()


def _mean(summary: dict[str, Any], name: str, scale: float, unit: str) -> str:
    value = summary[name]["mean"]
    return "n/a" if value is None else f"{value * scale:.3g} {unit}"


@click.command("whiskers")
@click.option("--policy", required=True, metavar="SPEC", help="Policy SPEC: scripted, random, act:<dir or hub id>, ...")
@click.option("--seed", type=int, default=0, show_default=True, help="Episode seed (the evaluator's layout).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Directory for frames/, MP4, metrics.json.")
@click.option("--samples", type=int, default=1, show_default=True, help="Chunks sampled per prediction (K).")
@click.option("--every", type=int, default=1, show_default=True, help="Predict and draw every N control steps.")
@click.option("--steps", type=int, default=None,
              help="Control steps at most (default: the task's max_steps, 400).")
@click.option("--full-episode", is_flag=True,
              help="Run all --steps even after the episode succeeds (default: stop once success has settled, "
                   "as the evaluator does).")
@click.option("--camera", default="perspective", show_default=True,
              help="perspective, overhead_cam or wrist_cam.")
@click.option("--size", type=SIZE, metavar="HxW", default="240x320", show_default=True, help="Frame size HxW.")
@click.option("--image-size", type=SIZE, metavar="HxW", default=None, help="Policy camera images HxW (default: the task's, 240x320).")
@click.option("--ghosts", type=int, default=8, show_default=True, help="Earlier predictions drawn as fading ghosts.")
@click.option("--interactive", is_flag=True, help="Then browse the episode in MuJoCo's viewer (needs a display).")
@policy_options
def whiskers_command(policy: str, seed: int, out: Path, samples: int, every: int, steps: int | None,
                     full_episode: bool, camera: str, size: tuple[int, int],
                     image_size: tuple[int, int] | None, ghosts: int, interactive: bool, device: str | None,
                     camera_map: str | None, policy_option: dict[str, Any]) -> None:
    """Draw a policy's predicted action chunks as whiskers on an SO-101 episode.

    Each prediction is forward-simulated in a copy of the simulation: green = current prediction (all
    samples), blue = earlier predictions fading with age, orange = the path the gripper took. Writes
    frames/step_<t>.png, whiskers.mp4, metrics.json and summary.png to --out.
    """
    try:
        require_extras("salt-vla whiskers", ["sim"])
    except MissingExtraError as exc:
        raise click.ClickException(str(exc)) from None
    from dataclasses import replace

    from salt_vla_so101.compatibility import PolicyMismatchError

    from salt_vla.registry import PluginError
    from salt_vla_whiskers.config import WhiskerConfig
    from salt_vla_whiskers.viewer import browse, display_problem
    from salt_vla_whiskers.visualizer import WhiskerVisualizer

    if interactive:
        problem = display_problem()
        if problem:
            click.echo(f"--interactive needs a display: {problem}. Writing the files only; open whiskers.mp4 "
                       "or the frames instead, or run on a machine with a screen.", err=True)
            interactive = False
    kwargs = policy_kwargs(device, camera_map, policy_option)
    try:
        config = WhiskerConfig(samples=samples, every=every, steps=steps, full_episode=full_episode,
                               camera=camera, size=size, ghosts=ghosts)
        if image_size is not None:
            config = replace(config, task=replace(config.task, image_size=image_size))
        with explained_policy_options(kwargs):
            result = WhiskerVisualizer(config).visualize(policy, seed=seed, out_dir=out, policy_kwargs=kwargs)
    except (PolicyMismatchError, PluginError, MissingExtraError, ValueError, TypeError) as exc:
        raise error_block(exc) from exc
    files = result["files"]
    summary = result["summary"]
    click.echo(f"{len(files['frames'])} frames, {Path(files['video']).name if files['video'] else 'no video'}, "
               f"metrics.json and summary.png written to {out}")
    click.echo("mean spread " + _mean(summary, "spread_m", 1000, "mm")
               + ", jerk " + _mean(summary, "jerk_m2_s6", 1, "m²/s⁶")
               + ", deviation " + _mean(summary, "deviation_m", 1000, "mm")
               + ", chunk end to block " + _mean(summary, "end_to_block_m", 100, "cm"))
    episode = result["episode"]
    if episode.success_step is not None:
        click.echo(f"Success settled at step {episode.success_step}: the episode stopped there, as an "
                   f"evaluation's does (--full-episode runs all {episode.config.episode_steps} steps).")
    if result["error"]:
        click.echo(f"The episode stopped early: {result['error']}", err=True)
    if interactive:
        browse(result["episode"])
