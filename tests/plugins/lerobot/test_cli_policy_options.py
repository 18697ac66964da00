"""`eval-policy`, `whiskers` and `record` take create_policy's options: --device, --camera-map, --policy-option.

The checkpoint names its cameras `front` and `hand`, which the SO-101 task does not have, so nothing runs
unless the mapping reaches the policy; with --workers 2 the report's `config.policy` is what the worker
processes ran (device, camera map, chunking).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from .conftest import IMAGE_SIZE, NO_LEROBOT

pytestmark = [pytest.mark.sim, pytest.mark.lerobot]
pytest.importorskip("mujoco", reason="the sim extra is not installed (pip install 'salt-vla[sim]')")
pytest.importorskip("lerobot", reason=NO_LEROBOT)

SIZE = "x".join(map(str, IMAGE_SIZE))
CAMERA_MAP = "front=overhead_cam,hand=wrist_cam"
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.fixture(scope="module")
def renamed_act(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from salt_vla_lerobot.builders import build_act

    return build_act(tmp_path_factory.mktemp("act_renamed") / "ckpt", cameras=("front", "hand"),
                     image_size=IMAGE_SIZE, chunk_size=8, n_action_steps=4)


def test_without_the_mapping_the_error_gives_the_flag_to_add(renamed_act, tmp_path):
    from salt_vla_so101.cli import eval_policy_command

    result = CliRunner().invoke(eval_policy_command, ["--policy", f"act:{renamed_act}", "--episodes", "1",
                                                      "--image-size", SIZE, "--out", str(tmp_path)])
    assert result.exit_code == 2  # bad input: the checkpoint's cameras
    assert f"--camera-map {CAMERA_MAP}" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_device_mapping_and_options_reach_the_worker_processes(renamed_act, tmp_path, device):
    out = tmp_path / "eval"
    result = subprocess.run(
        [sys.executable, "-m", "salt_vla", "eval-policy", "--policy", f"act:{renamed_act}", "--episodes", "2",
         "--workers", "2", "--max-steps", "3", "--image-size", SIZE, "--out", str(out), "--device", device,
         "--camera-map", CAMERA_MAP, "--policy-option", "n_action_steps=2"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "SALT_VLA_PLUGINS": "so101,lerobot"},
    )
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "report.json").read_text())["config"]
    assert config["workers"] == 2
    ran = config["policy"]  # reported by the worker processes
    assert ran["device"] == device and ran["n_action_steps"] == 2 and ran["chunk_size"] == 8
    assert ran["camera_map"] == {"front": "overhead_cam", "hand": "wrist_cam"}
    assert config["policy_options"] == {"device": device, "camera_map": CAMERA_MAP, "n_action_steps": 2}
    episodes = json.loads((out / "report.json").read_text())["episodes"]
    assert [e["outcome"] for e in episodes if e["outcome"] == "policy_error"] == [] and len(episodes) == 2


@pytest.mark.slow
def test_whiskers_and_record_take_the_same_options(renamed_act, tmp_path):
    from salt_vla_so101.cli import record_command
    from salt_vla_whiskers.cli import whiskers_command

    from salt_vla import lerobot_compat

    options = ["--camera-map", CAMERA_MAP, "--device", "cpu", "--policy-option", "n_action_steps=2"]
    result = CliRunner().invoke(whiskers_command, ["--policy", f"act:{renamed_act}", "--steps", "3", "--size", "32x32",
                                                   "--image-size", SIZE, "--out", str(tmp_path / "w"), *options])
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "w" / "metrics.json").read_text())["steps"]) == 3

    out = tmp_path / "data"
    result = CliRunner().invoke(record_command, ["--policy", f"act:{renamed_act}", "--episodes", "1", "--max-steps", "3",
                                                 "--image-size", SIZE, "--out", str(out), "--task", "push the block",
                                                 *options])
    assert result.exit_code == 0, result.output
    dataset = lerobot_compat.load_dataset(out)
    assert dataset.num_frames == 3 and dataset[0]["task"] == "push the block"


def test_options_a_policy_does_not_take_are_named(tmp_path):
    from salt_vla_so101.cli import eval_policy_command

    result = CliRunner().invoke(eval_policy_command, ["--policy", "hold", "--episodes", "1", "--max-steps", "2",
                                                      "--out", str(tmp_path), "--device", "cuda"])
    assert result.exit_code == 2
    assert "does not take the option 'device'" in result.output and "--device" in result.output
    result = CliRunner().invoke(eval_policy_command, ["--policy", "hold", "--out", str(tmp_path),
                                                      "--policy-option", "n_action_steps"])
    assert result.exit_code == 2 and "expected KEY=VALUE" in result.output
    result = CliRunner().invoke(eval_policy_command, ["--policy", "hold", "--out", str(tmp_path),
                                                      "--camera-map", "overhead_cam"])
    assert result.exit_code == 2 and "expected POLICY_CAM=TASK_CAM" in result.output
    result = CliRunner().invoke(eval_policy_command, ["--policy", "hold", "--out", str(tmp_path), "--device", "cpu",
                                                      "--policy-option", "device=cuda"])
    assert result.exit_code == 2 and "device is given twice" in result.output
