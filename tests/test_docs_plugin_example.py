"""docs/plugins.md's plugin example is complete: its two modules run as printed and follow the shape rules."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import torch

import salt_vla
from salt_vla.plugins import registered

DOCS = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()


def test_the_documented_plugin_registers_a_working_masker(monkeypatch):
    blocks = re.findall(r"```python\n# salt_vla_checkerboard/(\S+?)\.py[^\n]*\n(.+?)```", DOCS, re.S)
    modules = dict(blocks)
    assert set(modules) == {"__init__", "masker"}
    assert "import torch" not in modules["__init__"]  # the light module the guidelines ask for
    assert "from salt_vla.masking import MaskBatch, MaskPair" in modules["masker"]

    package = types.ModuleType("salt_vla_checkerboard")
    package.__path__ = []
    masker = types.ModuleType("salt_vla_checkerboard.masker")
    monkeypatch.setitem(sys.modules, "salt_vla_checkerboard", package)
    monkeypatch.setitem(sys.modules, "salt_vla_checkerboard.masker", masker)
    exec(compile(modules["masker"], "docs/plugins.md:masker.py", "exec"), masker.__dict__)
    exec(compile(modules["__init__"], "docs/plugins.md:__init__.py", "exec"), package.__dict__)

    with registered(package, "checkerboard_docs"):
        masks = salt_vla.create_masker("checkerboard")(3, (2, 4, 4), torch.Generator().manual_seed(0))
    masks.validate()  # int64 [B, K], in range, context and target disjoint
    (pair,) = masks.pairs
    assert pair.context.shape == (3, 16) and pair.target.shape == (3, 16) and pair.context.dtype == torch.int64
    assert masks.grid == (2, 4, 4)
