"""salt-vla plugin ``whiskers``: see every predicted action chunk as a path in the SO-101 scene, and measure it.

At each (or every N-th) control step the policy's predicted chunk is forward-simulated in a copy of the
MuJoCo state with the task's own action mapping and physics; the end-effector paths are drawn into the
rendered scene (green: current prediction, blue: fading earlier ones, orange: the executed path) and
measured (spread across samples, jerk, deviation from the executed path, distance to block and bowl).

Registers:

- visualizer ``whiskers``: ``salt_vla.create_visualizer("whiskers", samples=4).visualize(policy, seed=0)``;
- command ``salt-vla whiskers --policy SPEC --seed S --out DIR``.

Python API: :func:`salt_vla_whiskers.visualizer.whisker_frames` (frames as arrays, for notebooks),
:func:`salt_vla_whiskers.episode.run_whiskers`, :class:`salt_vla_whiskers.simulate.ChunkSimulator`.
Importing this package (like ``salt_vla_so101``) picks headless EGL rendering when there is no display.
"""

from __future__ import annotations

from typing import Any

import salt_vla_so101  # noqa: F401  (sets the headless MUJOCO_GL default before MuJoCo is imported)

import salt_vla
from salt_vla.extras import requires

REQUIRES = requires("sim")
"""Optional modules this plugin needs (``salt-vla plugins`` shows the missing ones and how to install them)."""


def _whiskers(**kwargs: Any) -> Any:
    from salt_vla_whiskers.visualizer import WhiskerVisualizer

    return WhiskerVisualizer(**kwargs)


@salt_vla.hookimpl
def register_visualizers(register: Any) -> None:
    register("whiskers", _whiskers, description="predicted action chunks drawn as paths in the SO-101 scene, with metrics")


@salt_vla.hookimpl
def register_commands(cli: Any) -> None:
    from salt_vla_whiskers.cli import whiskers_command

    cli.add_command(whiskers_command)
