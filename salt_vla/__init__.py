"""salt-vla: SALT video pretraining and honest robot-policy evaluation.

Compose components by name::

    import salt_vla

    masker = salt_vla.create_masker("multiblock_vjepa")
    lr = salt_vla.create_schedule("warmup_cosine", peak=3e-4, total_steps=10_000, min_value=3e-5)
    [e.name for e in salt_vla.list_plugins(kind="masker")]

Plugins add names through entry points of group ``salt_vla`` (see docs/plugins.md); a plugin
author imports only :data:`hookimpl` from here.
"""

from __future__ import annotations

__version__ = "0.1.0"

from salt_vla.create import (
    create,
    create_dataset,
    create_encoder,
    create_evaluator,
    create_loss,
    create_masker,
    create_policy,
    create_schedule,
    create_teacher,
    create_visualizer,
    list_names,
    list_plugins,
)
from salt_vla.hookspecs import Register, hookimpl
from salt_vla.registry import KINDS, DuplicateNameError, PluginError, UnknownNameError

__all__ = [
    "KINDS",
    "DuplicateNameError",
    "PluginError",
    "Register",
    "UnknownNameError",
    "__version__",
    "create",
    "create_dataset",
    "create_encoder",
    "create_evaluator",
    "create_loss",
    "create_masker",
    "create_policy",
    "create_schedule",
    "create_teacher",
    "create_visualizer",
    "hookimpl",
    "list_names",
    "list_plugins",
]
