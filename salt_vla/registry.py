"""What plugins registered: entries by kind and name, and the errors for bad names.

The registry is filled once, by :func:`salt_vla.plugins.registry`, from every plugin's
``register_<kind>s`` hook. Users reach it through ``salt_vla.create_<kind>`` and
``salt_vla.list_plugins``.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HOOKS: dict[str, str] = {
    "encoder": "register_encoders",
    "teacher": "register_teachers",
    "masker": "register_maskers",
    "schedule": "register_schedules",
    "loss": "register_losses",
    "dataset": "register_datasets",
    "policy": "register_policies",
    "evaluator": "register_evaluators",
    "visualizer": "register_visualizers",
}
"""Every kind of thing a plugin can register, and the hook that registers it."""

KINDS: tuple[str, ...] = tuple(HOOKS)


class PluginError(Exception):
    """Base class of the plugin and registry errors."""


class UnknownNameError(PluginError, LookupError):
    """No entry of that kind has that name."""


class DuplicateNameError(PluginError):
    """Two plugins registered the same kind and name."""


@dataclass(frozen=True)
class Entry:
    """One registered thing.

    Attributes:
        kind: one of :data:`KINDS`.
        name: unique within its kind.
        factory: builds the object; called with the user's keyword arguments.
        provider: the plugin that registered it (entry-point name, or ``"salt_vla"`` for the core).
        package: the distribution that ships the provider, with its version (``"salt-vla 0.1.0"``).
        description: one line for listings.
    """

    kind: str
    name: str
    factory: Callable[..., Any] = field(repr=False, compare=False)
    provider: str
    package: str
    description: str = ""


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown kind {kind!r}.{hint} Kinds: {', '.join(KINDS)}.")
    return kind


class Registry:
    """Entries by ``(kind, name)``; names registered twice are kept as conflicts, not silently replaced."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}
        self._conflicts: dict[tuple[str, str], list[Entry]] = {}
        self.failed_providers: dict[str, str] = {}
        """Plugins that failed to load or register: provider -> error message."""

    def add(self, entry: Entry) -> None:
        check_kind(entry.kind)
        if not entry.name or not isinstance(entry.name, str):
            raise ValueError(f"{entry.provider} registered a {entry.kind} with an empty or non-string name: {entry.name!r}")
        key = (entry.kind, entry.name)
        if key in self._conflicts:
            self._conflicts[key].append(entry)
        elif key in self._entries:
            self._conflicts[key] = [self._entries.pop(key), entry]
        else:
            self._entries[key] = entry

    def get(self, kind: str, name: str) -> Entry:
        """The entry for ``kind``/``name``; raises :class:`UnknownNameError` or :class:`DuplicateNameError`."""
        check_kind(kind)
        key = (kind, name)
        if key in self._conflicts:
            providers = " and ".join(f"plugin {e.provider!r} ({e.package})" for e in self._conflicts[key])
            raise DuplicateNameError(
                f"{kind} {name!r} is registered by {providers}. Uninstall one of them, or restrict the plugins "
                f"loaded with SALT_VLA_PLUGINS=<comma-separated entry-point names>."
            )
        if key not in self._entries:
            names = self.names(kind)
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            available = ", ".join(names) if names else "none"
            failed = ""
            if self.failed_providers:
                failed = " Plugins that failed to load: " + "; ".join(
                    f"{p} ({err})" for p, err in sorted(self.failed_providers.items())
                ) + "."
            raise UnknownNameError(f"No {kind} named {name!r}.{hint} Available: {available}.{failed}")
        return self._entries[key]

    def name_problem(self, kind: str, name: str, where: str) -> str | None:
        """``None`` when ``name`` is a registered ``kind``, else one line for a list of configuration problems."""
        if name in self.names(kind):
            return None
        close = difflib.get_close_matches(name, self.names(kind), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{where}: no {kind} named {name!r}{hint} (registered: {', '.join(self.names(kind)) or 'none'})"

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        """Sorted names of ``kind`` matching the fnmatch ``pattern`` (conflicting names included)."""
        check_kind(kind)
        keys = set(self._entries) | set(self._conflicts)
        return sorted(n for k, n in keys if k == kind and fnmatch.fnmatchcase(n, pattern))

    def entries(self, kind: str | None = None, pattern: str = "*") -> list[Entry]:
        """Entries (conflicting ones included, each provider once) sorted by kind order, then name."""
        if kind is not None:
            check_kind(kind)
        found = list(self._entries.values()) + [e for group in self._conflicts.values() for e in group]
        found = [
            e for e in found if (kind is None or e.kind == kind) and fnmatch.fnmatchcase(e.name, pattern)
        ]
        return sorted(found, key=lambda e: (KINDS.index(e.kind), e.name, e.provider))

    def conflict(self, kind: str, name: str) -> list[Entry]:
        """The entries that clash on ``kind``/``name`` (empty when there is no clash)."""
        return list(self._conflicts.get((kind, name), []))
