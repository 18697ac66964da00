"""With the core install only (`pip install salt-vla`), the commands that need an extra say which one.

How the environment is made, and why it is honest: the wheel is built from this checkout and installed
(non-editable, ``--no-deps``) into a fresh virtual environment made without system site packages. Installing
the core dependencies for real would download torch (gigabytes), so a ``.pth`` file exposes the test
environment's site-packages to it instead (a ``.pth`` line adds a directory; the editable install of
salt-vla there is not activated, so the wheel's copy is the one imported). The optional dependencies of the
extras are then made absent with a meta-path hook in ``sitecustomize`` that raises ``ModuleNotFoundError``
for them, exactly what a missing package raises, both for ``import`` and for ``importlib.util.find_spec``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_SOURCES = ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in", "README.md", "LICENSE", "salt_vla", "plugins")
"""What the wheel is built from (``[tool.setuptools.packages.find]`` looks in ``.`` and ``plugins``; the readme)."""
SIM = ("mujoco", "gymnasium")
LEROBOT = ("lerobot",)

SITECUSTOMIZE = '''
import os
import sys

_HIDDEN = {name for name in os.environ.get("SALT_VLA_TEST_HIDDEN", "").split(",") if name}


class _Absent:
    """Makes the named top-level packages look uninstalled."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Absent())
'''


def _not_built_from(directory: str, names: list[str]) -> set[str]:
    return {name for name in names if name == "__pycache__" or name.endswith((".pyc", ".egg-info"))
            or (Path(directory) / name / "pyvenv.cfg").is_file()}  # a virtual environment, whatever its name


def copy_build_sources(root: Path, destination: Path) -> Path:
    """Copy only :data:`BUILD_SOURCES` of the checkout ``root`` to ``destination`` (an allow-list, so a virtual
    environment, a dataset or run outputs next to the sources, under any name, are never copied; it needs no
    ``.git``, so it works on a tarball as on a clone)."""
    destination.mkdir(parents=True)
    for name in BUILD_SOURCES:
        path = root / name
        if path.is_dir():
            shutil.copytree(path, destination / name, ignore=_not_built_from, symlinks=True)
        elif path.is_file():
            shutil.copy2(path, destination / name)
    return destination


def test_only_the_build_sources_are_copied(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    for relative in ("pyproject.toml", "README.md", "salt_vla/__init__.py", "salt_vla/configs/run.yaml",
                     "plugins/salt_vla_x/__init__.py", "env/pyvenv.cfg", "env/lib/torch/huge.so", ".venv-test/pyvenv.cfg",
                     "runs/teacher/model.safetensors", "tests/test_x.py", "salt_vla/__pycache__/x.pyc",
                     "plugins/.venv2/pyvenv.cfg", "plugins/.venv2/lib/big.so"):
        (checkout / relative).parent.mkdir(parents=True, exist_ok=True)
        (checkout / relative).write_text("x")
    copied = copy_build_sources(checkout, tmp_path / "src")
    assert sorted(p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file()) == [
        "README.md", "plugins/salt_vla_x/__init__.py", "pyproject.toml", "salt_vla/__init__.py",
        "salt_vla/configs/run.yaml"]


@pytest.fixture(scope="module")
def core_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("core_install")
    source = copy_build_sources(ROOT, work / "src")
    # Offline with the setuptools at hand when there is one (Python < 3.12 venvs have it); else pip's isolated build.
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *offline, "-q", "-w", str(work / "dist"),
                    str(source)], check=True, timeout=600)
    (wheel,) = (work / "dist").glob("salt_vla-*.whl")
    env = work / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = env / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, timeout=600)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (site / "zz_core_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env


def salt_vla(env: Path, hidden: tuple[str, ...], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SALT_VLA_PLUGINS")}
    environ["SALT_VLA_TEST_HIDDEN"] = ",".join(hidden)
    return subprocess.run([str(env / "bin" / "salt-vla"), *args], capture_output=True, text=True, timeout=300,
                          env=environ, cwd=cwd)


@pytest.mark.slow
def test_the_wheel_is_what_runs(core_env, tmp_path):
    result = subprocess.run([str(core_env / "bin" / "python"), "-c",
                             "import salt_vla, salt_vla_so101; print(salt_vla.__file__); print(salt_vla_so101.__file__)"],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""}, check=True, cwd=tmp_path)
    assert all(line.startswith(str(core_env)) for line in result.stdout.split()), result.stdout
    hidden = salt_vla(core_env, SIM + LEROBOT, "--version", cwd=tmp_path)
    assert hidden.returncode == 0 and "salt-vla, version" in hidden.stdout
    shipped = salt_vla(core_env, SIM + LEROBOT, "train", "--print-config", "ssv2_vitb_videomae", cwd=tmp_path)
    assert shipped.returncode == 0 and "name: vit_base_patch16_t2" in shipped.stdout  # configs are package data


@pytest.mark.slow
def test_plugins_show_what_each_still_needs(core_env, tmp_path):
    result = salt_vla(core_env, SIM + LEROBOT, "plugins", "--kind", "policy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines()[1:]}
    assert 'needs mujoco, gymnasium (pip install "salt-vla[sim]")' in rows["scripted"]
    assert 'needs lerobot (pip install "salt-vla[lerobot]")' in rows["act"]
    assert " ok" not in result.stdout
    installed = salt_vla(core_env, (), "plugins", "--kind", "policy", cwd=tmp_path)
    assert "needs" not in installed.stdout and installed.stdout.count(" ok") == 8  # act, act_salt, hold, pi0, pi05, random, scripted, smolvla


@pytest.mark.slow
def test_commands_name_the_extra_instead_of_crashing(core_env, tmp_path):
    runs = {
        "eval-policy": ["eval-policy", "--policy", "scripted", "--episodes", "1", "--out", "eval"],
        "record": ["record", "--episodes", "1", "--out", "data"],
        "whiskers": ["whiskers", "--policy", "scripted", "--out", "w"],
    }
    for command, args in runs.items():
        result = salt_vla(core_env, SIM + LEROBOT, *args, cwd=tmp_path)
        assert result.returncode == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr and "ModuleNotFoundError" not in result.stderr
        if command == "record":  # recording writes a LeRobotDataset: both extras, named at once
            assert ("salt-vla record needs the sim and lerobot extras: mujoco, gymnasium, lerobot are not "
                    'installed. Install them with: pip install "salt-vla[sim,lerobot]"') in result.stderr
        else:
            assert f"salt-vla {command} needs the sim extra: mujoco, gymnasium are not installed" in \
                result.stderr
            assert 'pip install "salt-vla[sim]"' in result.stderr
    assert not any(tmp_path.iterdir())  # nothing half-written


@pytest.mark.slow
def test_with_the_sim_extra_only_lerobot_is_named(core_env, tmp_path):
    record = salt_vla(core_env, LEROBOT, "record", "--episodes", "1", "--out", "data", cwd=tmp_path)
    assert record.returncode == 1 and "Traceback" not in record.stderr
    assert ("salt-vla record needs the sim and lerobot extras: lerobot is not installed. Install them with: "
            'pip install "salt-vla[sim,lerobot]"') in record.stderr
    act = salt_vla(core_env, LEROBOT, "eval-policy", "--policy", "act:org/act_checkpoint", "--episodes", "1",
                   "--out", "eval", cwd=tmp_path)
    assert act.returncode == 1 and "Traceback" not in act.stderr, act.stderr
    assert 'pip install "salt-vla[lerobot]"' in act.stderr
