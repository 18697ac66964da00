"""LeRobot policy type ``act_salt``: ACT with any salt-vla encoder as its vision backbone.

Importing this package registers ``ACTSaltConfig`` with LeRobot's config registry (LeRobot then finds
``ACTSaltPolicy`` and the processors by its naming convention). On LeRobot's command line::

    lerobot-train --policy.type=act_salt --policy.discover_packages_path=salt_vla_lerobot.act_salt \\
        --policy.encoder=hf-hub:org/salt-student --dataset.root=data/so101 ...

Needs LeRobot (the ``lerobot`` extra); see :mod:`salt_vla_lerobot.act_salt.modeling_act_salt`.
"""

from __future__ import annotations

from salt_vla_lerobot.act_salt.configuration_act_salt import ACTSaltConfig
from salt_vla_lerobot.act_salt.modeling_act_salt import ACTSaltPolicy

__all__ = ["ACTSaltConfig", "ACTSaltPolicy"]
