"""Make the checkout's plugins discoverable without installing it: write ``salt_vla``'s entry points into SITE.

The device machine gets the checkout as a folder (no pip install; no index to resolve dependencies from), with
the checkout and ``plugins/`` on ``PYTHONPATH``. Plugins are found through entry points, which Python reads from
``*.dist-info`` folders on ``sys.path``; this writes the one an install would, from ``pyproject.toml``:

    python3 benchmarks/device/dist_info.py /tmp/site
"""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def write_dist_info(site: Path) -> Path:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    folder = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    groups = project.get("entry-points", {})
    text = "".join(f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items()) + "\n"
                   for group, points in groups.items())
    scripts = project.get("scripts", {})
    if scripts:
        text += "[console_scripts]\n" + "".join(f"{name} = {target}\n" for name, target in scripts.items())
    (folder / "entry_points.txt").write_text(text)
    return folder


if __name__ == "__main__":
    print(write_dist_info(Path(sys.argv[1])))
