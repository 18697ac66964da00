"""Shared by the sim_*.py benchmarks: import paths and MuJoCo's headless backend.

On a machine where salt-vla is not pip-installed (the GPU machine), the repository root and plugins/ are
put on ``sys.path`` so ``salt_vla`` and ``salt_vla_so101`` import from the checkout; nothing there needs
the plugin registry. ``MUJOCO_GL`` defaults to ``egl`` (set it before MuJoCo is imported).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "plugins", ROOT, Path(__file__).resolve().parent):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"96x128,240x320"`` -> ``[(96, 128), (240, 320)]`` (height x width)."""
    sizes = []
    for item in text.split(","):
        height, width = (int(v) for v in item.lower().split("x"))
        sizes.append((height, width))
    return sizes
