"""The plugin system: discovery through entry points, isolation of broken plugins, name errors, autoload."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pluggy
import pytest
import torch

import salt_vla
from salt_vla import plugins
from salt_vla.masking import MaskBatch, MaskPair

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env_extra: dict[str, str] | None = None, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    env.pop("SALT_VLA_PLUGINS", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "salt_vla", *args], capture_output=True, text=True, env=env, timeout=300)


def make_fake_distribution(root: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """Write a minimal installed distribution (dist-info + modules) under ``root``; no pip needed."""
    info = root / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[salt_vla]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root


@pytest.fixture
def fresh_plugins():
    """Reload plugins before and after the test so sys.path changes take effect and do not leak."""
    plugins.reload()
    yield
    plugins.reload()


class _Masker:
    def __call__(self, batch_size, grid, generator):
        index = torch.arange(2).repeat(batch_size, 1)
        return MaskBatch((MaskPair(index, index + 2),), grid)


def _masker_plugin(name: str):
    class Plugin:
        @salt_vla.hookimpl
        def register_maskers(self, register):
            register(name, _Masker)

    return Plugin()


def test_first_party_plugins_are_discovered_through_entry_points(fresh_plugins):
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="salt_vla")}
    assert {"masks", "videomae", "so101", "lerobot", "whiskers"} <= names
    maskers = {e.name: e for e in salt_vla.list_plugins(kind="masker")}
    assert {"multiblock", "multiblock_vjepa", "random_tube"} <= set(maskers)
    assert maskers["multiblock"].provider == "masks"
    assert maskers["multiblock"].package.startswith("salt-vla ")
    statuses = {s.name: s for s in plugins.plugin_statuses()}
    assert statuses["masks"].ok and statuses["salt_vla"].ok


def test_fnmatch_filters(fresh_plugins):
    assert [e.name for e in salt_vla.list_plugins("masker", "multiblock*")] == ["multiblock", "multiblock_vjepa"]
    assert salt_vla.list_names("schedule", "*cos*") == ["cosine", "warmup_cosine"]
    with pytest.raises(ValueError, match="Unknown kind 'maskr'.*Did you mean 'masker'"):
        salt_vla.list_plugins("maskr")


def test_unknown_name_lists_available_and_closest_match(fresh_plugins):
    with pytest.raises(salt_vla.UnknownNameError) as info:
        salt_vla.create_masker("multiblok")
    message = str(info.value)
    assert "Did you mean 'multiblock'?" in message
    assert "multiblock_vjepa" in message and "random_tube" in message


def test_duplicate_name_names_both_providers(fresh_plugins):
    with plugins.registered(_masker_plugin("twin"), "first_plugin"), plugins.registered(
        _masker_plugin("twin"), "second_plugin"
    ):
        with pytest.raises(salt_vla.DuplicateNameError, match="first_plugin.*second_plugin"):
            salt_vla.create_masker("twin")
        assert salt_vla.create_masker("multiblock") is not None  # the clash is local to that name
    with pytest.raises(salt_vla.UnknownNameError):  # unregistered in `finally`
        salt_vla.create_masker("twin")


def test_registered_plugin_builds_and_satisfies_protocol(fresh_plugins):
    with plugins.registered(_masker_plugin("pairs"), "pairs_plugin"):
        masker = salt_vla.create_masker("pairs")
        assert isinstance(masker, salt_vla.interfaces.Masker)
        masker(3, (1, 2, 2), torch.Generator()).validate()


def test_broken_plugin_is_isolated_in_process(tmp_path, monkeypatch, fresh_plugins):
    make_fake_distribution(
        tmp_path, "broken-plugin", {"broken": "salt_vla_broken_mod"},
        {"salt_vla_broken_mod": "raise ImportError('needs a library that is not installed: libfoo')"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SALT_VLA_PLUGINS", "masks,broken")
    plugins.reload()
    with pytest.warns(plugins.PluginLoadWarning, match="broken.*libfoo"):
        entries = salt_vla.list_plugins("masker")
    assert "multiblock" in {e.name for e in entries}  # other plugins keep working
    status = {s.name: s for s in plugins.plugin_statuses()}["broken"]
    assert not status.ok and "ImportError: needs a library" in status.error
    with pytest.raises(salt_vla.UnknownNameError, match="failed to load: broken"):
        salt_vla.create_masker("nothing_here")


def test_plugin_whose_register_hook_raises_is_reported(fresh_plugins):
    class Faulty:
        @salt_vla.hookimpl
        def register_maskers(self, register):
            register("half_registered", _Masker)
            raise RuntimeError("config file missing")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with plugins.registered(Faulty(), "faulty"):
            assert "multiblock" in salt_vla.list_names("masker")
            status = {s.name: s for s in plugins.plugin_statuses()}["faulty"]
            assert not status.ok and "config file missing" in status.error
    assert any("faulty" in str(w.message) for w in caught)


def test_misspelled_hook_is_caught_by_check_pending(fresh_plugins):
    class Misspelled:
        @salt_vla.hookimpl
        def register_masker(self, register):  # singular: not a hook
            register("never", _Masker)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with plugins.registered(Misspelled(), "misspelled"):
            with pytest.raises(pluggy.PluginValidationError, match="register_masker"):
                plugins.plugin_manager().check_pending()
            salt_vla.list_names("masker")
    assert any("did you mean 'register_maskers'" in str(w.message) for w in caught)


def test_every_installed_first_party_hook_is_a_real_hook(fresh_plugins):
    plugins.plugin_manager().check_pending()


def test_import_is_lazy():
    code = (
        "import sys, salt_vla; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('salt_vla_', 'torch', 'timm')))))"
    )
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize(
    ("setting", "expected_maskers"),
    [("none", []), ("", []), ("masks", ["multiblock", "multiblock_vjepa", "random_tube"])],
)
def test_autoload_switch(setting, expected_maskers):
    result = run_cli("plugins", "--json", env_extra={"SALT_VLA_PLUGINS": setting})
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["name"] for r in rows if r["kind"] == "masker") == expected_maskers
    assert {r["name"] for r in rows if r["kind"] == "schedule"} >= {"warmup_cosine"}  # core is always there


def test_broken_plugin_shown_as_failed_by_cli(tmp_path):
    make_fake_distribution(
        tmp_path, "broken-plugin", {"broken": "salt_vla_broken_mod"},
        {"salt_vla_broken_mod": "import a_module_that_does_not_exist"},
    )
    result = run_cli("plugins", "--json", pythonpath=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    failed = [r for r in rows if r["provider"] == "broken"]
    assert len(failed) == 1 and failed[0]["status"].startswith("failed: ModuleNotFoundError")
    assert any(r["name"] == "multiblock" and r["status"] == "ok" for r in rows)
    table = run_cli("plugins", pythonpath=tmp_path).stdout
    assert "failed: ModuleNotFoundError" in table and "broken-plugin 0.0.1" in table


def test_installed_example_plugin_appears_in_cli(tmp_path):
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--target", str(target), str(REPO / "examples" / "custom_plugin")]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    rows = json.loads(run_cli("plugins", "--kind", "masker", "--json", pythonpath=target).stdout)
    assert {"name": "checkerboard", "provider": "checkerboard", "package": "salt-vla-checkerboard 0.1.0"}.items() <= next(
        r for r in rows if r["name"] == "checkerboard"
    ).items()
    # The plugin's own discovery test passes against the installed copy.
    import os

    env = dict(os.environ, PYTHONPATH=str(target))
    env.pop("SALT_VLA_PLUGINS")
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "examples/custom_plugin/tests")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert test.returncode == 0, test.stdout + test.stderr


def test_plugin_with_missing_optional_modules_shows_what_it_needs(tmp_path):
    make_fake_distribution(
        tmp_path, "needy-plugin", {"needy": "salt_vla_needy_mod", "odd": "salt_vla_odd_mod"},
        {"salt_vla_needy_mod": (
            "import salt_vla\n"
            "REQUIRES = {'json': 'stdlib', 'a_module_that_does_not_exist': 'pip install the-thing'}\n"
            "@salt_vla.hookimpl\n"
            "def register_losses(register):\n"
            "    register('needy_l1', lambda: None)\n"),
         "salt_vla_odd_mod": (
            "import salt_vla\n"
            "REQUIRES = ['not', 'a', 'mapping']\n"
            "@salt_vla.hookimpl\n"
            "def register_losses(register):\n"
            "    register('odd_l1', lambda: None)\n")},
    )
    result = run_cli("plugins", "--json", "--kind", "loss", pythonpath=tmp_path,
                     env_extra={"SALT_VLA_PLUGINS": "needy,odd"})
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["needy_l1"]["status"] == "needs a_module_that_does_not_exist (pip install the-thing)"
    assert rows["needy_l1"]["needs"] == "a_module_that_does_not_exist (pip install the-thing)"
    assert rows["odd_l1"]["status"].startswith("ok (REQUIRES should map module names to install lines")
    assert rows["l1"]["status"] == "ok" and rows["l1"]["needs"] == ""
