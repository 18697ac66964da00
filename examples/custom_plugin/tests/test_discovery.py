"""Once this package is installed, salt-vla discovers its masker through the entry point."""

import os
import subprocess
import sys

import torch

import salt_vla


def test_checkerboard_is_discovered_and_works():
    entries = salt_vla.list_plugins(kind="masker", pattern="checker*")
    assert [(e.name, e.provider) for e in entries] == [("checkerboard", "checkerboard")]
    masks = salt_vla.create_masker("checkerboard")(2, (2, 4, 4), torch.Generator().manual_seed(0))
    masks.validate()
    assert masks.pairs[0].context.shape == (2, 16) and masks.pairs[0].target.shape == (2, 16)


def test_listing_plugins_does_not_import_torch():
    code = ("import sys, salt_vla; salt_vla.list_plugins(kind='masker'); "
            "assert 'torch' not in sys.modules, 'the plugin module imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "SALT_VLA_PLUGINS": "checkerboard"})
