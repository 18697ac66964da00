"""Options of every command that builds a policy (``eval-policy``, ``record``, ``whiskers``).

They carry the names of ``salt_vla.create_policy``'s options, so a command line reads like the Python call:
``--device cuda --camera-map front=overhead_cam,wrist=wrist_cam --policy-option n_action_steps=10`` is
``create_policy(spec, device="cuda", camera_map="front=overhead_cam,wrist=wrist_cam", n_action_steps=10)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from salt_vla.config import ConfigError, parse_override


def _parse_policy_option(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for text in values:
        try:
            keys, value = parse_override(text)
        except ConfigError:
            keys, value = [], None
        key = ".".join(keys).replace("-", "_")
        if not key.isidentifier():
            raise click.BadParameter(
                f"expected KEY=VALUE such as n_action_steps=10 or temporal_ensemble=0.01; got {text!r}")
        options[key] = None if value == "" else value
    return options


def _check_camera_map(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    bad = [p for p in parts if "=" not in p or not p.partition("=")[0].strip()]
    if not parts or bad:
        raise click.BadParameter(f"expected POLICY_CAM=TASK_CAM[,...] such as front=overhead_cam,wrist=wrist_cam "
                                 f"(an empty TASK_CAM leaves the camera out); got {value!r}")
    return value


_options = [
    click.option("--device", default=None, metavar="DEVICE",
                 help="Where the policy runs: cpu, cuda, cuda:1, ... (default: the policy's own, cpu for checkpoints)."),
    click.option("--camera-map", default=None, callback=_check_camera_map, metavar="POLICY_CAM=TASK_CAM,...",
                 help="Feed the policy's cameras from these task cameras (overhead_cam, wrist_cam), as the "
                      "load-time camera check suggests."),
    click.option("--policy-option", "policy_option", multiple=True, callback=_parse_policy_option,
                 metavar="KEY=VALUE",
                 help="Any other create_policy option, value parsed as YAML: n_action_steps=10, "
                      "temporal_ensemble=0.01, gripper_range=[0,80]. Repeatable."),
]


def policy_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--device``, ``--camera-map`` and ``--policy-option`` to a click command."""
    for option in reversed(_options):
        command = option(command)
    return command


def policy_kwargs(device: str | None, camera_map: str | None, policy_option: dict[str, Any]) -> dict[str, Any]:
    """The ``create_policy`` keyword arguments the three options give (only those the user set)."""
    kwargs = dict(policy_option)
    for key, value in (("device", device), ("camera_map", camera_map)):
        if value is None:
            continue
        if key in kwargs:
            raise click.UsageError(f"{key} is given twice: as --{key.replace('_', '-')} and as "
                                   f"--policy-option {key}=...; keep one.")
        kwargs[key] = value
    return kwargs


@contextmanager
def explained_policy_options(kwargs: dict[str, Any]) -> Iterator[None]:
    """Turn a factory's ``TypeError`` about one of ``kwargs`` into a usage error that names the option."""
    try:
        yield
    except TypeError as exc:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if match is None or match.group(1) not in kwargs:
            raise
        name = match.group(1)
        flag = {"device": "--device", "camera_map": "--camera-map"}.get(name, f"--policy-option {name}=...")
        raise click.UsageError(
            f"The policy does not take the option {name!r} (given as {flag}; {exc}). --device, --camera-map and "
            "the checkpoint options (n_action_steps, temporal_ensemble, ...) apply to checkpoint policies such as "
            "act:<dir or hub id>; docs/policies.md lists each factory's options.") from None
