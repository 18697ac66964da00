"""Which LeRobot is installed, and importing it with an error that says how to install it."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from salt_vla.extras import LeRobotMissingError, install_line

INSTALL_HINT = install_line("lerobot")


class LeRobotVersionError(RuntimeError):
    """The installed LeRobot (or its transformers) cannot run the requested policy family."""


def require_lerobot() -> Any:
    """Import and return the ``lerobot`` package, or raise :class:`LeRobotMissingError` with the fix."""
    try:
        return importlib.import_module("lerobot")
    except ImportError as error:
        raise LeRobotMissingError(
            f"This needs LeRobot (the `lerobot` extra), which is not installed ({error}). Install it with: {INSTALL_HINT}"
        ) from error


@cache
def lerobot_version() -> tuple[int, int, int]:
    """The installed LeRobot version as ``(major, minor, patch)`` (pre-release tags dropped)."""
    raw = str(getattr(require_lerobot(), "__version__", "0.0.0"))
    parts = []
    for piece in raw.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit()) or "0"
        parts.append(int(digits))
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def version_text() -> str:
    """The installed LeRobot version, e.g. ``"0.4.4"``."""
    return ".".join(map(str, lerobot_version()))
