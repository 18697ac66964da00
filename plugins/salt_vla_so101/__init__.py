"""salt-vla plugin ``so101``: the SO-101 pick-and-place task in MuJoCo.

Registers:

- policies ``scripted`` (the IK-based expert), ``random`` (random joint targets) and ``hold`` (keeps the
  start pose): ``salt_vla.create_policy("scripted")``;
- evaluator ``so101_pick_place``: ``salt_vla.create_evaluator("so101_pick_place").evaluate(policy, ...)``;
- commands ``salt-vla record`` and ``salt-vla eval-policy``.

Heavy modules (MuJoCo, LeRobot) are imported inside the factories. Importing any submodule that renders
picks the headless EGL backend when no display is available and ``MUJOCO_GL`` is unset.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import salt_vla
from salt_vla.extras import requires

REQUIRES = requires("sim")
"""Optional modules this plugin needs (``salt-vla plugins`` shows the missing ones and how to install them)."""

if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
    # MuJoCo reads MUJOCO_GL once, when it is first imported: set the headless default before that.
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


def _scripted(source: str | None = None, **kwargs: Any) -> Any:
    from salt_vla_so101.policies import no_source

    no_source("scripted", source)
    from salt_vla_so101.expert import ScriptedExpert

    return ScriptedExpert(**kwargs)


def _random(source: str | None = None, **kwargs: Any) -> Any:
    from salt_vla_so101.policies import RandomPolicy, no_source

    no_source("random", source)
    return RandomPolicy(**kwargs)


def _hold(source: str | None = None, **kwargs: Any) -> Any:
    from salt_vla_so101.policies import HoldPolicy, no_source

    no_source("hold", source)
    return HoldPolicy(**kwargs)


def _evaluator(**kwargs: Any) -> Any:
    from salt_vla_so101.evaluator import SO101Evaluator

    return SO101Evaluator(**kwargs)


@salt_vla.hookimpl
def register_policies(register: Any) -> None:
    register("scripted", _scripted, description="SO-101 IK pick-and-place expert (privileged: reads the sim state)")
    register("random", _random, description="random joint targets within the SO-101 joint ranges")
    register("hold", _hold, description="keeps the start pose (does nothing)")


@salt_vla.hookimpl
def register_evaluators(register: Any) -> None:
    register("so101_pick_place", _evaluator, description="SO-101 block-to-bowl pick-and-place in MuJoCo")


@salt_vla.hookimpl
def register_commands(cli: Any) -> None:
    from salt_vla_so101.cli import eval_policy_command, record_command

    cli.add_command(record_command)
    cli.add_command(eval_policy_command)
