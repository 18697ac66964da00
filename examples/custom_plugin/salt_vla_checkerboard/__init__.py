"""A third-party salt-vla plugin: the checkerboard masker.

This module is what salt-vla imports to list plugins, so it stays light: no torch here. The masker lives in
:mod:`salt_vla_checkerboard.masker` and is imported by the factory, when the name is used.
"""

from __future__ import annotations

from typing import Any

import salt_vla


def _checkerboard(**kwargs: Any) -> Any:
    from salt_vla_checkerboard.masker import CheckerboardMasker

    return CheckerboardMasker(**kwargs)


@salt_vla.hookimpl
def register_maskers(register):
    register("checkerboard", _checkerboard, description="example plugin: checkerboard context/target")
