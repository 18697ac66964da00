"""Test-suite setup: only first-party plugins autoload, nothing reaches a network, rendering is headless."""

from __future__ import annotations

import os

FIRST_PARTY_PLUGINS = "masks,videomae,so101,lerobot,whiskers"

# Third-party plugins installed in the developer's environment must not change test results.
os.environ["SALT_VLA_PLUGINS"] = FIRST_PARTY_PLUGINS
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("WANDB_MODE", "disabled")
