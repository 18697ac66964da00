"""The core's own registrations, made through the same hooks a plugin uses.

This module is registered first by :mod:`salt_vla.plugins` (as provider ``"salt_vla"``); it is
never an entry point, so ``SALT_VLA_PLUGINS=none`` still leaves the core usable. Factories import
their modules lazily so listing the registry stays cheap.
"""

from __future__ import annotations

from salt_vla.hookspecs import Register, hookimpl


@hookimpl
def register_schedules(register: Register) -> None:
    from salt_vla import schedules

    register("warmup_cosine", schedules.WarmupCosine, description="linear warmup, cosine decay to a floor")
    register("cosine", schedules.CosineRamp, description="half-cosine ramp start -> end (weight decay)")
    register("linear", schedules.Linear, description="straight line start -> end")
    register("constant", schedules.Constant, description="one value at every step")
