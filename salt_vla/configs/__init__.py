"""Example training configs shipped with salt-vla (YAML, validated by the test suite).

``salt-vla train ssv2_vitb_videomae data.args.root=...`` reads one by name, like a file; ``salt-vla train
--print-config ssv2_vitb_videomae`` shows it resolved with every default. Copy one (:func:`config_path` gives
its location) to make it yours.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def config_names() -> list[str]:
    """Names of the shipped configs (file names without ``.yaml``), sorted."""
    return sorted(p.name[: -len(".yaml")] for p in resources.files(__name__).iterdir() if p.name.endswith(".yaml"))


def config_path(name: str) -> Path:
    """The file of shipped config ``name`` (``"ssv2_vitb_videomae"``; a trailing ``.yaml`` is accepted)."""
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    if stem not in config_names():
        raise KeyError(f"No shipped config {name!r}; shipped: {', '.join(config_names())}.")
    return Path(str(resources.files(__name__) / f"{stem}.yaml"))
