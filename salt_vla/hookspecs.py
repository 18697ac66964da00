"""The hooks a salt-vla plugin can implement.

Every hook receives a ``register`` callable and calls it once per thing it provides::

    import salt_vla

    @salt_vla.hookimpl
    def register_maskers(register):
        register("my_masker", MyMasker, description="half the tokens, chosen at random")

``register(name, factory, *, description="")``: ``factory(**kwargs)`` builds the object when a user
calls ``salt_vla.create_<kind>(name, **kwargs)``. Keep plugin modules light: import heavy libraries
inside the factory, not at module level. Hooks are called once, the first time the registry is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pluggy

hookspec = pluggy.HookspecMarker("salt_vla")
hookimpl = pluggy.HookimplMarker("salt_vla")

class Register(Protocol):
    """What every ``register_<kind>s`` hook receives: call it once per thing the plugin provides.

    ``name``: unique within the kind (a clash is reported naming both plugins); ``factory(**kwargs)`` builds the
    object when a user calls ``salt_vla.create_<kind>(name, **kwargs)`` or names it in a config; ``description``:
    one line for ``salt-vla plugins``.
    """

    def __call__(self, name: str, factory: Callable[..., Any], *, description: str = "") -> None: ...


@hookspec
def register_encoders(register: Register) -> None:
    """Register video encoders (students), built as ``create_encoder(name, **kwargs)``."""


@hookspec
def register_teachers(register: Register) -> None:
    """Register frozen teachers, built as ``create_teacher(name, **kwargs)``."""


@hookspec
def register_maskers(register: Register) -> None:
    """Register maskers, built as ``create_masker(name, **kwargs)``."""


@hookspec
def register_schedules(register: Register) -> None:
    """Register schedules (learning rate, weight decay), built as ``create_schedule(name, **kwargs)``."""


@hookspec
def register_losses(register: Register) -> None:
    """Register latent-prediction objectives, built as ``create_loss(name, **kwargs)``."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register video datasets, built as ``create_dataset(name, **kwargs)``."""


@hookspec
def register_policies(register: Register) -> None:
    """Register policy families. The name is a SPEC prefix: ``create_policy("act:org/repo")`` calls the
    factory registered as ``"act"`` with ``source="org/repo"`` (``source=None`` for a bare name)."""


@hookspec
def register_evaluators(register: Register) -> None:
    """Register policy evaluators (tasks), built as ``create_evaluator(name, **kwargs)``."""


@hookspec
def register_visualizers(register: Register) -> None:
    """Register visualizers, built as ``create_visualizer(name, **kwargs)``."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``salt-vla`` command line; ``cli`` is the top-level ``click.Group``."""
