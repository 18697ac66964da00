"""Maskers: V-JEPA 3D multi-block masks and VideoMAE tube masks.

Registered names:

- ``multiblock``: one multi-block mask set; keyword arguments are those of :class:`BlockSpec`.
- ``multiblock_vjepa``: V-JEPA's pair of mask sets, 8 blocks at spatial scale 0.15 and 2 blocks at
  0.7, aspect ratio 0.75-1.5, full temporal extent.
- ``random_tube``: VideoMAE tube masking at ``ratio`` (same spatial mask in every frame).
"""

from __future__ import annotations

from typing import Any

import salt_vla


def _multiblock(**kwargs: Any) -> Any:
    from salt_vla_masks.multiblock import BlockSpec, MultiBlockMasker

    grid = kwargs.pop("grid", None)
    specs = kwargs.pop("specs", None)
    if specs is not None:
        if kwargs:
            raise TypeError(f"multiblock: pass either specs=[...] or one spec's fields, not both (got {sorted(kwargs)}).")
        return MultiBlockMasker([s if isinstance(s, BlockSpec) else BlockSpec(**s) for s in specs], grid=grid)
    return MultiBlockMasker([BlockSpec(**kwargs)], grid=grid)


def _multiblock_vjepa(**kwargs: Any) -> Any:
    from salt_vla_masks.multiblock import VJEPA_SPECS, MultiBlockMasker

    return MultiBlockMasker(VJEPA_SPECS, **kwargs)


def _random_tube(**kwargs: Any) -> Any:
    from salt_vla_masks.tube import RandomTubeMasker

    return RandomTubeMasker(**kwargs)


@salt_vla.hookimpl
def register_maskers(register: Any) -> None:
    register("multiblock", _multiblock, description="V-JEPA 3D multi-block mask, one set (BlockSpec fields)")
    register("multiblock_vjepa", _multiblock_vjepa, description="V-JEPA preset: 8x0.15 + 2x0.7 blocks, full time")
    register("random_tube", _random_tube, description="VideoMAE tube masking at `ratio`")
