"""Plugin loading: entry points of group ``salt_vla``, loaded lazily and once.

``import salt_vla`` imports no plugin. The first call that needs the registry (``create_*``,
``list_plugins``, the CLI) loads the core's built-ins and then every installed entry point of group
``salt_vla``, first-party plugins included. A plugin that fails to import or to register is reported
with a :class:`PluginLoadWarning` and in :func:`plugin_statuses`, and skipped: it never breaks
``import salt_vla`` or the other plugins.

The environment variable ``SALT_VLA_PLUGINS`` restricts autoloading:

- unset: load every installed plugin;
- empty, ``0`` or ``none``: load none (only the core's built-ins);
- ``masks,videomae``: load only these entry-point names.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from salt_vla import hookspecs
from salt_vla.registry import HOOKS, Entry, Registry

ENTRY_POINT_GROUP = "salt_vla"
ENV_VAR = "SALT_VLA_PLUGINS"
CORE_PROVIDER = "salt_vla"
_CORE_MODULE = "salt_vla.builtins"


class PluginLoadWarning(UserWarning):
    """A plugin could not be imported or could not register its entries."""


@dataclass
class PluginStatus:
    """What happened to one plugin.

    Attributes:
        name: entry-point name (``"salt_vla"`` for the core's built-ins).
        package: distribution and version that ships it, e.g. ``"salt-vla 0.1.0"``.
        module: the module the entry point names.
        ok: whether it loaded and registered without error.
        error: ``"ExceptionType: message"`` when it did not.
        warnings: non-fatal problems (e.g. an implementation of a hook that does not exist).
        missing: optional modules the plugin declares (its module's ``REQUIRES``) that are not installed,
            module -> install line; its entries then fail when used, saying what to install.
    """

    name: str
    package: str
    module: str
    ok: bool = True
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.manager: pluggy.PluginManager | None = None
        self.registry: Registry | None = None
        self.statuses: dict[str, PluginStatus] = {}


_state = _State()


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("salt_vla")
    manager.add_hookspecs(hookspecs)
    return manager


def _package_of(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _selected_entry_points() -> list[EntryPoint]:
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    wanted = os.environ.get(ENV_VAR)
    if wanted is None:
        return found
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    if not names or names in (["0"], ["none"]):
        return []
    problem = selection_problem()
    if problem:
        warnings.warn(problem, PluginLoadWarning, stacklevel=3)
    return [ep for ep in found if ep.name in names]


def selection_problem() -> str | None:
    """What is wrong with ``SALT_VLA_PLUGINS`` (names no installed plugin has, with the closest names), or ``None``."""
    import difflib

    wanted = os.environ.get(ENV_VAR)
    names = [n.strip() for n in (wanted or "").split(",") if n.strip()]
    if not names or names in (["0"], ["none"]):
        return None
    installed = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    unknown = sorted(set(names) - set(installed))
    if not unknown:
        return None
    described = []
    for name in unknown:
        close = difflib.get_close_matches(name, installed, n=1)
        described.append(f"{name} (did you mean {close[0]!r}?)" if close else name)
    return (f"{ENV_VAR}={wanted} names plugins that are not installed: {', '.join(described)}; they are not loaded. "
            f"Installed: {', '.join(installed) or 'none'}.")


def _fail(status: PluginStatus, exc: BaseException, stage: str) -> None:
    status.ok = False
    status.error = _describe(exc)
    warnings.warn(
        f"salt-vla plugin {status.name!r} ({status.package}) failed to {stage} and is skipped: {status.error}",
        PluginLoadWarning,
        stacklevel=4,
    )


def _register_module(manager: pluggy.PluginManager, module: Any, status: PluginStatus) -> None:
    try:
        manager.register(module, name=status.name)
    except Exception as exc:  # a malformed hookimpl (wrong argument names) lands here
        _fail(status, exc, "register")


def _check_requires(module: Any, status: PluginStatus) -> None:
    """Record which of the modules a plugin declares in ``REQUIRES`` (module -> install line) are missing."""
    from salt_vla.extras import missing

    required = getattr(module, "REQUIRES", None)
    if required is None:
        return
    if not isinstance(required, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in required.items()):
        status.warnings.append(f"REQUIRES should map module names to install lines; got {required!r}")
        return
    status.missing = missing(required)


def _load(manager: pluggy.PluginManager) -> dict[str, PluginStatus]:
    statuses: dict[str, PluginStatus] = {}
    version = import_module("salt_vla").__version__
    core = PluginStatus(CORE_PROVIDER, f"salt-vla {version}", _CORE_MODULE)
    statuses[CORE_PROVIDER] = core
    _register_module(manager, import_module(_CORE_MODULE), core)
    for ep in _selected_entry_points():
        status = PluginStatus(ep.name, _package_of(ep), ep.value)
        statuses[ep.name] = status
        if manager.get_plugin(ep.name) is not None:
            continue
        try:
            module = ep.load()
        except (Exception, SystemExit) as exc:
            _fail(status, exc, "import")
            continue
        _check_requires(module, status)
        _register_module(manager, module, status)
    return statuses


def _unknown_hooks(manager: pluggy.PluginManager) -> dict[str, list[str]]:
    """Hook implementations whose name matches no hookspec, by plugin name."""
    import difflib

    spec_names = [n for n in dir(hookspecs) if n.startswith("register_")]
    found: dict[str, list[str]] = {}
    for hook_name, caller in vars(manager.hook).items():
        if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
            continue
        close = difflib.get_close_matches(hook_name, spec_names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        for impl in caller.get_hookimpls():
            found.setdefault(impl.plugin_name, []).append(f"implements unknown hook {hook_name!r}{hint}")
    return found


def _build_registry(manager: pluggy.PluginManager, statuses: dict[str, PluginStatus]) -> Registry:
    registry = Registry()
    for plugin_name, problems in _unknown_hooks(manager).items():
        status = statuses.get(plugin_name)
        if status is not None:
            status.warnings.extend(problems)
        warnings.warn(f"salt-vla plugin {plugin_name!r}: " + "; ".join(problems), PluginLoadWarning, stacklevel=3)
    for kind, hook in HOOKS.items():
        caller = getattr(manager.hook, hook)
        for impl in caller.get_hookimpls():
            provider = impl.plugin_name
            status = statuses.setdefault(provider, PluginStatus(provider, "unknown", provider))
            if not status.ok:
                continue

            def register(name: str, factory: Any, *, description: str = "", _kind: str = kind,
                         _provider: str = provider, _package: str = status.package) -> None:
                if not callable(factory):
                    raise TypeError(f"register({name!r}, ...) needs a callable factory; got {factory!r}")
                registry.add(Entry(_kind, name, factory, _provider, _package, description))

            try:
                impl.function(**{arg: register for arg in impl.argnames})
            except Exception as exc:
                _fail(status, exc, f"register its {kind}s")
    registry.failed_providers = {s.name: s.error or "" for s in statuses.values() if not s.ok}
    return registry


def plugin_manager() -> pluggy.PluginManager:
    """The pluggy manager with the core's built-ins and the selected plugins loaded (once)."""
    with _state.lock:
        if _state.manager is None:
            manager = _new_manager()
            _state.statuses = _load(manager)
            _state.manager = manager
        return _state.manager


def registry() -> Registry:
    """The registry built from every loaded plugin's hooks (built once, rebuilt after (un)registering)."""
    with _state.lock:
        manager = plugin_manager()
        if _state.registry is None:
            _state.registry = _build_registry(manager, _state.statuses)
        return _state.registry


def plugin_statuses() -> list[PluginStatus]:
    """Status of every plugin the loader saw, the core first."""
    registry()
    return sorted(_state.statuses.values(), key=lambda s: (s.name != CORE_PROVIDER, s.name))


def register(plugin: Any, name: str) -> None:
    """Register a plugin object (a module or an instance with ``@hookimpl`` methods) by hand.

    Useful in notebooks and tests; the registry is rebuilt on next use. Undo with :func:`unregister`.
    """
    with _state.lock:
        manager = plugin_manager()
        status = PluginStatus(name, "registered by hand", getattr(plugin, "__name__", type(plugin).__name__))
        _state.statuses[name] = status
        _register_module(manager, plugin, status)
        _state.registry = None


def unregister(name: str) -> None:
    """Remove a plugin registered with :func:`register` (or any loaded plugin) by name."""
    with _state.lock:
        manager = plugin_manager()
        if manager.get_plugin(name) is not None:
            manager.unregister(name=name)
        _state.statuses.pop(name, None)
        _state.registry = None


@contextmanager
def registered(plugin: Any, name: str) -> Iterator[None]:
    """``with registered(MyPlugin(), "mine"): ...`` registers for the block and always unregisters."""
    register(plugin, name)
    try:
        yield
    finally:
        unregister(name)


def reload() -> None:
    """Forget everything loaded and load again on next use (after installing a plugin, or in tests)."""
    with _state.lock:
        _state.manager = None
        _state.registry = None
        _state.statuses = {}
