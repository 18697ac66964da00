"""Pre/post-processors of ``act_salt``: ACT's (batching, device, normalisation), found by LeRobot's naming convention."""

from __future__ import annotations

from typing import Any

from lerobot.policies.act.processor_act import make_act_pre_post_processors

from salt_vla_lerobot.act_salt.configuration_act_salt import ACTSaltConfig


def make_act_salt_pre_post_processors(config: ACTSaltConfig, dataset_stats: dict[str, Any] | None = None,
                                      **_: Any) -> tuple[Any, Any]:
    """ACT's processors for ``config``; images pass unnormalised (``VISUAL`` is ``IDENTITY``)."""
    return make_act_pre_post_processors(config, dataset_stats=dataset_stats)
