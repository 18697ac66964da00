"""The so101 recorder and the lerobot policies raise one LeRobotMissingError, and neither compat import pulls LeRobot in."""

from __future__ import annotations

import json
import subprocess
import sys


def test_both_compat_modules_share_one_missing_lerobot_error_and_import_no_lerobot():
    code = (
        "import json, sys\n"
        "from salt_vla.extras import LeRobotMissingError, MissingExtraError\n"
        "from salt_vla_so101 import lerobot_compat\n"
        "from salt_vla_lerobot import compat\n"
        "print(json.dumps({'same': lerobot_compat.LeRobotMissingError is compat.LeRobotMissingError is LeRobotMissingError,\n"
        "                  'extra': issubclass(LeRobotMissingError, MissingExtraError),\n"
        "                  'lerobot': sorted(m for m in sys.modules if m == 'lerobot' or m.startswith('lerobot.'))}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"same": True, "extra": True, "lerobot": []}
