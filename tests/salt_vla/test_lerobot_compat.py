"""One LeRobot compatibility layer (salt_vla.lerobot_compat), which neither plugin's import nor a scripted evaluation
loads LeRobot through."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPTED_EVALUATION_WITHOUT_LEROBOT = """
import json, sys
import salt_vla
names = salt_vla.list_names("policy")                      # loads every plugin's registrations
import salt_vla_lerobot, salt_vla_so101.recorder, salt_vla_so101.evaluator
from salt_vla import lerobot_compat
from salt_vla.extras import LeRobotMissingError, MissingExtraError
report = salt_vla.create_evaluator("so101_pick_place", max_steps=5, render=False).evaluate(
    "scripted", 1, seed=0, progress=False)
print(json.dumps({
    "policies": sorted(n for n in names if n in ("act", "act_salt", "scripted")),
    "episodes": len(report.episodes),
    "one_error": lerobot_compat.LeRobotMissingError is LeRobotMissingError and issubclass(LeRobotMissingError,
                                                                                           MissingExtraError),
    "lerobot_modules": sorted(m for m in sys.modules if m == "lerobot" or m.startswith("lerobot.")),
}))
"""


def test_plugins_and_a_scripted_evaluation_never_import_lerobot():
    pytest.importorskip("mujoco")
    out = subprocess.run([sys.executable, "-c", SCRIPTED_EVALUATION_WITHOUT_LEROBOT], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "policies": ["act", "act_salt", "scripted"], "episodes": 1, "one_error": True, "lerobot_modules": []}


MISSING_LEROBOT = """
import json, sys
sys.modules["lerobot"] = None                                # as if the extra were not installed
from salt_vla import lerobot_compat
from salt_vla.extras import LeRobotMissingError
messages = {}
for name, call in {
    "record": lambda: lerobot_compat.create_dataset("local/x", "/nonexistent", 30, {}, robot_type="so101"),
    "load_policy": lambda: lerobot_compat.get_policy_class("act"),
    "train": lambda: lerobot_compat.make_policy_config("act"),
    "columns": lambda: lerobot_compat.enable_column_queries(),
}.items():
    try:
        call()
    except LeRobotMissingError as error:
        messages[name] = str(error)
print(json.dumps(messages))
"""


def test_every_entry_point_of_the_layer_names_the_lerobot_extra_when_lerobot_is_missing():
    out = subprocess.run([sys.executable, "-c", MISSING_LEROBOT], capture_output=True, text=True, check=True)
    messages = json.loads(out.stdout)
    assert sorted(messages) == ["columns", "load_policy", "record", "train"]
    for message in messages.values():
        assert 'pip install "salt-vla[lerobot]"' in message, message


def test_act_salt_is_declared_by_the_lerobot_plugin_not_by_the_core():
    code = ("import json\nfrom salt_vla import lerobot_compat\nbefore = dict(lerobot_compat.OWN_FAMILIES)\n"
            "import salt_vla_lerobot\nprint(json.dumps([before, lerobot_compat.OWN_FAMILIES]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [{}, {"act_salt": "salt_vla_lerobot.act_salt"}]
